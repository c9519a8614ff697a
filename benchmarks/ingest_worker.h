// Ingest worker: one bench worker process, simulating a slice of the fleet
// through the real agent library (fieldlog::Agent, public API only).
//
// Each simulated device is one Agent with the device's id, signed in as its
// user, fed the device's generated lines with Agent::Append (which carries the
// lines' own device timestamps). A run has two parts:
//
//   saturated  each device logs its first `saturated_lines` lines as fast as
//              the system takes them, keeping at most `window` lines logged
//              but not yet acknowledged (closed loop: the part measures how
//              fast the whole path agent -> gRPC -> collector -> RocksDB WAL
//              -> ack drains, not how fast a queue fills);
//   steady     the rest of each device's lines at a given rate (a fraction of
//              what the saturated part reached), for latency under a load the
//              system can sustain.
//
// When there are more devices than `concurrent_devices`, devices run in
// waves: a device's agent is shut down once all its lines are acknowledged and
// the next device starts; waves have no steady part.
//
// Protocol with the coordinator, one JSON object per line on stdout:
//   {"event":"ready"}            agents of the first wave are connected
//   {"event":"progress", ...}    every ~200 ms: logged, acked
//   {"event":"saturated", ...}   part 1's totals, times, CPU, log-to-ack
//   {"event":"done", ...}        part 2's (or the totals again if none)
//   {"event":"error","message"}  and exit 1
// and on stdin: "go" starts part 1; then "steady <lines/s>" runs part 2 or
// "end" skips it (end of file aborts).
//
// Log-to-ack time is measured through the public API only: for each chunk of
// lines appended, the time from the Append calls until stats() counts the
// chunk as acknowledged, polled every 5 ms at the steady rate (every 10 ms at
// full speed, where it is mostly queueing anyway; the collector's own ack
// latency is ack_probe.h's job).
#ifndef FIELDLOG_BENCHMARKS_INGEST_WORKER_H_
#define FIELDLOG_BENCHMARKS_INGEST_WORKER_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "benchmarks/fleet.h"

namespace fieldlog::bench {

struct WorkerOptions {
  std::string server;
  std::string ingest_key;
  FleetSpec fleet;
  int first_device = 0;  // this worker's devices: [first_device, end_device)
  int end_device = 0;
  int concurrent_devices = 1000;  // agents alive at once in this worker
  // Each agent's storage_dir is <agents_dir>/<device index>; empty: the
  // agent's default.
  std::string agents_dir;
  // The agent's compression option: "default" leaves it as shipped; "zstd",
  // "gzip" or "none" set it.
  std::string agent_compression = "default";
  size_t saturated_lines = 2000;   // per device, in part 1; the rest in part 2
  size_t window = 1024;           // lines logged but not acknowledged, per device
  size_t chunk = 256;             // lines appended per visit to a device
  absl::Duration max_duration = absl::Minutes(10);
};

// Runs the worker protocol on stdin/stdout; returns the process exit code.
int RunIngestWorker(const WorkerOptions& options);

// Nanoseconds on CLOCK_MONOTONIC, comparable between the processes of a run.
int64_t MonotonicNanos();

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_INGEST_WORKER_H_
