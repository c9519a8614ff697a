#include "collector/ingest_service.h"

#include <grpcpp/support/proto_buffer_reader.h>

#include <atomic>
#include <deque>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "collector/compressed_batch.h"
#include "collector/validation.h"
#include "collector/wire_batch.h"
#include "common/grpc_status.h"
#include "common/limits.h"
#include "common/log.h"

namespace fieldlog::collector {
namespace {

constexpr absl::string_view kKeyHeader = "x-fieldlog-key";

bool Parse(grpc::ByteBuffer* buffer, google::protobuf::Message* message) {
  grpc::ProtoBufferReader reader(buffer);
  return message->ParseFromZeroCopyStream(&reader);
}

grpc::ByteBuffer Serialize(const google::protobuf::Message& message) {
  grpc::ByteBuffer buffer;
  bool own_buffer;
  grpc::SerializationTraits<google::protobuf::Message>::Serialize(message, &buffer, &own_buffer);
  return buffer;
}

std::string StatusCodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

grpc::Status Throttled(grpc::ServerContextBase* context, absl::Duration wait) {
  AddRetryPushback(context, wait);
  return RetryableStatus(grpc::StatusCode::RESOURCE_EXHAUSTED,
                         "over the app's or the device's ingest rate limit", wait);
}

}  // namespace

// One device stream. gRPC's callback API owns the reactor's lifetime: it is
// created with new in IngestService::Stream and deletes itself in OnDone,
// which gRPC calls only after Finish. Finish waits until no worker task and
// no durability callback refers to the reactor any more.
class StreamReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamReactor(IngestService* service, grpc::CallbackServerContext* context)
      : service_(service), core_(service->core_), context_(context) {
    absl::StatusOr<store::Credential> app =
        core_->AuthenticateIngest(CredentialFromMetadata(*context, kKeyHeader));
    // Registered before taking mu_: Drain() locks the service, then streams.
    registered_ = app.ok() && service_->Register(this);
    absl::MutexLock lock(&mu_);
    if (!app.ok()) {
      EndLocked(ToGrpcStatus(app.status()));
    } else if (!registered_) {
      EndLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
    } else {
      app_ = *std::move(app);
      MaybeReadLocked();
    }
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    if (!ok) {
      // The client closed its side, or the call is over.
      EndLocked(grpc::Status::OK);
      return;
    }
    ++requests_read_;
    core_->metrics().bytes_received->Add(read_buffer_.Length());
    // The request in one piece, for the batch's views: the slice it arrived
    // in, or else one copy of its slices. On the heap, because a slice small
    // enough to be inlined carries its bytes with it when it is moved.
    auto bytes = std::make_unique<grpc::Slice>();
    if (!read_buffer_.TrySingleSlice(bytes.get()).ok() &&
        !read_buffer_.DumpToSingleSlice(bytes.get()).ok()) {
      bytes.reset();
    }
    read_buffer_.Clear();
    absl::Status status = HandleLocked(std::move(bytes));
    if (!status.ok()) return;  // HandleLocked ended the stream
    MaybeReadLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      // The client is gone; nothing more can be delivered.
      client_gone_ = true;
      replies_.clear();
      EndLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    replies_.pop_front();
    WriteNextLocked();
    MaybeReadLocked();
    MaybeFinishLocked();
  }

  void OnDone() override {
    if (registered_) service_->Unregister(this);
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      if (!finished_) {
        // gRPC ended the call without our Finish: nothing more may be
        // issued on it (done_ stops it); our tasks still hold the reactor.
        LogWarning("ingest.done_before_finish", {{"device", device_.device_id()}});
      }
    }
    // Deleted once the store worker and the group committer are done with
    // it too: Finish may come from either, holding mu_, while gRPC runs this
    // on another thread.
    Unref();
  }

  // Stop taking batches; end with UNAVAILABLE once the queued ones are acked.
  void Drain() {
    absl::MutexLock lock(&mu_);
    EndLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "the server is shutting down; reconnect and resend what was not "
                           "acknowledged"));
  }

 private:
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // `bytes`: the request's (null if gRPC could not hand them over).
  absl::Status HandleLocked(std::unique_ptr<grpc::Slice> bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::string_view view =
        bytes == nullptr
            ? absl::string_view()
            : absl::string_view(reinterpret_cast<const char*>(bytes->begin()), bytes->size());
    WireRequest request;
    absl::Status status;
    if (bytes == nullptr || !ReadIngestRequest(view, &request)) {
      status = MalformedRequest();
    } else {
      switch (request.kind) {
        case WireRequest::Kind::kBatch:
          status = HandleBatchLocked(std::move(request.batch), std::move(bytes));
          break;
        case WireRequest::Kind::kCompressedBatch:
          status = HandleCompressedBatchLocked(request.codec, request.compressed_data);
          break;
        case WireRequest::Kind::kUseProtobuf:
          status = HandleParsedLocked(view);
          break;
        case WireRequest::Kind::kNotSet:
          status = NeitherHelloNorBatch();
          break;
      }
    }
    if (!status.ok() && !end_status_) EndLocked(ToGrpcStatus(status));
    return status;
  }

  // A request ReadIngestRequest leaves to protobuf: a hello, or a request
  // that mixes kinds (protobuf's oneof rules decide which one it is).
  absl::Status HandleParsedLocked(absl::string_view bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::IngestRequest request;
    if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return MalformedRequest();
    }
    switch (request.kind_case()) {
      case v1::IngestRequest::kHello:
        return HandleHelloLocked(request.hello());
      case v1::IngestRequest::kBatch: {
        // Encoded again, so it is queued and stored like any other batch.
        auto owned = std::make_unique<OwnedWireBatch>();
        if (!ReencodeBatch(request.batch(), owned.get())) {
          return absl::InternalError(absl::StrCat("request ", requests_read_,
                                                  " of the stream: the batch did not re-encode"));
        }
        WireBatch batch = std::move(owned->batch);
        return HandleBatchLocked(std::move(batch), nullptr, std::move(owned));
      }
      case v1::IngestRequest::kCompressedBatch:
        return HandleCompressedBatchLocked(request.compressed_batch().codec(),
                                           request.compressed_batch().data());
      case v1::IngestRequest::KIND_NOT_SET:
        break;
    }
    return NeitherHelloNorBatch();
  }

  absl::Status HandleCompressedBatchLocked(int32_t codec, absl::string_view data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto unpacked = std::make_unique<OwnedWireBatch>();
    if (absl::Status s = DecompressBatch(codec, data, unpacked.get()); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("request ", requests_read_, " of the stream: ", s.message()));
    }
    WireBatch batch = std::move(unpacked->batch);
    return HandleBatchLocked(std::move(batch), nullptr, std::move(unpacked));
  }

  absl::Status MalformedRequest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return absl::InvalidArgumentError(
        absl::StrCat("request ", requests_read_,
                     " of the stream is not a valid fieldlog.v1.IngestRequest protobuf"));
  }

  absl::Status NeitherHelloNorBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request ", requests_read_, " of the stream holds neither a hello nor a batch"));
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
    reply.mutable_welcome()->add_batch_codecs(v1::CompressedBatch::CODEC_ZSTD);
    QueueReplyLocked(reply);
    return absl::OkStatus();
  }

  // `batch` views the request's bytes (a plain batch) or `owned`'s (one
  // that was compressed, or parsed by protobuf); they are queued with it and
  // kept until it is stored.
  absl::Status HandleBatchLocked(WireBatch&& batch, std::unique_ptr<grpc::Slice> request_bytes,
                                 std::unique_ptr<OwnedWireBatch> owned = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!said_hello_) {
      return absl::InvalidArgumentError(
          "batch before hello: the first message of a stream must be a hello naming the device");
    }
    const absl::Duration wait = core_->Admit(app_, device_.device_id(), batch.entry_count);
    if (wait > absl::ZeroDuration()) {
      EndLocked(Throttled(context_, wait));
      return absl::ResourceExhaustedError("throttled");
    }
    QueuedBatch& queued = work_.emplace_back();
    queued.received = absl::Now();
    queued.request_bytes = std::move(request_bytes);
    queued.owned = std::move(owned);
    queued.batch = std::move(batch);
    if (!storing_) {
      storing_ = true;
      Ref();
      service_->workers_->Submit([this] {
        StoreQueued();
        Unref();
      });
    }
    return absl::OkStatus();
  }

  // Runs on a worker: stores queued batches in order until none is left.
  void StoreQueued() {
    for (;;) {
      QueuedBatch queued;
      bool update_device;
      {
        absl::MutexLock lock(&mu_);
        // Once the stream is ending for an error, later batches are dropped
        // unacknowledged: the client resends them.
        if (work_.empty() || (end_status_ && !draining_)) {
          work_.clear();
          storing_ = false;
          MaybeReadLocked();
          MaybeFinishLocked();
          return;
        }
        queued = std::move(work_.front());
        work_.pop_front();
        update_device = !device_stored_;
        device_stored_ = true;
        ++awaiting_durable_;
      }
      absl::StatusOr<StoredBatch> stored =
          core_->StoreBatch(app_, device_, update_device, queued.batch);
      const absl::Time received = queued.received;
      queued = QueuedBatch();  // the request's memory goes back now, off gRPC's threads
      if (!stored.ok()) {
        absl::MutexLock lock(&mu_);
        --awaiting_durable_;
        EndLocked(ToGrpcStatus(stored.status()));
        continue;
      }
      // May run at once on this thread, or later on the group committer's.
      Ref();
      core_->WhenDurable(
          stored->sequence, [this, received, ack = std::move(stored->ack)](absl::Status s) {
            {
              absl::MutexLock lock(&mu_);
              --awaiting_durable_;
              if (s.ok()) {
                core_->metrics().ack_latency->ObserveDuration(absl::Now() - received);
                v1::IngestResponse reply;
                *reply.mutable_ack() = ack;
                QueueReplyLocked(reply);
              } else {
                EndLocked(ToGrpcStatus(s));
              }
              MaybeReadLocked();
              MaybeFinishLocked();
            }
            Unref();
          });
    }
  }

  void QueueReplyLocked(const v1::IngestResponse& reply) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (client_gone_) return;
    replies_.push_back(Serialize(reply));
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!writing_ && !replies_.empty() && !finished_ && !done_) {
      writing_ = true;
      StartWrite(&replies_.front());
    }
  }

  void MaybeReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const size_t outstanding =
        work_.size() + (storing_ ? 1 : 0) + awaiting_durable_ + replies_.size();
    if (!reading_ && !end_status_ && !done_ && outstanding < IngestService::kMaxOutstanding) {
      reading_ = true;
      StartRead(&read_buffer_);
    }
  }

  // Ends the call with `status` once everything accepted so far is acked.
  void EndLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // The first reason wins, except that an error found while storing what
    // the client sent before closing its side replaces the clean end.
    if (!end_status_ || (end_status_->ok() && !status.ok() && !finished_)) {
      end_status_ = std::move(status);
      // Batches read before the end are still stored and acked, unless the
      // client is gone and could not receive the acks anyway.
      draining_ = end_status_->error_code() != grpc::StatusCode::CANCELLED;
    }
    MaybeFinishLocked();
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!end_status_ || finished_ || done_ || storing_ || awaiting_durable_ > 0 || writing_ ||
        !replies_.empty()) {
      return;
    }
    finished_ = true;
    const grpc::StatusCode code = end_status_->error_code();
    if (code != grpc::StatusCode::OK) {
      core_->metrics().CallErrors(StatusCodeName(code))->Add();
      // A client that went away, a server that drains and a device told to
      // slow down are routine (throttling is counted in its own metric, and
      // a throttled fleet would otherwise flood the log).
      if (code != grpc::StatusCode::CANCELLED && code != grpc::StatusCode::UNAVAILABLE &&
          code != grpc::StatusCode::RESOURCE_EXHAUSTED) {
        LogWarning("ingest.stream_error", {{"app", app_.app_name},
                                           {"device", device_.device_id()},
                                           {"peer", context_->peer()},
                                           {"code", StatusCodeName(code)},
                                           {"message", end_status_->error_message()}});
      }
    }
    Finish(*end_status_);
  }

  IngestService* const service_;
  IngestCore* const core_;
  grpc::CallbackServerContext* const context_;
  store::Credential app_;
  bool registered_ = false;

  absl::Mutex mu_;
  grpc::ByteBuffer read_buffer_ ABSL_GUARDED_BY(mu_);
  uint64_t requests_read_ ABSL_GUARDED_BY(mu_) = 0;
  v1::Device device_ ABSL_GUARDED_BY(mu_);
  bool said_hello_ ABSL_GUARDED_BY(mu_) = false;
  bool device_stored_ ABSL_GUARDED_BY(mu_) = false;
  // A batch read and not yet stored, with the bytes it views.
  struct QueuedBatch {
    std::unique_ptr<grpc::Slice> request_bytes;  // a plain batch's request, or
    std::unique_ptr<OwnedWireBatch> owned;       // the bytes it was decoded from
    WireBatch batch;
    absl::Time received;  // for the ack latency
  };
  std::deque<QueuedBatch> work_ ABSL_GUARDED_BY(mu_);
  bool storing_ ABSL_GUARDED_BY(mu_) = false;         // a worker runs StoreQueued
  size_t awaiting_durable_ ABSL_GUARDED_BY(mu_) = 0;  // stored, ack not yet queued
  std::deque<grpc::ByteBuffer> replies_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool client_gone_ ABSL_GUARDED_BY(mu_) = false;
  // Set when the stream is to end; see EndLocked for what still happens.
  std::optional<grpc::Status> end_status_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // OnDone ran: issue nothing more
  // gRPC's reference (until OnDone), a running StoreQueued's and each pending
  // WhenDurable callback's; the last to let go deletes the reactor.
  std::atomic<int> refs_{1};
};

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* IngestService::Stream(
    grpc::CallbackServerContext* context) {
  return new StreamReactor(this, context);
}

bool IngestService::Register(StreamReactor* stream) {
  absl::MutexLock lock(&mu_);
  if (draining_) return false;
  streams_.insert(stream);
  return true;
}

void IngestService::Unregister(StreamReactor* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

void IngestService::Drain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  // A reactor unregisters itself in OnDone, which needs mu_: it cannot be
  // deleted while we hold the lock.
  for (StreamReactor* stream : streams_) stream->Drain();
}

size_t IngestService::open_streams() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

grpc::ServerUnaryReactor* IngestService::Push(grpc::CallbackServerContext* context,
                                              const grpc::ByteBuffer* request_bytes,
                                              grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Every way out counts in the metrics.
  const auto finish = [core = core_, reactor](const grpc::Status& status) {
    if (!status.ok()) core->metrics().CallErrors(StatusCodeName(status.error_code()))->Add();
    reactor->Finish(status);
  };
  core_->metrics().bytes_received->Add(request_bytes->Length());
  const absl::Time received = absl::Now();
  auto request = std::make_shared<v1::PushRequest>();
  grpc::ByteBuffer copy = *request_bytes;
  if (!Parse(&copy, request.get())) {
    finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the request is not a valid fieldlog.v1.PushRequest protobuf"));
    return reactor;
  }
  absl::StatusOr<store::Credential> app =
      core_->AuthenticateIngest(CredentialFromMetadata(*context, kKeyHeader));
  if (!app.ok()) {
    finish(ToGrpcStatus(app.status()));
    return reactor;
  }
  if (absl::Status s = ValidateDevice(request->device()); !s.ok()) {
    finish(ToGrpcStatus(s));
    return reactor;
  }
  const absl::Duration wait =
      core_->Admit(*app, request->device().device_id(), request->batch().entries_size());
  if (wait > absl::ZeroDuration()) {
    finish(Throttled(context, wait));
    return reactor;
  }
  // Stored on a worker; gRPC keeps the call (and response_bytes) alive until
  // Finish.
  workers_->Submit([this, finish, request, response_bytes, received, app = *std::move(app)] {
    absl::StatusOr<StoredBatch> stored =
        core_->StoreBatch(app, request->device(), /*update_device=*/true, request->batch());
    if (!stored.ok()) {
      finish(ToGrpcStatus(stored.status()));
      return;
    }
    core_->WhenDurable(stored->sequence, [this, finish, response_bytes, received,
                                          ack = std::move(stored->ack)](absl::Status s) {
      if (!s.ok()) {
        finish(ToGrpcStatus(s));
        return;
      }
      core_->metrics().ack_latency->ObserveDuration(absl::Now() - received);
      v1::PushResponse response;
      *response.mutable_ack() = ack;
      *response_bytes = Serialize(response);
      finish(grpc::Status::OK);
    });
  });
  return reactor;
}

}  // namespace fieldlog::collector
