// IngestService: the gRPC face of the collector (proto/fieldlog/v1/ingest.proto),
// written with gRPC's callback API. Each device stream is a reactor that reads
// one request at a time, stores batches through IngestCore and queues the
// replies; it stops reading while too many replies wait for a slow client, so
// a client that does not read its acks is pushed back by flow control instead
// of making the server buffer without end.
#ifndef FIELDLOG_COLLECTOR_INGEST_SERVICE_H_
#define FIELDLOG_COLLECTOR_INGEST_SERVICE_H_

#include "collector/ingest_core.h"
#include "fieldlog/v1/ingest.grpc.pb.h"

namespace fieldlog::collector {

class IngestService final : public v1::IngestService::CallbackService {
 public:
  explicit IngestService(IngestCore* core) : core_(core) {}

  grpc::ServerBidiReactor<v1::IngestRequest, v1::IngestResponse>* Stream(
      grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* Push(grpc::CallbackServerContext* context,
                                 const v1::PushRequest* request,
                                 v1::PushResponse* response) override;

 private:
  IngestCore* const core_;
};

}  // namespace fieldlog::collector

#endif  // FIELDLOG_COLLECTOR_INGEST_SERVICE_H_
