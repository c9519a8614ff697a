// OtlpService: opentelemetry.proto.collector.logs.v1.LogsService/Export on the
// collector's gRPC port, so any OTLP/gRPC log exporter (an OpenTelemetry SDK,
// the OpenTelemetry Collector) ships logs to fieldlog with no agent linked.
// An adapter over IngestCore, like IngestService.
//
// What a caller gets, as the OTLP specification prescribes:
//  - Credential: the app's ingest key, as `authorization: Bearer <key>` (what
//    OTEL_EXPORTER_OTLP_HEADERS sets) or `x-fieldlog-key: <key>`. None or an
//    unknown key: UNAUTHENTICATED; a read or admin token: PERMISSION_DENIED.
//    Neither is retryable.
//  - A request that is not a valid ExportLogsServiceRequest protobuf:
//    INVALID_ARGUMENT, not retryable.
//  - Over the app's or a device's rate limit: RESOURCE_EXHAUSTED carrying a
//    google.rpc.RetryInfo (which makes it retryable in OTLP) and the
//    `grpc-retry-pushback-ms` trailer; nothing of the export is stored.
//  - The store failing: UNAVAILABLE (retryable); a retry stores only what
//    the failed attempt did not (see below).
//  - Otherwise OK, once every line stored is durable (the store's sync
//    policy). Records that cannot be stored are rejected alone: the response's
//    partial_success carries how many and why (the first few reasons), the
//    others are stored, and the client must not retry. A response without
//    partial_success means every record is stored.
//
// Records map to fieldlog devices and lines as collector/otlp_mapping.h says;
// collector/otlp_dedupe.h explains how an export sent twice is stored once and
// why seqs are numbered by the collector. Parsing, mapping and rate limiting
// run on gRPC's thread; reading for retries and storing run on the WorkerPool,
// under a lock per device (striped), so two exports for one device never
// number or check lines at the same time.
#ifndef FIELDLOG_COLLECTOR_OTLP_SERVICE_H_
#define FIELDLOG_COLLECTOR_OTLP_SERVICE_H_

#include <array>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "collector/ingest_core.h"
#include "collector/otlp_mapping.h"
#include "common/worker_pool.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "store/store.h"

namespace fieldlog::collector {

class OtlpService final
    : public opentelemetry::proto::collector::logs::v1::LogsService::WithRawCallbackMethod_Export<
          opentelemetry::proto::collector::logs::v1::LogsService::Service> {
 public:
  // How many rejection reasons the partial success message quotes.
  static constexpr size_t kReasonsQuoted = 5;

  OtlpService(IngestCore* core, store::Store* store, WorkerPool* workers)
      : core_(core), store_(store), workers_(workers) {}

  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;

 private:
  struct Outcome {
    // The store's sequence to wait for before answering.
    uint64_t sequence = 0;
    std::vector<otlp::RejectedRecord> rejected;
  };

  // Stores one device's records: checks for lines stored by an earlier try,
  // numbers the new ones and writes them. Errors are the store's.
  absl::Status StoreDevice(const store::Credential& app, otlp::DeviceRecords& group,
                           Outcome* outcome);

  absl::Mutex& DeviceLock(store::AppId app, absl::string_view device_id);

  IngestCore* const core_;
  store::Store* const store_;
  WorkerPool* const workers_;
  std::array<absl::Mutex, 64> device_locks_;
};

}  // namespace fieldlog::collector

#endif  // FIELDLOG_COLLECTOR_OTLP_SERVICE_H_
