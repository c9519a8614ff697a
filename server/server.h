// Server: fieldlog-server's parts wired together: the store, the collector's
// ingest service, the query service and the admin service on one gRPC port,
// plus gRPC health checking and server reflection. main.cc runs one; tests run
// them in-process on 127.0.0.1:0.
#ifndef FIELDLOG_SERVER_SERVER_H_
#define FIELDLOG_SERVER_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/ingest_core.h"
#include "common/metrics.h"
#include "store/store.h"

namespace fieldlog {
class WorkerPool;
}
namespace fieldlog::collector {
class IngestMetrics;
class IngestCore;
class IngestService;
class OtlpService;
}  // namespace fieldlog::collector
namespace fieldlog::query {
class QueryHandlers;
class QueryService;
class TailHub;
}  // namespace fieldlog::query
namespace fieldlog::server {

class AdminService;
class HttpServer;

struct ServerOptions {
  std::string data_dir = "./fieldlog-data";
  // host:port; port 0 picks a free port (see Server::address()).
  std::string grpc_listen = "127.0.0.1:4317";
  store::SyncPolicy sync = store::SyncPolicy::kInterval;
  absl::Duration sync_interval = absl::Milliseconds(5);
  collector::IngestOptions ingest;
  // Days to keep lines of apps that set no retention; 0 keeps forever.
  uint32_t default_retention_days = 30;
  // Per-app compression dictionaries (store/dictionaries.h).
  bool compression_dictionaries = true;
  // Threads that store batches; 0 means one per core.
  size_t ingest_threads = 0;
  // TLS: PEM files of the server's certificate chain and private key. With a
  // client CA, clients must present a certificate it signed (mutual TLS).
  std::string tls_cert_path;
  std::string tls_key_path;
  std::string tls_client_ca_path;
  // HTTP: /metrics (Prometheus) and /healthz; empty disables. Port 0 picks
  // a free port (see Server::http_address()).
  std::string http_listen = "127.0.0.1:8080";
};

class Server {
 public:
  // Opens (or creates) the store, ensures the admin token file exists and
  // starts serving.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();

  // The address actually listened on, e.g. "127.0.0.1:4317".
  const std::string& address() const { return address_; }
  const std::string& admin_token() const { return admin_token_; }
  // "" when HTTP is disabled.
  const std::string& http_address() const { return http_address_; }
  MetricsRegistry& metrics() { return *metrics_; }
  std::string admin_token_path() const;
  store::Store& store() { return *store_; }

  // Drains: ingest streams stop taking batches, store and acknowledge what
  // they read, and end with UNAVAILABLE (agents reconnect and resend the
  // rest); other calls get up to `grace` to finish before they are cancelled.
  // Then the store's memtables are flushed. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));
  // Blocks until Shutdown has completed.
  void Wait();

 private:
  Server() = default;
  void RegisterGauges();

  ServerOptions options_;
  std::string address_;
  std::string http_address_;
  std::string admin_token_;
  std::unique_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<collector::IngestMetrics> ingest_metrics_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<WorkerPool> ingest_workers_;
  std::unique_ptr<collector::IngestCore> ingest_core_;
  std::unique_ptr<collector::IngestService> ingest_service_;
  std::unique_ptr<collector::OtlpService> otlp_service_;
  std::unique_ptr<WorkerPool> tail_workers_;
  std::unique_ptr<WorkerPool> search_workers_;
  std::unique_ptr<query::TailHub> tail_hub_;
  std::unique_ptr<query::QueryHandlers> query_handlers_;
  std::unique_ptr<query::QueryService> query_service_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  bool shut_down_ = false;
};

}  // namespace fieldlog::server

#endif  // FIELDLOG_SERVER_SERVER_H_
