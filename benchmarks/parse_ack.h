// The same-run parse-and-ack reference: how many entries per second the
// transport itself carries on this machine at this moment.
//
// The server (ParseAckServerMain, run by fieldlog-bench as a child process so
// it has its own process like fieldlog-server) implements IngestService/Stream
// and does only what any collector must: gRPC parses each IngestRequest into
// its message, and the server answers every batch with an Ack counting its
// entries. No validation, no storage.
//
// fieldlog-bench sends it the same pre-encoded device streams as the
// collector phase (batch_streams.h), so the reference measures the transport
// and the server's parsing on exactly the entries fieldlog stores.
#ifndef FIELDLOG_BENCHMARKS_PARSE_ACK_H_
#define FIELDLOG_BENCHMARKS_PARSE_ACK_H_

#include <string>

namespace fieldlog::bench {

// Serves on 127.0.0.1:0, writes the address to `listen_file`, runs until
// SIGTERM or SIGINT. Returns the process exit code.
int ParseAckServerMain(const std::string& listen_file);

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_PARSE_ACK_H_
