// Pre-serialized ingest streams sent as fast as a server acknowledges them:
// the client of the same-run parse-and-ack reference (parse_ack.h) and of the
// collector phase (collector_phase.h). Everything is encoded before the clock
// starts, so both measure the server, not the sender.
//
// A StreamPlan is one device's stream as an agent makes it: a hello, then the
// device's batches in seq order. RunStreams spreads the plans over
// `connections` channels (each its own TCP connection, as separate devices
// have) and runs `lanes` streams at once: when a device's stream has every
// batch acknowledged, it half-closes, and its lane opens the next plan's
// stream. Each stream keeps `in_flight` batches outstanding.
//
// A batch counts when its Ack arrives: `accepted` and `duplicates` as
// acknowledged entries, its rejections apart. Any stream that ends with a
// status other than OK fails the run.
#ifndef FIELDLOG_BENCHMARKS_BATCH_STREAMS_H_
#define FIELDLOG_BENCHMARKS_BATCH_STREAMS_H_

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "benchmarks/fleet.h"

namespace fieldlog::bench {

struct StreamPlan {
  grpc::ByteBuffer hello;                 // an IngestRequest holding the Hello
  std::vector<grpc::ByteBuffer> batches;  // IngestRequests holding the Batches
  uint64_t entries = 0;                   // over all batches
  uint64_t bytes = 0;                     // serialized, over all batches
};

// The fleet's lines as one plan per device: batches of `batch_entries` in seq
// order (seq 1 upwards, the last batch shorter), tagged with the device's
// user and one session. The batches carry no sent-at time (0: the collector
// applies no clock correction), since they are sent long after encoding.
std::vector<StreamPlan> MakeDevicePlans(const Fleet& fleet, size_t batch_entries);

struct StreamRunOptions {
  std::string address;
  std::string ingest_key;  // sent as "authorization: Bearer <key>"; "" for none
  int connections = 2;
  int lanes = 32;     // streams open at once, over all connections
  int in_flight = 4;  // batches outstanding per stream
  absl::Duration max_duration = absl::Minutes(5);
  std::string progress_label;  // "" for no progress bar
};

struct StreamRunResult {
  uint64_t acked_entries = 0;     // stored or already stored
  uint64_t rejected_entries = 0;  // refused by the server (should be 0)
  uint64_t acked_bytes = 0;       // serialized bytes of the acknowledged batches
  absl::Duration elapsed;         // first write to the last acknowledgement
  double client_cpu_seconds = 0;  // this process, during the run
};

absl::StatusOr<StreamRunResult> RunStreams(const std::vector<StreamPlan>& plans,
                                           const StreamRunOptions& options);

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_BATCH_STREAMS_H_
