// AdminService: apps and keys (proto/fieldlog/v1/admin.proto). Every call needs
// the admin token.
#ifndef FIELDLOG_SERVER_ADMIN_SERVICE_H_
#define FIELDLOG_SERVER_ADMIN_SERVICE_H_

#include "fieldlog/v1/admin.grpc.pb.h"
#include "store/catalog.h"

namespace fieldlog::server {

class AdminService final : public v1::AdminService::CallbackService {
 public:
  explicit AdminService(store::Catalog* catalog) : catalog_(catalog) {}

  grpc::ServerUnaryReactor* CreateApp(grpc::CallbackServerContext* context,
                                      const v1::CreateAppRequest* request,
                                      v1::CreateAppResponse* response) override;
  grpc::ServerUnaryReactor* ListApps(grpc::CallbackServerContext* context,
                                     const v1::ListAppsRequest* request,
                                     v1::ListAppsResponse* response) override;

 private:
  absl::Status CheckAdmin(const grpc::CallbackServerContext& context) const;

  store::Catalog* const catalog_;
};

}  // namespace fieldlog::server

#endif  // FIELDLOG_SERVER_ADMIN_SERVICE_H_
