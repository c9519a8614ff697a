// QueryService: the gRPC face of search (proto/fieldlog/v1/query.proto),
// written with gRPC's callback API.
#ifndef FIELDLOG_QUERY_QUERY_SERVICE_H_
#define FIELDLOG_QUERY_QUERY_SERVICE_H_

#include "fieldlog/v1/query.grpc.pb.h"
#include "store/store.h"

namespace fieldlog::query {

// Lines per streamed SearchResponse.
inline constexpr size_t kLinesPerChunk = 500;

class QueryService final : public v1::QueryService::CallbackService {
 public:
  explicit QueryService(store::Store* store) : store_(store) {}

  grpc::ServerWriteReactor<v1::SearchResponse>* Search(grpc::CallbackServerContext* context,
                                                       const v1::SearchRequest* request) override;

  grpc::ServerUnaryReactor* ListDevices(grpc::CallbackServerContext* context,
                                        const v1::ListDevicesRequest* request,
                                        v1::ListDevicesResponse* response) override;

 private:
  store::Store* const store_;
};

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_QUERY_SERVICE_H_
