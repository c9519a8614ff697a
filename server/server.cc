#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "collector/ingest_core.h"
#include "collector/ingest_metrics.h"
#include "collector/ingest_service.h"
#include "collector/otlp_service.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/worker_pool.h"
#include "query/handlers.h"
#include "query/http_api.h"
#include "query/query_service.h"
#include "query/tail.h"
#include "server/admin_service.h"
#include "server/http_server.h"
#include "store/writer.h"

namespace fieldlog::server {

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read ", what, " ", path));
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Insecure credentials, or TLS ones when a certificate is configured.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(
    const ServerOptions& options) {
  if (options.tls_cert_path.empty() && options.tls_key_path.empty()) {
    if (!options.tls_client_ca_path.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_cert_path.empty() || options.tls_key_path.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls-cert and --tls-key");
  }
  absl::StatusOr<std::string> cert = ReadFile(options.tls_cert_path, "the TLS certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(options.tls_key_path, "the TLS key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!options.tls_client_ca_path.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(options.tls_client_ca_path, "the client CA");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeCredentials(options);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<Server> server(new Server());
  server->options_ = options;

  std::error_code error;
  std::filesystem::create_directories(options.data_dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the data directory ", options.data_dir, ": ", error.message()));
  }
  store::StoreOptions store_options;
  store_options.path = (std::filesystem::path(options.data_dir) / "db").string();
  store_options.sync = options.sync;
  store_options.sync_interval = options.sync_interval;
  store_options.default_retention_days = options.default_retention_days;
  store_options.compression_dictionaries = options.compression_dictionaries;
  absl::StatusOr<std::unique_ptr<store::Store>> store = store::Store::Open(store_options);
  if (!store.ok()) return store.status();
  server->store_ = *std::move(store);
  absl::StatusOr<std::string> token =
      server->store_->catalog().LoadOrCreateAdminToken(server->admin_token_path());
  if (!token.ok()) return token.status();
  server->admin_token_ = *std::move(token);

  const size_t threads = options.ingest_threads != 0
                             ? options.ingest_threads
                             : std::max<size_t>(2, std::thread::hardware_concurrency());
  server->ingest_workers_ = std::make_unique<WorkerPool>(threads, "ingest-worker");
  server->metrics_ = std::make_unique<MetricsRegistry>();
  server->ingest_metrics_ = std::make_unique<collector::IngestMetrics>(server->metrics_.get());
  server->ingest_core_ = std::make_unique<collector::IngestCore>(
      server->store_.get(), options.ingest, server->ingest_metrics_.get());
  server->ingest_service_ = std::make_unique<collector::IngestService>(
      server->ingest_core_.get(), server->ingest_workers_.get());
  server->otlp_service_ = std::make_unique<collector::OtlpService>(
      server->ingest_core_.get(), server->store_.get(), server->ingest_workers_.get());
  server->tail_workers_ = std::make_unique<WorkerPool>(2, "tail-worker");
  // One search per core at a time; more wait their turn in order.
  server->search_workers_ = std::make_unique<WorkerPool>(
      std::max<size_t>(2, std::thread::hardware_concurrency()), "search-worker");
  server->tail_hub_ = std::make_unique<query::TailHub>();
  query::TailHub* hub = server->tail_hub_.get();
  server->store_->writer().SetObserver(
      [hub](const store::AppendEvent& event) { hub->Notify(event); });
  server->query_handlers_ = std::make_unique<query::QueryHandlers>(server->store_.get());
  server->query_service_ = std::make_unique<query::QueryService>(
      server->query_handlers_.get(), server->tail_hub_.get(), server->tail_workers_.get(),
      server->search_workers_.get());
  AppDefaults defaults;
  defaults.app_lines_per_second = options.ingest.default_app_lines_per_second;
  defaults.device_lines_per_second = options.ingest.default_device_lines_per_second;
  defaults.retention_days = options.default_retention_days;
  server->admin_service_ = std::make_unique<AdminService>(server->store_.get(), defaults);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  // gRPC sets SO_REUSEPORT by default, which would let a second server share
  // the port silently; a busy port must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.grpc_listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxRequestBytes));
  builder.RegisterService(server->ingest_service_.get());
  builder.RegisterService(server->otlp_service_.get());
  builder.RegisterService(server->query_service_.get());
  builder.RegisterService(server->admin_service_.get());
  server->grpc_server_ = builder.BuildAndStart();
  if (!server->grpc_server_ || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.grpc_listen,
                                               " (is the address in use or malformed?)"));
  }
  const size_t colon = options.grpc_listen.rfind(':');
  server->address_ = absl::StrCat(options.grpc_listen.substr(0, colon), ":", port);

  server->RegisterGauges();
  if (!options.http_listen.empty()) {
    server->http_ = std::make_unique<HttpServer>();
    MetricsRegistry* metrics = server->metrics_.get();
    server->http_->Get("/metrics", [metrics](std::string* content_type) {
      *content_type = "text/plain; version=0.0.4; charset=utf-8";
      return metrics->RenderPrometheus();
    });
    server->http_->Get("/healthz", [](std::string*) { return std::string("ok\n"); });
    query::MountHttpApi(&server->http_->routes(), server->query_handlers_.get(),
                        server->tail_hub_.get());
    absl::StatusOr<std::string> http_address = server->http_->Start(options.http_listen);
    if (!http_address.ok()) return http_address.status();
    server->http_address_ = *std::move(http_address);
  }
  LogInfo("server.started", {{"grpc", server->address_},
                             {"http", server->http_address_},
                             {"data_dir", options.data_dir}});
  return server;
}

void Server::RegisterGauges() {
  MetricsRegistry& m = *metrics_;
  store::Store* store = store_.get();
  collector::IngestService* ingest = ingest_service_.get();
  m.AddGauge("fieldlog_ingest_open_streams", "Device streams open now",
             [ingest] { return static_cast<double>(ingest->open_streams()); });
  query::TailHub* hub = tail_hub_.get();
  m.AddGauge("fieldlog_query_open_tails", "Live tails open now",
             [hub] { return static_cast<double>(hub->tails()); });
  m.AddGauge("fieldlog_store_group_syncs", "WAL fsyncs by group commit (--sync interval)",
             [store] { return static_cast<double>(store->group_syncs()); });
  m.AddGauge("fieldlog_rocksdb_write_stalls", "Times RocksDB began delaying or stopping writes",
             [store] { return static_cast<double>(store->write_stalls()); });
  m.AddGauge("fieldlog_rocksdb_write_stopped", "1 while RocksDB has stopped writes", [store] {
    return static_cast<double>(store->SumProperty("rocksdb.is-write-stopped"));
  });
  m.AddGauge("fieldlog_rocksdb_delayed_write_rate_bytes",
             "RocksDB's delayed write rate while it throttles writes (0: not throttled)", [store] {
               return static_cast<double>(store->SumProperty("rocksdb.actual-delayed-write-rate"));
             });
  m.AddGauge(
      "fieldlog_rocksdb_pending_compaction_bytes",
      "Bytes RocksDB estimates compaction still has to rewrite", [store] {
        return static_cast<double>(store->SumProperty("rocksdb.estimate-pending-compaction-bytes"));
      });
  m.AddGauge("fieldlog_rocksdb_sst_bytes", "Bytes of live SST files (the store on disk)", [store] {
    return static_cast<double>(store->SumProperty("rocksdb.live-sst-files-size"));
  });
}

Server::~Server() {
  Shutdown(absl::ZeroDuration());
  // Destruction order matters: the gRPC server (whose calls use everything
  // else) first, then the workers (their last tasks touch the store), then
  // the services, and the store last (its group committer acknowledges what
  // is still waiting as it closes).
  grpc_server_.reset();
  ingest_workers_.reset();
  tail_workers_.reset();
  search_workers_.reset();
  if (store_ != nullptr) store_->writer().SetObserver(nullptr);  // null if Start failed
  tail_hub_.reset();
}

std::string Server::admin_token_path() const {
  return (std::filesystem::path(options_.data_dir) / "admin_token").string();
}

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_ || !grpc_server_) return;
  shut_down_ = true;
  LogInfo("server.draining", {{"open_streams", absl::StrCat(ingest_service_->open_streams())}});
  ingest_service_->Drain();
  grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  // Everything acknowledged is in the WAL already; flushing the memtables
  // makes the next start replay nothing.
  rocksdb::FlushOptions flush;
  store_->db()->Flush(
      flush, {store_->family(store::Family::kBlocks), store_->family(store::Family::kBlockMeta),
              store_->family(store::Family::kDevices), store_->family(store::Family::kUsers)});
  if (http_) http_->Stop();
  LogInfo("server.stopped");
}

void Server::Wait() {
  if (grpc_server_) grpc_server_->Wait();
}

}  // namespace fieldlog::server
