// The ingest phase of fieldlog-bench: spreads the fleet over bench worker
// processes (benchmarks/ingest_worker.h), starts them together, follows their
// progress and adds up what they report, with the server's CPU time and peak
// memory read from /proc around the load.
//
// Two parts (see ingest_worker.h): saturated, which gives the throughput and
// the CPU cost per line, then steady at a fraction of that throughput, which
// gives the latencies, measured also by ack probes (ack_probe.h) running
// alongside the agents.
//
// Why worker processes: an Agent is a background thread, a spool and a gRPC
// channel. With gRPC's default (a global subchannel pool), the channels of one
// process with the same target and arguments share one TCP connection, so a
// thousand agents in one process would reach the server as one connection; a
// thousand agent threads and their gRPC threads also make a crowded process
// (idle, 1,000 agents took 1,008 threads and 160 MiB; at full speed one
// process peaked at 640 MiB). Measured at commit b52d54a with 1,000 devices:
// 1, 2, 4 and 8 workers gave 199 k, 207 k, 136 k and 170 k lines/s (noise of
// the shared machine) with the agents' CPU per line rising from 6.1 to 7.7 us
// as processes were added, so the default is 2: more than one connection,
// without paying for more processes.
#ifndef FIELDLOG_BENCHMARKS_INGEST_PHASE_H_
#define FIELDLOG_BENCHMARKS_INGEST_PHASE_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "benchmarks/fleet.h"
#include "benchmarks/histogram.h"

namespace fieldlog::bench {

struct IngestPhaseOptions {
  std::string self_binary;  // fieldlog-bench, started again as "worker"
  std::string server;
  std::string ingest_key;
  pid_t server_pid = -1;   // -1: server CPU and memory are not measured
  std::string agents_dir;  // the agents' storage directories go under it
  std::string agent_compression = "default";  // see WorkerOptions
  FleetSpec fleet;         // lines_per_device covers both parts
  size_t saturated_lines = 2000;  // per device, part 1
  double steady_load = 0.25;      // part 2's rate, as a fraction of part 1's
  int workers = 2;
  int concurrent_devices = 1000;  // over all workers
  size_t window = 1024;
  size_t chunk = 256;
  absl::Duration max_duration = absl::Minutes(10);
  int ack_probes = 2;  // during part 2; 0: none
  bool progress = false;
};

struct IngestPart {
  uint64_t acked = 0;      // lines acknowledged in this part
  absl::Duration elapsed;  // its start to its last acknowledgement
  double workers_cpu_seconds = 0;
  Histogram log_to_ack_us;  // Append() -> acknowledged, per line
};

struct IngestResult {
  IngestPart saturated;
  IngestPart steady;                 // empty when there was no steady part
  double steady_target_rate = 0;     // lines/s asked for in part 2
  uint64_t logged = 0;
  uint64_t acked = 0;                // both parts
  uint64_t rejected = 0;
  uint64_t dropped = 0;
  uint64_t reconnects = 0;
  std::string last_agent_error;
  double server_cpu_seconds = -1;    // over part 1
  double steady_server_cpu_seconds = -1;  // over part 2
  uint64_t server_peak_rss_bytes = 0;
  uint64_t workers_peak_rss_bytes = 0;  // the largest worker
  int idle_threads = 0;                 // all workers, agents started, before the load
  uint64_t idle_rss_bytes = 0;          // likewise
  Histogram ack_round_trip_us;          // probe batch sent -> its Ack, part 2
  size_t probe_batch_lines = 0;
  uint64_t probe_lines = 0;             // stored by the probes, not the agents
  std::string probe_error;
  bool timed_out = false;
};

absl::StatusOr<IngestResult> RunIngestPhase(const Fleet& fleet,
                                            const IngestPhaseOptions& options);

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_INGEST_PHASE_H_
