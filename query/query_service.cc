#include "query/query_service.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/grpc_status.h"
#include "query/handlers.h"
#include "query/line_encoder.h"

namespace fieldlog::query {
namespace {

constexpr absl::string_view kTokenHeader = "x-fieldlog-token";

Caller CallerOf(const grpc::CallbackServerContext& context) {
  return Caller{CredentialFromMetadata(context, kTokenHeader), context.peer()};
}

// Writes precomputed chunks one after another, the last with the status,
// then deletes itself in OnDone, as gRPC's callback API prescribes. Search
// sends its pages as chunks of encoded lines; Tail uses it for refusals.
template <typename Message>
class ChunkWriter final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit ChunkWriter(const absl::Status& error) { this->Finish(ToGrpcStatus(error)); }

  explicit ChunkWriter(std::vector<Message> chunks) : chunks_(std::move(chunks)) { WriteNext(); }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    ++next_;
    WriteNext();
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    if (next_ + 1 == chunks_.size()) {
      // The last chunk goes out with the status in one write: a page of one
      // chunk (most) costs the server one round of callbacks, not two.
      this->StartWriteAndFinish(&chunks_[next_], grpc::WriteOptions(), grpc::Status::OK);
    } else if (next_ == chunks_.size()) {
      this->Finish(grpc::Status::OK);
    } else {
      this->StartWrite(&chunks_[next_]);
    }
  }

  std::vector<Message> chunks_;
  size_t next_ = 0;
};

// A slice that takes `bytes` over instead of copying them: a page of 10,000
// lines is a few MiB. gRPC calls the destroy function once it has sent them.
grpc::Slice SliceOwning(std::string bytes) {
  auto owned = std::make_unique<std::string>(std::move(bytes));
  char* data = owned->data();
  const size_t size = owned->size();
  return grpc::Slice(
      data, size,
      [](void* string) { std::unique_ptr<std::string> adopted(static_cast<std::string*>(string)); },
      owned.release());
}

// Finishes a unary call with a handler's result.
template <typename Response>
grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context,
                                absl::StatusOr<Response> result, Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (result.ok()) *response = *std::move(result);
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* QueryService::Search(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes) {
  using Writer = ChunkWriter<grpc::ByteBuffer>;
  v1::SearchRequest request;
  grpc::ByteBuffer copy(*request_bytes);  // Deserialize consumes its buffer
  if (!grpc::SerializationTraits<v1::SearchRequest>::Deserialize(&copy, &request).ok()) {
    return new Writer(absl::InvalidArgumentError("the SearchRequest does not parse"));
  }
  // The page's lines go straight from the blocks into wire bytes
  // (line_encoder.h), kLinesPerChunk to a SearchResponse.
  std::vector<std::string> chunks(1);
  size_t lines_in_chunk = 0;
  std::string next_cursor;
  const absl::Status status = handlers_.SearchEach(
      CallerOf(*context), request,
      [&](const store::BlockReader& block, size_t row, absl::string_view app,
          absl::string_view device_id) {
        if (lines_in_chunk == kLinesPerChunk) {
          // Later chunks start with room for about as much as the first
          // took, so a page's bytes are not copied again and again as a
          // chunk grows.
          const size_t first_size = chunks.front().size();
          chunks.emplace_back().reserve(first_size + first_size / 8);
          lines_in_chunk = 0;
        }
        AppendLogLineField(block, row, app, device_id, &chunks.back());
        ++lines_in_chunk;
      },
      &next_cursor);
  if (!status.ok()) return new Writer(status);
  AppendNextCursorField(next_cursor, &chunks.back());
  std::vector<grpc::ByteBuffer> buffers;
  buffers.reserve(chunks.size());
  for (std::string& chunk : chunks) {
    grpc::Slice slice = SliceOwning(std::move(chunk));
    buffers.emplace_back(&slice, 1);
  }
  return new Writer(std::move(buffers));
}

grpc::ServerWriteReactor<v1::SearchResponse>* QueryService::Tail(
    grpc::CallbackServerContext* context, const v1::TailRequest* request) {
  absl::StatusOr<ReadAccess> access = handlers_.AuthorizeTail(CallerOf(*context), *request);
  if (!access.ok()) return new ChunkWriter<v1::SearchResponse>(access.status());
  return StartTail(handlers_.store(), tails_, workers_, access->app, *request);
}

grpc::ServerUnaryReactor* QueryService::ListDevices(grpc::CallbackServerContext* context,
                                                    const v1::ListDevicesRequest* request,
                                                    v1::ListDevicesResponse* response) {
  return Reply(context, handlers_.ListDevices(CallerOf(*context), *request), response);
}

grpc::ServerUnaryReactor* QueryService::GetDevice(grpc::CallbackServerContext* context,
                                                  const v1::GetDeviceRequest* request,
                                                  v1::DeviceDetails* response) {
  return Reply(context, handlers_.GetDevice(CallerOf(*context), *request), response);
}

grpc::ServerUnaryReactor* QueryService::FindUsers(grpc::CallbackServerContext* context,
                                                  const v1::FindUsersRequest* request,
                                                  v1::FindUsersResponse* response) {
  return Reply(context, handlers_.FindUsers(CallerOf(*context), *request), response);
}

grpc::ServerUnaryReactor* QueryService::Stats(grpc::CallbackServerContext* context,
                                              const v1::StatsRequest* request,
                                              v1::StatsResponse* response) {
  return Reply(context, handlers_.Stats(CallerOf(*context), *request), response);
}

grpc::ServerUnaryReactor* QueryService::Affected(grpc::CallbackServerContext* context,
                                                 const v1::AffectedRequest* request,
                                                 v1::AffectedResponse* response) {
  return Reply(context, handlers_.Affected(CallerOf(*context), *request), response);
}

grpc::ServerUnaryReactor* QueryService::ListIssues(grpc::CallbackServerContext* context,
                                                   const v1::ListIssuesRequest* request,
                                                   v1::ListIssuesResponse* response) {
  return Reply(context, handlers_.ListIssues(CallerOf(*context), *request), response);
}

}  // namespace fieldlog::query
