// HttpServer: fieldlog-server's HTTP side (cpp-httplib): /metrics in the
// Prometheus text format and /healthz for load balancers; the web console and
// its JSON API mount here too.
#ifndef FIELDLOG_SERVER_HTTP_SERVER_H_
#define FIELDLOG_SERVER_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace fieldlog::server {

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();

  // Routes GET requests for `path` to `handler`, which returns the body and
  // sets the content type. Call before Start.
  void Get(const std::string& path, std::function<std::string(std::string* content_type)> handler);

  // The underlying cpp-httplib server, for components that mount richer
  // routes (the JSON API and the console). Call before Start.
  httplib::Server& routes() { return *http_; }

  // Listens on host:port (port 0 picks a free port) and serves from a
  // background thread. Returns the address listened on.
  absl::StatusOr<std::string> Start(const std::string& listen);
  void Stop();

 private:
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

}  // namespace fieldlog::server

#endif  // FIELDLOG_SERVER_HTTP_SERVER_H_
