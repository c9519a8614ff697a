// The collector phase of fieldlog-bench (issue 4): fieldlog-server alone,
// without agents, once per --sync policy.
//
// For each policy a fresh fieldlog-server on its own data directory takes the
// fleet's lines as pre-encoded device streams of 1,000-entry batches
// (batch_streams.h): the same entries and the same client as the
// parse-and-ack reference (parse_ack.h), and the same entries as the
// key-per-line ceiling (key_per_line.h). So the three figures, taken in one
// run, compare what the collector adds to the transport (validation, the
// block encoding, RocksDB, the WAL and its sync policy) and how it stands to
// a plain RocksDB writer. No gRPC compression: that is the agents' choice and
// the ingest phase's subject.
#ifndef FIELDLOG_BENCHMARKS_COLLECTOR_PHASE_H_
#define FIELDLOG_BENCHMARKS_COLLECTOR_PHASE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "benchmarks/batch_streams.h"

namespace fieldlog::bench {

struct CollectorPhaseOptions {
  std::string server_binary;
  std::string data_dir;  // created for the run, removed after a successful one
  std::string sync;      // the server's --sync: none, batch or interval
  std::vector<std::string> server_args;
  StreamRunOptions streams;  // address and key are filled in by the phase
};

struct CollectorRun {
  uint64_t lines = 0;  // acknowledged
  uint64_t wire_bytes = 0;
  absl::Duration elapsed;
  double server_cpu_seconds = -1;  // -1: not measured
  uint64_t server_peak_rss_bytes = 0;
  double client_cpu_seconds = 0;
};

absl::StatusOr<CollectorRun> RunCollectorPhase(const std::vector<StreamPlan>& plans,
                                               const CollectorPhaseOptions& options);

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_COLLECTOR_PHASE_H_
