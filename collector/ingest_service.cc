#include "absl/strings/string_view.h"
#include "collector/ingest_service.h"

#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "collector/validation.h"
#include "common/grpc_status.h"

namespace fieldlog::collector {
namespace {

constexpr absl::string_view kKeyHeader = "x-fieldlog-key";

// Replies queued for a client before the reactor stops reading its requests.
constexpr size_t kMaxQueuedReplies = 16;

// One device stream. gRPC's callback API owns the reactor's lifetime: it is
// created with new in IngestService::Stream and deletes itself in OnDone,
// after gRPC's last reaction.
class StreamReactor final : public grpc::ServerBidiReactor<v1::IngestRequest, v1::IngestResponse> {
 public:
  StreamReactor(IngestCore* core, grpc::CallbackServerContext* context) : core_(core) {
    absl::StatusOr<store::Credential> app =
        core_->AuthenticateIngest(CredentialFromMetadata(*context, kKeyHeader));
    if (!app.ok()) {
      Finish(ToGrpcStatus(app.status()));
      return;
    }
    app_ = *std::move(app);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    if (!ok) {
      // The client closed its side (or the call is cancelled): end once the
      // queued replies are out.
      EndLocked(grpc::Status::OK);
      return;
    }
    absl::Status status = HandleLocked();
    if (!status.ok()) {
      EndLocked(ToGrpcStatus(status));
      return;
    }
    if (pending_.size() < kMaxQueuedReplies) {
      reading_ = true;
      StartRead(&request_);
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      // The client is gone; nothing more can be delivered.
      pending_.clear();
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken"));
      }
      return;
    }
    pending_.pop_front();
    if (!pending_.empty()) {
      writing_ = true;
      StartWrite(&pending_.front());
    } else if (end_status_) {
      FinishLocked();
      return;
    }
    if (!reading_ && !end_status_ && pending_.size() < kMaxQueuedReplies) {
      reading_ = true;
      StartRead(&request_);
    }
  }

  void OnDone() override { delete this; }

 private:
  absl::Status HandleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    switch (request_.kind_case()) {
      case v1::IngestRequest::kHello:
        return HandleHelloLocked(request_.hello());
      case v1::IngestRequest::kBatch:
        return HandleBatchLocked(request_.batch());
      case v1::IngestRequest::KIND_NOT_SET:
        break;
    }
    return absl::InvalidArgumentError("request holds neither a hello nor a batch");
  }

  absl::Status HandleHelloLocked(const v1::Hello& hello) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (said_hello_) return absl::InvalidArgumentError("a second hello on the same stream");
    if (absl::Status s = ValidateDevice(hello.device()); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("hello: ", s.message()));
    }
    absl::StatusOr<uint64_t> watermark = core_->Watermark(app_, hello.device());
    if (!watermark.ok()) return watermark.status();
    device_ = hello.device();
    said_hello_ = true;
    v1::IngestResponse reply;
    reply.mutable_welcome()->set_app(app_.app_name);
    reply.mutable_welcome()->set_watermark(*watermark);
    QueueLocked(std::move(reply));
    return absl::OkStatus();
  }

  absl::Status HandleBatchLocked(const v1::Batch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!said_hello_) {
      return absl::InvalidArgumentError(
          "batch before hello: the first message of a stream must be a hello naming the device");
    }
    absl::StatusOr<v1::Ack> ack = core_->StoreBatch(app_, device_, !device_stored_, batch);
    if (!ack.ok()) return ack.status();
    device_stored_ = true;
    v1::IngestResponse reply;
    *reply.mutable_ack() = *std::move(ack);
    QueueLocked(std::move(reply));
    return absl::OkStatus();
  }

  void QueueLocked(v1::IngestResponse reply) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    pending_.push_back(std::move(reply));
    if (!writing_) {
      writing_ = true;
      StartWrite(&pending_.front());
    }
  }

  // Ends the call with `status` once every queued reply is written.
  void EndLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (end_status_) return;
    end_status_ = std::move(status);
    if (!writing_) FinishLocked();
  }

  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(*end_status_);
  }

  IngestCore* const core_;
  store::Credential app_;
  absl::Mutex mu_;
  v1::IngestRequest request_;  // written by gRPC between StartRead and OnReadDone
  v1::Device device_ ABSL_GUARDED_BY(mu_);
  bool said_hello_ ABSL_GUARDED_BY(mu_) = false;
  bool device_stored_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_ ABSL_GUARDED_BY(mu_) = true;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> end_status_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::IngestResponse> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerBidiReactor<v1::IngestRequest, v1::IngestResponse>* IngestService::Stream(
    grpc::CallbackServerContext* context) {
  return new StreamReactor(core_, context);
}

grpc::ServerUnaryReactor* IngestService::Push(grpc::CallbackServerContext* context,
                                              const v1::PushRequest* request,
                                              v1::PushResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const auto status = [&]() -> absl::Status {
    absl::StatusOr<store::Credential> app =
        core_->AuthenticateIngest(CredentialFromMetadata(*context, kKeyHeader));
    if (!app.ok()) return app.status();
    if (absl::Status s = ValidateDevice(request->device()); !s.ok()) return s;
    absl::StatusOr<v1::Ack> ack =
        core_->StoreBatch(*app, request->device(), /*update_device=*/true, request->batch());
    if (!ack.ok()) return ack.status();
    *response->mutable_ack() = *std::move(ack);
    return absl::OkStatus();
  }();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace fieldlog::collector
