// IngestService: the gRPC face of the collector (proto/fieldlog/v1/ingest.proto),
// written with gRPC's callback API.
//
// Requests arrive as raw bytes and are decoded here, so a malformed protobuf
// gets INVALID_ARGUMENT with a message saying which request was bad, not a
// generic transport error. A batch is decoded straight from the wire
// (wire_batch.h): its entries view the request's bytes (gRPC's slice, or one
// copy when the request came in several) or the bytes a compressed batch
// unpacked to, which the batch keeps until it is stored. No allocation per
// entry or string: protobuf's parser made one for every string field, arena
// or not.
//
// Each device stream is a reactor that reads requests, queues batches and
// stores them in order on the WorkerPool (never on gRPC's threads, which must
// not block on disk). An ack is written once its batch is durable under the
// store's sync policy. A stream reads ahead at most kMaxOutstanding batches
// (queued, being stored, or awaiting fsync or the client), so a slow disk or a
// client that does not read its acks is pushed back through gRPC flow control
// instead of making the server buffer without end.
//
// However a stream ends (the client is done, a request is bad, a rate limit
// is hit, the server drains), the batches read before are still stored and
// acked first; only a client that went away loses its unacked batches (and
// resends them). Over a rate limit the stream ends with RESOURCE_EXHAUSTED, a
// google.rpc.RetryInfo and the `grpc-retry-pushback-ms` trailer.
//
// Drain() ends every stream with UNAVAILABLE once its queued batches are
// stored and acked: used on SIGTERM, so agents reconnect and resend only what
// was not acknowledged.
#ifndef FIELDLOG_COLLECTOR_INGEST_SERVICE_H_
#define FIELDLOG_COLLECTOR_INGEST_SERVICE_H_

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "collector/ingest_core.h"
#include "common/worker_pool.h"
#include "fieldlog/v1/ingest.grpc.pb.h"

namespace fieldlog::collector {

class StreamReactor;

class IngestService final
    : public v1::IngestService::WithRawCallbackMethod_Stream<
          v1::IngestService::WithRawCallbackMethod_Push<v1::IngestService::Service>> {
 public:
  // Batches a stream may have read but not yet had acknowledged.
  static constexpr size_t kMaxOutstanding = 4;

  IngestService(IngestCore* core, WorkerPool* workers) : core_(core), workers_(workers) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Stream(
      grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* Push(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;

  // Ends every open stream (and every stream opened from now on) gracefully.
  void Drain();

  size_t open_streams() const;

 private:
  friend class StreamReactor;
  // Returns false if the service is draining (the stream should end at once).
  bool Register(StreamReactor* stream);
  void Unregister(StreamReactor* stream);

  IngestCore* const core_;
  WorkerPool* const workers_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<StreamReactor*> streams_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fieldlog::collector

#endif  // FIELDLOG_COLLECTOR_INGEST_SERVICE_H_
