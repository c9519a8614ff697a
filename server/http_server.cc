#include "server/http_server.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "httplib.h"

namespace fieldlog::server {

HttpServer::HttpServer() : http_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& path,
                     std::function<std::string(std::string* content_type)> handler) {
  http_->Get(path, [handler = std::move(handler)](const httplib::Request&, httplib::Response& res) {
    std::string content_type = "text/plain; charset=utf-8";
    std::string body = handler(&content_type);
    res.set_content(std::move(body), content_type.c_str());
  });
}

absl::StatusOr<std::string> HttpServer::Start(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("'", listen, "' is not host:port"));
  }
  const std::string host = listen.substr(0, colon);
  if (port == 0) {
    port = http_->bind_to_any_port(host);
  } else if (!http_->bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, " for HTTP"));
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  // httplib's stop() does nothing until the listener is running, so a Stop()
  // soon after Start() would leave the join waiting forever. The listener
  // marks itself running first thing; wait for that (bounded, in case a
  // future httplib fails before it).
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!http_->is_running() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  return absl::StrCat(host, ":", port);
}

void HttpServer::Stop() {
  if (thread_.joinable()) {
    http_->stop();
    thread_.join();
  }
}

}  // namespace fieldlog::server
