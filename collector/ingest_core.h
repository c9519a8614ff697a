// IngestCore: the protocol-independent half of the collector. It authenticates
// ingest keys, applies rate limits, validates batches and hands them to the
// store's Writer. The gRPC stream and the unary Push (and later OTLP) are thin
// adapters over it.
//
// Thread-safe.
#ifndef FIELDLOG_COLLECTOR_INGEST_CORE_H_
#define FIELDLOG_COLLECTOR_INGEST_CORE_H_

#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "collector/ingest_metrics.h"
#include "collector/rate_limiter.h"
#include "collector/wire_batch.h"
#include "fieldlog/v1/ingest.pb.h"
#include "store/catalog.h"
#include "store/store.h"

namespace fieldlog::collector {

struct IngestOptions {
  // Rate limits for apps whose settings leave them at 0 ("server default"),
  // in lines per second; 0 means unlimited.
  double default_app_lines_per_second = 0;
  double default_device_lines_per_second = 5000;
  // How many seconds of its rate a quiet device may send at once (a device
  // back from days offline sends its spool in a burst).
  double burst_seconds = 60;
};

// A batch in the WAL, and what it takes to acknowledge it.
struct StoredBatch {
  v1::Ack ack;
  // Pass to WhenDurable before sending the ack.
  uint64_t sequence = 0;
};

class IngestCore {
 public:
  IngestCore(store::Store* store, const IngestOptions& options, IngestMetrics* metrics);

  IngestMetrics& metrics() { return *metrics_; }

  // The app an ingest key belongs to. UNAUTHENTICATED without a known key,
  // PERMISSION_DENIED for a credential that may not ingest.
  absl::StatusOr<store::Credential> AuthenticateIngest(
      const std::optional<std::string>& secret) const;

  // The device's highest stored seq (0 for a new device).
  absl::StatusOr<uint64_t> Watermark(const store::Credential& app, const v1::Device& device);

  // Zero when `lines` more lines from the device are within the app's rate
  // limits (and counts them); otherwise how long the client should wait.
  absl::Duration Admit(const store::Credential& app, absl::string_view device_id, size_t lines);

  // Validates and stores a batch of `device` (already validated with
  // ValidateDevice). When `update_device` is set and `device` carries
  // attributes, they replace the device's stored attributes. The batch is in
  // the WAL when this returns; acknowledge it once WhenDurable says so.
  // INVALID_ARGUMENT for a malformed batch; UNAVAILABLE when the store failed
  // (nothing of the batch was stored).
  // The batch's views must hold until this returns.
  absl::StatusOr<StoredBatch> StoreBatch(const store::Credential& app, const v1::Device& device,
                                         bool update_device, const WireBatch& batch);
  // The same for a parsed message (the unary Push, OTLP).
  absl::StatusOr<StoredBatch> StoreBatch(const store::Credential& app, const v1::Device& device,
                                         bool update_device, const v1::Batch& batch);

  // Runs `done` once the write at `sequence` is durable under the store's
  // sync policy (maybe at once, on this thread).
  void WhenDurable(uint64_t sequence, absl::AnyInvocable<void(absl::Status)> done) {
    store_->WhenDurable(sequence, std::move(done));
  }

 private:
  store::Store* const store_;
  const IngestOptions options_;
  IngestMetrics* const metrics_;
  RateLimiter limiter_;
};

}  // namespace fieldlog::collector

#endif  // FIELDLOG_COLLECTOR_INGEST_CORE_H_
