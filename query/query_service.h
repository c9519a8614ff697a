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

// Search is registered raw: it reads the request and streams the page as
// bytes, encoding lines straight from the store while it searches
// (search_stream.h). The wire format is query.proto's all the same.
//
// Searches run on `search_workers`, tails on `tail_workers`: neither blocks
// gRPC's callback threads on the disk, and a long search does not hold up the
// tails.
class QueryService final
    : public v1::QueryService::WithRawCallbackMethod_Search<v1::QueryService::CallbackService> {
 public:
  QueryService(QueryHandlers* handlers, TailHub* tails, WorkerPool* tail_workers,
               WorkerPool* search_workers)
      : handlers_(*handlers),
        tails_(tails),
        tail_workers_(tail_workers),
        search_workers_(search_workers) {}

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
  WorkerPool* const tail_workers_;
  WorkerPool* const search_workers_;
};

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_QUERY_SERVICE_H_
