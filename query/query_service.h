// QueryService: the gRPC face of the query side (proto/fieldlog/v1/query.proto),
// written with gRPC's callback API. Every call is authorised (a read token
// reads its own app, the admin token every app) and recorded in the audit
// trail before it is answered.
#ifndef FIELDLOG_QUERY_QUERY_SERVICE_H_
#define FIELDLOG_QUERY_QUERY_SERVICE_H_

#include "common/worker_pool.h"
#include "fieldlog/v1/query.grpc.pb.h"
#include "query/tail.h"
#include "store/store.h"

namespace fieldlog::query {

// Lines per streamed SearchResponse.
inline constexpr size_t kLinesPerChunk = 500;

class QueryService final : public v1::QueryService::CallbackService {
 public:
  QueryService(store::Store* store, TailHub* tails, WorkerPool* workers)
      : store_(store), tails_(tails), workers_(workers) {}

  grpc::ServerWriteReactor<v1::SearchResponse>* Search(grpc::CallbackServerContext* context,
                                                       const v1::SearchRequest* request) override;
  grpc::ServerUnaryReactor* ListDevices(grpc::CallbackServerContext* context,
                                        const v1::ListDevicesRequest* request,
                                        v1::ListDevicesResponse* response) override;
  grpc::ServerWriteReactor<v1::SearchResponse>* Tail(grpc::CallbackServerContext* context,
                                                     const v1::TailRequest* request) override;
  grpc::ServerUnaryReactor* GetDevice(grpc::CallbackServerContext* context,
                                      const v1::GetDeviceRequest* request,
                                      v1::DeviceDetails* response) override;
  grpc::ServerUnaryReactor* FindUsers(grpc::CallbackServerContext* context,
                                      const v1::FindUsersRequest* request,
                                      v1::FindUsersResponse* response) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* context,
                                  const v1::StatsRequest* request,
                                  v1::StatsResponse* response) override;
  grpc::ServerUnaryReactor* Affected(grpc::CallbackServerContext* context,
                                     const v1::AffectedRequest* request,
                                     v1::AffectedResponse* response) override;
  grpc::ServerUnaryReactor* ListIssues(grpc::CallbackServerContext* context,
                                       const v1::ListIssuesRequest* request,
                                       v1::ListIssuesResponse* response) override;

 private:
  store::Store* const store_;
  TailHub* const tails_;
  WorkerPool* const workers_;
};

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_QUERY_SERVICE_H_
