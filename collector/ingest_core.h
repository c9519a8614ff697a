// IngestCore: the protocol-independent half of the collector. It authenticates
// ingest keys, validates batches and hands them to the store's Writer. The
// gRPC stream, the unary Push (and later OTLP) are thin adapters over it.
//
// Thread-safe.
#ifndef FIELDLOG_COLLECTOR_INGEST_CORE_H_
#define FIELDLOG_COLLECTOR_INGEST_CORE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "fieldlog/v1/ingest.pb.h"
#include "store/catalog.h"
#include "store/store.h"

namespace fieldlog::collector {

class IngestCore {
 public:
  explicit IngestCore(store::Store* store);

  // The app an ingest key belongs to. UNAUTHENTICATED without a known key,
  // PERMISSION_DENIED for a credential that may not ingest.
  absl::StatusOr<store::Credential> AuthenticateIngest(
      const std::optional<std::string>& secret) const;

  // The device's highest stored seq (0 for a new device).
  absl::StatusOr<uint64_t> Watermark(const store::Credential& app, const v1::Device& device);

  // Validates and stores a batch of `device` (already validated with
  // ValidateDevice). When `update_device` is set and `device` carries
  // attributes, they replace the device's stored attributes. Returns the Ack once the batch is
  // durable; INVALID_ARGUMENT for a malformed batch; UNAVAILABLE when the store
  // failed (nothing of the batch was stored).
  absl::StatusOr<v1::Ack> StoreBatch(const store::Credential& app, const v1::Device& device,
                                     bool update_device, const v1::Batch& batch);

 private:
  store::Store* const store_;
};

}  // namespace fieldlog::collector

#endif  // FIELDLOG_COLLECTOR_INGEST_CORE_H_
