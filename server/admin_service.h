// AdminService: apps, their settings and their keys
// (proto/fieldlog/v1/admin.proto). Every call needs the admin token.
#ifndef FIELDLOG_SERVER_ADMIN_SERVICE_H_
#define FIELDLOG_SERVER_ADMIN_SERVICE_H_

#include "collector/ingest_core.h"
#include "fieldlog/v1/admin.grpc.pb.h"
#include "store/catalog.h"
#include "store/store.h"

namespace fieldlog::server {

// Server-wide defaults that apps inherit when their settings are 0.
struct AppDefaults {
  double app_lines_per_second = 0;
  double device_lines_per_second = 0;
  uint32_t retention_days = 0;
};

class AdminService final : public v1::AdminService::CallbackService {
 public:
  AdminService(store::Store* store, const AppDefaults& defaults)
      : store_(store), catalog_(&store->catalog()), defaults_(defaults) {}

  grpc::ServerUnaryReactor* CreateApp(grpc::CallbackServerContext* context,
                                      const v1::CreateAppRequest* request,
                                      v1::CreateAppResponse* response) override;
  grpc::ServerUnaryReactor* ListApps(grpc::CallbackServerContext* context,
                                     const v1::ListAppsRequest* request,
                                     v1::ListAppsResponse* response) override;
  grpc::ServerUnaryReactor* UpdateApp(grpc::CallbackServerContext* context,
                                      const v1::UpdateAppRequest* request,
                                      v1::AppInfo* response) override;
  grpc::ServerUnaryReactor* CreateKey(grpc::CallbackServerContext* context,
                                      const v1::CreateKeyRequest* request,
                                      v1::CreateKeyResponse* response) override;
  grpc::ServerUnaryReactor* ListKeys(grpc::CallbackServerContext* context,
                                     const v1::ListKeysRequest* request,
                                     v1::ListKeysResponse* response) override;
  grpc::ServerUnaryReactor* RevokeKey(grpc::CallbackServerContext* context,
                                      const v1::RevokeKeyRequest* request,
                                      v1::KeyInfo* response) override;
  grpc::ServerUnaryReactor* EraseUser(grpc::CallbackServerContext* context,
                                      const v1::EraseUserRequest* request,
                                      v1::EraseUserResponse* response) override;
  grpc::ServerUnaryReactor* CreateCheckpoint(grpc::CallbackServerContext* context,
                                             const v1::CreateCheckpointRequest* request,
                                             v1::CreateCheckpointResponse* response) override;
  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* context,
                                      const v1::ListAuditRequest* request,
                                      v1::ListAuditResponse* response) override;

 private:
  // Runs `body` if the call carries the admin token, and finishes the call
  // with its status.
  grpc::ServerUnaryReactor* AsAdmin(grpc::CallbackServerContext* context,
                                    const std::function<absl::Status()>& body);
  absl::StatusOr<store::AppRecord> FindApp(absl::string_view name) const;
  void FillAppInfo(const store::AppRecord& app, v1::AppInfo* info) const;

  store::Store* const store_;
  store::Catalog* const catalog_;
  const AppDefaults defaults_;
};

}  // namespace fieldlog::server

#endif  // FIELDLOG_SERVER_ADMIN_SERVICE_H_
