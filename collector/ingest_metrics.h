// The collector's metrics (rendered on the server's /metrics endpoint).
#ifndef FIELDLOG_COLLECTOR_INGEST_METRICS_H_
#define FIELDLOG_COLLECTOR_INGEST_METRICS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "common/metrics.h"

namespace fieldlog::collector {

class IngestMetrics {
 public:
  explicit IngestMetrics(MetricsRegistry* registry)
      : registry_(registry),
        lines_stored(registry->GetCounter("fieldlog_ingest_lines_total",
                                          "Log lines stored (each line once)")),
        lines_duplicate(registry->GetCounter("fieldlog_ingest_duplicate_lines_total",
                                             "Lines received again and not stored again")),
        bytes_received(registry->GetCounter("fieldlog_ingest_request_bytes_total",
                                            "Bytes of ingest requests received")),
        batches(registry->GetCounter("fieldlog_ingest_batches_total", "Batches stored")),
        throttled(registry->GetCounter("fieldlog_ingest_throttled_total",
                                       "Requests refused for a rate limit")),
        ack_latency(registry->GetHistogram("fieldlog_ingest_ack_latency_seconds",
                                           "From receiving a batch to acknowledging it (durable)",
                                           LatencyBuckets())) {}

  // Lines refused, by reason (see collector/validation.h for the codes).
  Counter* Rejected(absl::string_view reason) {
    return registry_->GetCounter("fieldlog_ingest_rejected_lines_total", "Lines refused, by reason",
                                 {{"reason", std::string(reason)}});
  }
  // Ingest calls that ended with an error, by gRPC status code name.
  Counter* CallErrors(absl::string_view code) {
    return registry_->GetCounter("fieldlog_ingest_call_errors_total",
                                 "Ingest calls ended with an error, by status code",
                                 {{"code", std::string(code)}});
  }

 private:
  MetricsRegistry* const registry_;

 public:
  Counter* const lines_stored;
  Counter* const lines_duplicate;
  Counter* const bytes_received;
  Counter* const batches;
  Counter* const throttled;
  Histogram* const ack_latency;
};

}  // namespace fieldlog::collector

#endif  // FIELDLOG_COLLECTOR_INGEST_METRICS_H_
