#include "server/admin_service.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/time_util.h"
#include "rocksdb/utilities/checkpoint.h"
#include "store/reader.h"
#include "store/writer.h"

namespace fieldlog::server {
namespace {

v1::KeyKind ToKeyKind(store::CredentialKind kind) {
  switch (kind) {
    case store::CREDENTIAL_KIND_INGEST:
      return v1::KEY_KIND_INGEST;
    case store::CREDENTIAL_KIND_READ:
      return v1::KEY_KIND_READ;
    default:
      return v1::KEY_KIND_UNSPECIFIED;
  }
}

void FillKeyInfo(const store::CredentialInfo& credential, absl::string_view app,
                 v1::KeyInfo* info) {
  info->set_key_id(credential.key_id);
  info->set_kind(ToKeyKind(credential.record.kind()));
  info->set_prefix(credential.record.display_prefix());
  info->set_created_unix_micros(credential.record.created_unix_micros());
  info->set_revoked(credential.record.revoked());
  info->set_revoked_unix_micros(credential.record.revoked_unix_micros());
  info->set_app(std::string(app));
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::AsAdmin(grpc::CallbackServerContext* context,
                                                const std::function<absl::Status()>& body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = [&]() -> absl::Status {
    std::optional<std::string> secret = CredentialFromMetadata(*context, "x-fieldlog-token");
    if (!secret) {
      return absl::UnauthenticatedError(
          "no token: admin calls need the admin token from <data-dir>/admin_token");
    }
    std::optional<store::Credential> credential = catalog_->Authenticate(*secret);
    if (!credential) return absl::UnauthenticatedError("unknown or revoked token");
    if (credential->kind != store::CREDENTIAL_KIND_ADMIN) {
      return absl::PermissionDeniedError("this call needs the admin token");
    }
    return body();
  }();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::StatusOr<store::AppRecord> AdminService::FindApp(absl::string_view name) const {
  std::optional<store::AppRecord> app = catalog_->FindApp(name);
  if (!app) return absl::NotFoundError(absl::StrCat("no app '", name, "'"));
  return *app;
}

void AdminService::FillAppInfo(const store::AppRecord& app, v1::AppInfo* info) const {
  info->set_name(app.name());
  info->set_created_unix_micros(app.created_unix_micros());
  v1::AppSettings* settings = info->mutable_settings();
  settings->set_app_lines_per_second(
      app.app_lines_per_second() > 0 ? app.app_lines_per_second() : defaults_.app_lines_per_second);
  settings->set_device_lines_per_second(app.device_lines_per_second() > 0
                                            ? app.device_lines_per_second()
                                            : defaults_.device_lines_per_second);
  settings->set_retention_days(app.retention_days() > 0 ? app.retention_days()
                                                        : defaults_.retention_days);
}

grpc::ServerUnaryReactor* AdminService::CreateApp(grpc::CallbackServerContext* context,
                                                  const v1::CreateAppRequest* request,
                                                  v1::CreateAppResponse* response) {
  return AsAdmin(context, [&]() -> absl::Status {
    absl::StatusOr<store::NewApp> app = catalog_->CreateApp(request->name());
    if (!app.ok()) return app.status();
    response->set_app(app->app.name());
    response->set_ingest_key(app->ingest_key);
    response->set_read_token(app->read_token);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ListApps(grpc::CallbackServerContext* context,
                                                 const v1::ListAppsRequest* request,
                                                 v1::ListAppsResponse* response) {
  return AsAdmin(context, [&]() -> absl::Status {
    for (const store::AppRecord& app : catalog_->ListApps()) FillAppInfo(app, response->add_apps());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::UpdateApp(grpc::CallbackServerContext* context,
                                                  const v1::UpdateAppRequest* request,
                                                  v1::AppInfo* response) {
  return AsAdmin(context, [&]() -> absl::Status {
    const v1::AppSettings& settings = request->settings();
    if ((settings.has_app_lines_per_second() && settings.app_lines_per_second() < 0) ||
        (settings.has_device_lines_per_second() && settings.device_lines_per_second() < 0)) {
      return absl::InvalidArgumentError("rate limits cannot be negative");
    }
    absl::StatusOr<store::AppRecord> app =
        catalog_->UpdateApp(request->name(), [&](store::AppRecord* record) {
          if (settings.has_app_lines_per_second()) {
            record->set_app_lines_per_second(settings.app_lines_per_second());
          }
          if (settings.has_device_lines_per_second()) {
            record->set_device_lines_per_second(settings.device_lines_per_second());
          }
          if (settings.has_retention_days()) record->set_retention_days(settings.retention_days());
        });
    if (!app.ok()) return app.status();
    FillAppInfo(*app, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::CreateKey(grpc::CallbackServerContext* context,
                                                  const v1::CreateKeyRequest* request,
                                                  v1::CreateKeyResponse* response) {
  return AsAdmin(context, [&]() -> absl::Status {
    absl::StatusOr<store::AppRecord> app = FindApp(request->app());
    if (!app.ok()) return app.status();
    store::CredentialKind kind;
    switch (request->kind()) {
      case v1::KEY_KIND_INGEST:
        kind = store::CREDENTIAL_KIND_INGEST;
        break;
      case v1::KEY_KIND_READ:
        kind = store::CREDENTIAL_KIND_READ;
        break;
      default:
        return absl::InvalidArgumentError("kind must be KEY_KIND_INGEST or KEY_KIND_READ");
    }
    absl::StatusOr<store::NewCredential> created = catalog_->CreateCredential(app->app_id(), kind);
    if (!created.ok()) return created.status();
    FillKeyInfo(created->info, app->name(), response->mutable_key());
    response->set_secret(created->secret);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ListKeys(grpc::CallbackServerContext* context,
                                                 const v1::ListKeysRequest* request,
                                                 v1::ListKeysResponse* response) {
  return AsAdmin(context, [&]() -> absl::Status {
    absl::StatusOr<store::AppRecord> app = FindApp(request->app());
    if (!app.ok()) return app.status();
    for (const store::CredentialInfo& credential : catalog_->ListCredentials(app->app_id())) {
      FillKeyInfo(credential, app->name(), response->add_keys());
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::RevokeKey(grpc::CallbackServerContext* context,
                                                  const v1::RevokeKeyRequest* request,
                                                  v1::KeyInfo* response) {
  return AsAdmin(context, [&]() -> absl::Status {
    absl::StatusOr<store::AppRecord> app = FindApp(request->app());
    if (!app.ok()) return app.status();
    absl::StatusOr<store::CredentialInfo> revoked =
        catalog_->RevokeCredential(app->app_id(), request->key_id());
    if (!revoked.ok()) return revoked.status();
    FillKeyInfo(*revoked, app->name(), response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::EraseUser(grpc::CallbackServerContext* context,
                                                  const v1::EraseUserRequest* request,
                                                  v1::EraseUserResponse* response) {
  return AsAdmin(context, [&]() -> absl::Status {
    absl::StatusOr<store::AppRecord> app = FindApp(request->app());
    if (!app.ok()) return app.status();
    if (request->user_id().empty()) return absl::InvalidArgumentError("name the user_id to erase");
    absl::StatusOr<store::EraseResult> erased =
        store_->writer().EraseUser(app->app_id(), request->user_id());
    if (!erased.ok()) return erased.status();
    response->set_devices(erased->devices);
    response->set_lines(erased->lines);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::CreateCheckpoint(grpc::CallbackServerContext* context,
                                                         const v1::CreateCheckpointRequest* request,
                                                         v1::CreateCheckpointResponse* response) {
  return AsAdmin(context, [&]() -> absl::Status {
    const std::filesystem::path path(request->path());
    if (!path.is_absolute()) {
      return absl::InvalidArgumentError("the checkpoint path must be absolute");
    }
    if (std::filesystem::exists(path)) {
      return absl::AlreadyExistsError(absl::StrCat(request->path(), " exists already"));
    }
    rocksdb::Checkpoint* raw = nullptr;
    rocksdb::Status s = rocksdb::Checkpoint::Create(store_->db(), &raw);
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    if (s.ok()) s = checkpoint->CreateCheckpoint(request->path());
    if (!s.ok()) return store::FromRocksStatus(s, "creating the checkpoint");
    uint64_t bytes = 0;
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.is_regular_file()) bytes += entry.file_size();
    }
    response->set_path(request->path());
    response->set_bytes(bytes);
    LogInfo("admin.checkpoint", {{"path", request->path()}, {"bytes", absl::StrCat(bytes)}});
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ListAudit(grpc::CallbackServerContext* context,
                                                  const v1::ListAuditRequest* request,
                                                  v1::ListAuditResponse* response) {
  return AsAdmin(context, [&]() -> absl::Status {
    absl::StatusOr<store::AppRecord> app = FindApp(request->app());
    if (!app.ok()) return app.status();
    if (request->limit() > 100000) return absl::InvalidArgumentError("limit is at most 100000");
    const int64_t now = NowUnixMicros();
    const int64_t to = request->to_unix_micros() != 0 ? request->to_unix_micros() : now + 1;
    const int64_t from = request->from_unix_micros() != 0 ? request->from_unix_micros()
                                                          : to - int64_t{7} * 24 * 3600 * 1'000'000;
    store::Reader reader(*store_);
    absl::StatusOr<std::vector<store::AuditRecord>> records =
        reader.ListAudit(app->app_id(), from, to, request->limit() == 0 ? 1000 : request->limit());
    if (!records.ok()) return records.status();
    for (const store::AuditRecord& r : *records) {
      v1::AuditEntry* entry = response->add_entries();
      entry->set_time_unix_micros(r.time_unix_micros());
      entry->set_key_id(r.key_id());
      entry->set_credential_kind(r.credential_kind());
      entry->set_action(r.action());
      entry->set_user_id(r.user_id());
      entry->set_device_id(r.device_id());
      entry->set_details(r.details());
      entry->set_peer(r.peer());
    }
    return absl::OkStatus();
  });
}

}  // namespace fieldlog::server
