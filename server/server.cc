#include "server/server.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "collector/ingest_core.h"
#include "collector/ingest_service.h"
#include "collector/worker_pool.h"
#include "common/limits.h"
#include "query/query_service.h"
#include "server/admin_service.h"

namespace fieldlog::server {

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
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
  server->ingest_workers_ = std::make_unique<collector::WorkerPool>(threads);
  server->ingest_core_ =
      std::make_unique<collector::IngestCore>(server->store_.get(), options.ingest);
  server->ingest_service_ = std::make_unique<collector::IngestService>(
      server->ingest_core_.get(), server->ingest_workers_.get());
  server->query_service_ = std::make_unique<query::QueryService>(server->store_.get());
  AppDefaults defaults;
  defaults.app_lines_per_second = options.ingest.default_app_lines_per_second;
  defaults.device_lines_per_second = options.ingest.default_device_lines_per_second;
  server->admin_service_ = std::make_unique<AdminService>(&server->store_->catalog(), defaults);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  // gRPC sets SO_REUSEPORT by default, which would let a second server share
  // the port silently; a busy port must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.grpc_listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxRequestBytes));
  builder.RegisterService(server->ingest_service_.get());
  builder.RegisterService(server->query_service_.get());
  builder.RegisterService(server->admin_service_.get());
  server->grpc_server_ = builder.BuildAndStart();
  if (!server->grpc_server_ || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.grpc_listen,
                                               " (is the address in use or malformed?)"));
  }
  const size_t colon = options.grpc_listen.rfind(':');
  server->address_ = absl::StrCat(options.grpc_listen.substr(0, colon), ":", port);
  return server;
}

Server::~Server() {
  Shutdown(absl::ZeroDuration());
  // Destruction order matters: the gRPC server (whose calls use everything
  // else) first, then the workers (their last tasks touch the store), then
  // the services, and the store last (its group committer acknowledges what
  // is still waiting as it closes).
  grpc_server_.reset();
  ingest_workers_.reset();
}

std::string Server::admin_token_path() const {
  return (std::filesystem::path(options_.data_dir) / "admin_token").string();
}

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_ || !grpc_server_) return;
  shut_down_ = true;
  ingest_service_->Drain();
  grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  // Everything acknowledged is in the WAL already; flushing the memtables
  // makes the next start replay nothing.
  rocksdb::FlushOptions flush;
  store_->db()->Flush(flush, {store_->family(store::Family::kBlocks),
                              store_->family(store::Family::kBlockMeta),
                              store_->family(store::Family::kDevices),
                              store_->family(store::Family::kUsers)});
}

void Server::Wait() {
  if (grpc_server_) grpc_server_->Wait();
}

}  // namespace fieldlog::server
