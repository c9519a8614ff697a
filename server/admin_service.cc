#include "server/admin_service.h"

#include "common/grpc_status.h"

namespace fieldlog::server {

absl::Status AdminService::CheckAdmin(const grpc::CallbackServerContext& context) const {
  std::optional<std::string> secret = CredentialFromMetadata(context, "x-fieldlog-token");
  if (!secret) {
    return absl::UnauthenticatedError(
        "no token: admin calls need the admin token from <data-dir>/admin_token");
  }
  std::optional<store::Credential> credential = catalog_->Authenticate(*secret);
  if (!credential) return absl::UnauthenticatedError("unknown or revoked token");
  if (credential->kind != store::CREDENTIAL_KIND_ADMIN) {
    return absl::PermissionDeniedError("this call needs the admin token");
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* AdminService::CreateApp(grpc::CallbackServerContext* context,
                                                  const v1::CreateAppRequest* request,
                                                  v1::CreateAppResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = CheckAdmin(*context);
  if (status.ok()) {
    absl::StatusOr<store::NewApp> app = catalog_->CreateApp(request->name());
    if (app.ok()) {
      response->set_app(app->app.name());
      response->set_ingest_key(app->ingest_key);
      response->set_read_token(app->read_token);
    }
    status = app.status();
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ListApps(grpc::CallbackServerContext* context,
                                                 const v1::ListAppsRequest* request,
                                                 v1::ListAppsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = CheckAdmin(*context);
  if (status.ok()) {
    for (const store::AppRecord& app : catalog_->ListApps()) {
      v1::AppInfo* info = response->add_apps();
      info->set_name(app.name());
      info->set_created_unix_micros(app.created_unix_micros());
    }
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace fieldlog::server
