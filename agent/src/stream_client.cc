#include "agent/src/stream_client.h"

namespace fieldlog::agent {

StreamClient::StreamClient(v1::IngestService::Stub* stub, const std::string& ingest_key,
                           v1::Hello hello, EventCallback on_event)
    : on_event_(std::move(on_event)) {
  context_.AddMetadata("authorization", "Bearer " + ingest_key);
  stub->async()->Stream(&context_, this);
  v1::IngestRequest request;
  *request.mutable_hello() = std::move(hello);
  queue_.push_back(std::move(request));
}

void StreamClient::Start() {
  // Operations are started from the agent's thread, outside reactions, so the
  // stream needs a hold until we know no more will come.
  AddHold();
  {
    absl::MutexLock lock(&mu_);
    writing_ = true;
    StartWrite(&queue_.front());
  }
  StartRead(&response_);
  StartCall();
}

void StreamClient::Send(v1::IngestRequest request) {
  absl::MutexLock lock(&mu_);
  if (closing_ || !holding_) return;
  queue_.push_back(std::move(request));
  if (!writing_) {
    writing_ = true;
    StartWrite(&queue_.front());
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
    StartWrite(&queue_.front());
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
  on_event_(StreamEvent{StreamEvent::Type::kResponse, std::move(response_), grpc::Status::OK});
  response_.Clear();
  StartRead(&response_);
}

void StreamClient::OnDone(const grpc::Status& status) {
  on_event_(StreamEvent{StreamEvent::Type::kDone, {}, status});
}

void StreamClient::ReleaseLocked() {
  if (holding_) {
    holding_ = false;
    RemoveHold();
  }
}

}  // namespace fieldlog::agent
