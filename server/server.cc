#include "server/server.h"

#include <filesystem>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "collector/ingest_core.h"
#include "collector/ingest_service.h"
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
  absl::StatusOr<std::unique_ptr<store::Store>> store = store::Store::Open(store_options);
  if (!store.ok()) return store.status();
  server->store_ = *std::move(store);
  absl::StatusOr<std::string> token =
      server->store_->catalog().LoadOrCreateAdminToken(server->admin_token_path());
  if (!token.ok()) return token.status();
  server->admin_token_ = *std::move(token);

  server->ingest_core_ = std::make_unique<collector::IngestCore>(server->store_.get());
  server->ingest_service_ = std::make_unique<collector::IngestService>(server->ingest_core_.get());
  server->query_service_ = std::make_unique<query::QueryService>(server->store_.get());
  server->admin_service_ = std::make_unique<AdminService>(&server->store_->catalog());

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
  // Services must outlive the gRPC server that calls them; the store must
  // outlive both.
  grpc_server_.reset();
}

std::string Server::admin_token_path() const {
  return (std::filesystem::path(options_.data_dir) / "admin_token").string();
}

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_ || !grpc_server_) return;
  shut_down_ = true;
  grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
}

void Server::Wait() {
  if (grpc_server_) grpc_server_->Wait();
}

}  // namespace fieldlog::server
