// The same-run parse-and-ack reference: how many entries per second the
// transport itself carries on this machine at this moment.
//
// The server (ParseAckServerMain, run by fieldlog-bench as a child process so
// it has its own process like fieldlog-server) implements IngestService/Stream
// and does only what any collector must: gRPC parses each IngestRequest into
// its message, and the server answers every batch with an Ack counting its
// entries. No validation, no storage.
//
// The client sends the fleet's entries in 1,000-entry batches, serialized
// once before the clock starts (so the reference measures the transport and
// the server's parsing, not client-side encoding), over several connections
// with several streams each and a few batches in flight per stream.
#ifndef FIELDLOG_BENCHMARKS_PARSE_ACK_H_
#define FIELDLOG_BENCHMARKS_PARSE_ACK_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "benchmarks/fleet.h"

namespace fieldlog::bench {

// Serves on 127.0.0.1:0, writes the address to `listen_file`, runs until
// SIGTERM or SIGINT. Returns the process exit code.
int ParseAckServerMain(const std::string& listen_file);

struct ParseAckOptions {
  std::string address;
  int connections = 4;
  int streams_per_connection = 8;
  int batches_in_flight = 4;  // per stream
  size_t batch_entries = 1000;
  uint64_t total_entries = 2'000'000;
  absl::Duration max_duration = absl::Minutes(2);
  bool progress = false;
};

struct ParseAckResult {
  uint64_t entries = 0;  // acknowledged
  absl::Duration elapsed;
  double client_cpu_seconds = 0;
};

absl::StatusOr<ParseAckResult> RunParseAck(const Fleet& fleet, const ParseAckOptions& options);

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_PARSE_ACK_H_
