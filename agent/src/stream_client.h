// StreamClient: one attempt at the ingest stream, as a gRPC callback-API
// client reactor over raw bytes (the agent frames its batches itself, see
// wire.h). It sends the Hello, then whatever the agent queues with Send(),
// and reports every reply and the stream's end (with the server's
// grpc-retry-pushback-ms, when it asked the agent to wait) through a callback.
//
// Lifetime: the owner creates it, calls Start(), and may destroy it only after
// the `on_event` callback has delivered kDone (gRPC's last reaction). Send(),
// Close() and Cancel() may be called from any thread until then.
#ifndef FIELDLOG_AGENT_SRC_STREAM_CLIENT_H_
#define FIELDLOG_AGENT_SRC_STREAM_CLIENT_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "fieldlog/v1/ingest.pb.h"

namespace fieldlog::agent {

inline constexpr char kStreamMethod[] = "/fieldlog.v1.IngestService/Stream";

struct StreamEvent {
  enum class Type { kResponse, kDone };
  Type type = Type::kResponse;
  v1::IngestResponse response;  // kResponse
  grpc::Status status;          // kDone
  int64_t pushback_ms = -1;     // kDone: the server's retry delay, -1 if none
};

class StreamClient final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  using EventCallback = std::function<void(StreamEvent)>;

  // `hello` is a serialized IngestRequest holding the Hello. With `gzip`,
  // gRPC gzips the messages sent, except those Send() says are compressed.
  StreamClient(grpc::GenericStub* stub, const std::string& ingest_key, bool gzip,
               const std::string& hello, EventCallback on_event);

  void Start();
  // Queues a serialized IngestRequest; ignored once the stream is closing.
  // `compressed`: the request is compressed already (compressed_batch), so
  // gRPC does not compress it again.
  void Send(const std::string& request, bool compressed = false);
  // Half-closes the stream: the server answers what it has and ends the call.
  void Close();
  // Ends the call now.
  void Cancel() { context_.TryCancel(); }

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnWritesDoneDone(bool ok) override {}
  void OnDone(const grpc::Status& status) override;

 private:
  void ReleaseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  grpc::ClientContext context_;
  EventCallback on_event_;
  grpc::ByteBuffer response_;  // filled by gRPC between StartRead and OnReadDone

  absl::Mutex mu_;
  struct Queued {
    grpc::ByteBuffer buffer;
    grpc::WriteOptions options;
  };
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  // The hold that lets Send() start writes from outside reactions; released
  // when the stream can carry no more writes.
  bool holding_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_STREAM_CLIENT_H_
