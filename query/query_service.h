// QueryService: the gRPC face of the query side (proto/fieldlog/v1/query.proto),
// written with gRPC's callback API over QueryHandlers, which authorise every
// call and record it in the audit trail before answering.
#ifndef FIELDLOG_QUERY_QUERY_SERVICE_H_
#define FIELDLOG_QUERY_QUERY_SERVICE_H_

#include "common/worker_pool.h"
#include "fieldlog/v1/query.grpc.pb.h"
#include "query/handlers.h"
#include "query/tail.h"
#include "store/store.h"

namespace fieldlog::query {

// Lines per streamed SearchResponse.
inline constexpr size_t kLinesPerChunk = 500;

// Search is registered raw: it reads the request and writes the pages as
// bytes, encoding lines straight from the store (line_encoder.h). The wire
// format is query.proto's all the same.
class QueryService final
    : public v1::QueryService::WithRawCallbackMethod_Search<v1::QueryService::CallbackService> {
 public:
  QueryService(QueryHandlers* handlers, TailHub* tails, WorkerPool* workers)
      : handlers_(*handlers), tails_(tails), workers_(workers) {}

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Search(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request) override;
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
  QueryHandlers& handlers_;
  TailHub* const tails_;
  WorkerPool* const workers_;
};

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_QUERY_SERVICE_H_
