// AckProbe: the collector's ack latency while the fleet is loading it.
//
// The agent's public API tells when lines are acknowledged, not when each
// batch was put on the wire, and at full load the time from Log() to the ack
// is mostly the queue the benchmark itself built. So a few probe devices of
// their own speak the ingest protocol directly, alongside the agents: each
// sends one batch, waits for its Ack, records the round trip, pauses, and
// repeats. The batch is small (64 lines), like the batches agents send at a
// steady rate (a device logging tens of lines a second sends what it has
// every batch age), so the probes add little load. That round trip is what an agent waits
// between sending a batch and being allowed to forget it: parsing,
// validation, the block write, the WAL and its sync policy, and the queueing
// in front of them under the fleet's load.
//
// The probes' lines are stored like any others (devices "bench-probe-<n>").
#ifndef FIELDLOG_BENCHMARKS_ACK_PROBE_H_
#define FIELDLOG_BENCHMARKS_ACK_PROBE_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "benchmarks/fleet.h"
#include "benchmarks/histogram.h"

namespace fieldlog::bench {

struct AckProbeOptions {
  std::string address;
  std::string ingest_key;
  int probes = 2;
  size_t batch_lines = 64;
  absl::Duration pause = absl::Milliseconds(20);
};

class AckProbe {
 public:
  // Starts the probes at once; they run until Stop().
  AckProbe(const Fleet& fleet, const AckProbeOptions& options);
  ~AckProbe();

  // Stops the probes and returns their round trips (microseconds).
  Histogram Stop();
  // Lines the probes had acknowledged (valid after Stop).
  uint64_t lines() const { return lines_.load(); }
  // The last error a probe saw ("" if none).
  const std::string& error() const { return error_; }

 private:
  void Run(int probe);

  const Fleet& fleet_;
  const AckProbeOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> lines_{0};
  std::vector<Histogram> round_trips_;  // one per probe, merged in Stop
  std::vector<std::string> errors_;
  std::string error_;
  std::vector<std::thread> threads_;
};

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_ACK_PROBE_H_
