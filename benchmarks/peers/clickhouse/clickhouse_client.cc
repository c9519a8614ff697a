#include "benchmarks/peers/clickhouse/clickhouse_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <iostream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace fieldlog::bench {

absl::StatusOr<Endpoint> ParseEndpoint(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  Endpoint e;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &e.port)) {
    return absl::InvalidArgumentError("--http wants HOST:PORT");
  }
  e.host = parts[0];
  return e;
}

std::string UrlEncode(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

void AppendTsv(std::string* out, absl::string_view text) {
  for (char c : text) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\n':
        out->append("\\n");
        break;
      default:
        out->push_back(c);
    }
  }
}

std::string Quote(absl::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

ClickHouseClient::ClickHouseClient(const std::string& host, int port) : client_(host, port) {
  client_.set_keep_alive(true);
  // Headers and body go out as separate writes: without TCP_NODELAY every
  // request would wait out the server's delayed ACK (~40 ms).
  client_.set_tcp_nodelay(true);
  client_.set_connection_timeout(10);
  client_.set_read_timeout(1800);
  client_.set_write_timeout(600);
}

absl::StatusOr<std::string> ClickHouseClient::Query(const std::string& sql,
                                                    const std::string& body) {
  httplib::Result result = body.empty()
                               ? client_.Post("/", sql, "text/plain")
                               : client_.Post("/?query=" + UrlEncode(sql), body, "text/plain");
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("ClickHouse unreachable: ", httplib::to_string(result.error())));
  }
  if (result->status != 200) {
    return absl::InternalError(absl::StrCat("ClickHouse: ", result->body.substr(0, 400)));
  }
  return std::move(result->body);
}

int PrintFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    return 1;
  }
  std::cout << ntohs(address.sin_port) << "\n";
  ::close(fd);
  return 0;
}

int WaitForClickHouse(const std::string& http, int seconds) {
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(http);
  if (!endpoint.ok()) return 2;
  const absl::Time deadline = absl::Now() + absl::Seconds(seconds);
  while (absl::Now() < deadline) {
    ClickHouseClient ch(*endpoint);
    if (ch.Query("SELECT 1").ok()) return 0;
    absl::SleepFor(absl::Milliseconds(200));
  }
  std::cerr << "clickhouse: no answer from " << http << " within " << seconds << " s\n";
  return 1;
}

ScriptCommands::ScriptCommands(CLI::App* app)
    : free_port_(app->add_subcommand("free-port", "Print a free TCP port on 127.0.0.1")),
      wait_(app->add_subcommand("wait", "Wait until ClickHouse answers over HTTP")) {
  wait_->add_option("--http", http_, "HOST:PORT")->required();
  wait_->add_option("--seconds", seconds_)->capture_default_str();
}

std::optional<int> ScriptCommands::Run() const {
  if (free_port_->parsed()) return PrintFreePort();
  if (wait_->parsed()) return WaitForClickHouse(http_, seconds_);
  return std::nullopt;
}

}  // namespace fieldlog::bench
