#include "collector/ingest_core.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/batch_decoder.h"
#include "collector/validation.h"
#include "common/time_util.h"
#include "store/block.h"
#include "store/writer.h"

namespace fieldlog::collector {

IngestCore::IngestCore(store::Store* store, const IngestOptions& options, IngestMetrics* metrics)
    : store_(store), options_(options), metrics_(metrics) {}

absl::StatusOr<store::Credential> IngestCore::AuthenticateIngest(
    const std::optional<std::string>& secret) const {
  if (!secret) {
    return absl::UnauthenticatedError(
        "no ingest key: send it as 'authorization: Bearer <key>' or 'x-fieldlog-key'");
  }
  std::optional<store::Credential> credential = store_->catalog().Authenticate(*secret);
  if (!credential) return absl::UnauthenticatedError("unknown or revoked ingest key");
  if (credential->kind != store::CREDENTIAL_KIND_INGEST) {
    return absl::PermissionDeniedError(
        "this credential cannot ingest (it is a read or admin token); use the app's ingest key");
  }
  return *credential;
}

absl::StatusOr<uint64_t> IngestCore::Watermark(const store::Credential& app,
                                               const v1::Device& device) {
  return store_->writer().Watermark(app.app_id, device.device_id());
}

absl::Duration IngestCore::Admit(const store::Credential& app, absl::string_view device_id,
                                 size_t lines) {
  std::optional<store::AppRecord> record = store_->catalog().FindApp(app.app_id);
  RateLimits limits;
  limits.burst_seconds = options_.burst_seconds;
  limits.app_lines_per_second = options_.default_app_lines_per_second;
  limits.device_lines_per_second = options_.default_device_lines_per_second;
  if (record && record->app_lines_per_second() > 0) {
    limits.app_lines_per_second = record->app_lines_per_second();
  }
  if (record && record->device_lines_per_second() > 0) {
    limits.device_lines_per_second = record->device_lines_per_second();
  }
  const absl::Duration wait =
      limiter_.Admit(app.app_id, device_id, static_cast<double>(lines), limits, absl::Now());
  if (wait > absl::ZeroDuration()) metrics_->throttled->Add();
  return wait;
}

absl::StatusOr<StoredBatch> IngestCore::StoreBatch(const store::Credential& app,
                                                   const v1::Device& device, bool update_device,
                                                   const WireBatch& batch) {
  if (absl::Status s = ValidateBatch(batch); !s.ok()) return s;
  const int64_t now = NowUnixMicros();
  std::optional<int64_t> offset_estimate;
  if (batch.sent_at_unix_micros > 0) offset_estimate = now - batch.sent_at_unix_micros;

  StoredBatch stored;
  v1::Ack& ack = stored.ack;
  ack.set_batch_id(batch.batch_id);

  // Reused by the thread's batches: made afresh, its vectors were allocated
  // and freed for every batch (DecodeBatch clears them and keeps capacity).
  thread_local DecodedBatch decoded;
  DecodeBatch(batch, now, offset_estimate, &decoded);
  for (size_t i = 0; i < decoded.rejected.size(); ++i) {
    *ack.add_rejected() = std::move(decoded.rejected[i]);
    metrics_->Rejected(decoded.rejected_codes[i])->Add();
  }

  store::AppendRequest request;
  request.app = app.app_id;
  request.device_id = device.device_id();
  request.device_attributes =
      update_device && device.attributes_size() > 0 ? &device.attributes() : nullptr;
  request.receive_time_us = now;
  request.clock_offset_estimate_us = offset_estimate;
  request.entries = decoded.entries;
  absl::StatusOr<store::AppendResult> result = store_->writer().Append(request);
  if (!result.ok()) return result.status();
  metrics_->batches->Add();
  metrics_->lines_stored->Add(result->stored);
  metrics_->lines_duplicate->Add(result->duplicates);
  ack.set_accepted(result->stored);
  ack.set_duplicates(result->duplicates);
  ack.set_watermark(result->watermark);
  ack.set_clock_offset_micros(result->clock_offset_us);
  stored.sequence = result->sequence;
  return stored;
}

absl::StatusOr<StoredBatch> IngestCore::StoreBatch(const store::Credential& app,
                                                   const v1::Device& device, bool update_device,
                                                   const v1::Batch& batch) {
  thread_local WireBatch wire;
  BatchFromProto(batch, &wire);
  return StoreBatch(app, device, update_device, wire);
}

}  // namespace fieldlog::collector
