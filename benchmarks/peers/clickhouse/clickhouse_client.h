// ClickHouseClient: a minimal client of ClickHouse's HTTP interface for the
// peer benchmarks (clickhouse-peer, query-scale), plus the text helpers their
// SQL and TSV bodies need. Talks to 127.0.0.1 only; one keep-alive
// connection per client, so a client is used by one thread at a time.
#ifndef FIELDLOG_BENCHMARKS_PEERS_CLICKHOUSE_CLICKHOUSE_CLIENT_H_
#define FIELDLOG_BENCHMARKS_PEERS_CLICKHOUSE_CLICKHOUSE_CLIENT_H_

#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "httplib.h"

namespace fieldlog::bench {

struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 0;
};

// "HOST:PORT"; INVALID_ARGUMENT otherwise.
absl::StatusOr<Endpoint> ParseEndpoint(const std::string& text);

// Percent-encoding for a URL query parameter.
std::string UrlEncode(absl::string_view text);

// Appends `text` with TabSeparated escaping (backslash, tab, newline).
void AppendTsv(std::string* out, absl::string_view text);

// A SQL string literal.
std::string Quote(absl::string_view text);

class ClickHouseClient {
 public:
  ClickHouseClient(const std::string& host, int port);
  explicit ClickHouseClient(const Endpoint& endpoint)
      : ClickHouseClient(endpoint.host, endpoint.port) {}

  // Runs `sql` (with the rows of an INSERT in `body`); the response text, or
  // UNAVAILABLE (no connection) / INTERNAL (ClickHouse's error message).
  absl::StatusOr<std::string> Query(const std::string& sql, const std::string& body = "");

 private:
  httplib::Client client_;
};

// Prints a free loopback TCP port on stdout (for run.sh); 0 on success.
int PrintFreePort();

// Waits until ClickHouse answers `SELECT 1` at HOST:PORT; 0 on success.
int WaitForClickHouse(const std::string& http, int seconds);

// The subcommands run.sh uses to start ClickHouse, the same in both peer
// binaries: `free-port` (PrintFreePort) and `wait --http H:P [--seconds N]`
// (WaitForClickHouse). Add them before parsing; Run() after.
class ScriptCommands {
 public:
  explicit ScriptCommands(CLI::App* app);
  // The exit code of the one that was given, or nullopt if neither was.
  std::optional<int> Run() const;

 private:
  CLI::App* free_port_;
  CLI::App* wait_;
  std::string http_;
  int seconds_ = 60;
};

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_PEERS_CLICKHOUSE_CLICKHOUSE_CLIENT_H_
