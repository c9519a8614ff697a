#include "agent/src/stream_client.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <cstdlib>

namespace fieldlog::agent {
namespace {

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

StreamClient::StreamClient(grpc::GenericStub* stub, const std::string& ingest_key, bool gzip,
                           const std::string& hello, EventCallback on_event)
    : on_event_(std::move(on_event)) {
  context_.AddMetadata("authorization", "Bearer " + ingest_key);
  if (gzip) context_.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  stub->PrepareBidiStreamingCall(&context_, kStreamMethod, grpc::StubOptions(), this);
  // The Hello is small: compressing it would only cost CPU.
  queue_.push_back({ToBuffer(hello), grpc::WriteOptions().set_no_compression()});
}

void StreamClient::Start() {
  // Operations are started from the agent's thread, outside reactions, so the
  // stream needs a hold until we know no more will come.
  AddHold();
  {
    absl::MutexLock lock(&mu_);
    writing_ = true;
    StartWrite(&queue_.front().buffer, queue_.front().options);
  }
  StartRead(&response_);
  StartCall();
}

void StreamClient::Send(const std::string& request, bool compressed) {
  absl::MutexLock lock(&mu_);
  if (closing_ || !holding_) return;
  grpc::WriteOptions options;
  if (compressed) options.set_no_compression();
  queue_.push_back({ToBuffer(request), options});
  if (!writing_) {
    writing_ = true;
    StartWrite(&queue_.front().buffer, queue_.front().options);
  }
}

void StreamClient::Close() {
  absl::MutexLock lock(&mu_);
  if (closing_) return;
  closing_ = true;
  if (!writing_) {
    if (holding_) StartWritesDone();
    ReleaseLocked();
  }
}

void StreamClient::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  writing_ = false;
  if (!ok) {
    // The stream is broken; OnReadDone/OnDone will report why.
    queue_.clear();
    ReleaseLocked();
    return;
  }
  queue_.pop_front();
  if (!queue_.empty()) {
    writing_ = true;
    StartWrite(&queue_.front().buffer, queue_.front().options);
  } else if (closing_) {
    if (holding_) StartWritesDone();
    ReleaseLocked();
  }
}

void StreamClient::OnReadDone(bool ok) {
  if (!ok) {
    // The server ended the call; release the hold so OnDone can follow.
    absl::MutexLock lock(&mu_);
    ReleaseLocked();
    return;
  }
  StreamEvent event;
  if (!grpc::SerializationTraits<v1::IngestResponse>::Deserialize(&response_, &event.response)
           .ok()) {
    Cancel();
    return;
  }
  on_event_(std::move(event));
  StartRead(&response_);
}

void StreamClient::OnDone(const grpc::Status& status) {
  StreamEvent event;
  event.type = StreamEvent::Type::kDone;
  event.status = status;
  const auto& trailers = context_.GetServerTrailingMetadata();
  if (auto it = trailers.find("grpc-retry-pushback-ms"); it != trailers.end()) {
    const std::string value(it->second.data(), it->second.size());
    char* end = nullptr;
    const long long ms = std::strtoll(value.c_str(), &end, 10);
    if (end != value.c_str() && ms >= 0) event.pushback_ms = ms;
  }
  on_event_(std::move(event));
}

void StreamClient::ReleaseLocked() {
  if (holding_) {
    holding_ = false;
    RemoveHold();
  }
}

}  // namespace fieldlog::agent
