#include "query/query_service.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "common/grpc_status.h"
#include "google/protobuf/arena.h"
#include "query/handlers.h"

namespace fieldlog::query {
namespace {

constexpr absl::string_view kTokenHeader = "x-fieldlog-token";

Caller CallerOf(const grpc::CallbackServerContext& context) {
  return Caller{CredentialFromMetadata(context, kTokenHeader), context.peer()};
}

// Writes precomputed chunks one after another, then finishes. Created with new
// and deleted by itself in OnDone, as gRPC's callback API prescribes. The
// chunks live on the writer's arena: a page of 10,000 lines is built and
// freed without an allocation per line and string.
class ChunkWriter final : public grpc::ServerWriteReactor<v1::SearchResponse> {
 public:
  explicit ChunkWriter(const absl::Status& error) { Finish(ToGrpcStatus(error)); }

  ChunkWriter(std::unique_ptr<google::protobuf::Arena> arena,
              std::vector<v1::SearchResponse*> chunks)
      : arena_(std::move(arena)), chunks_(std::move(chunks)) {
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
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
      StartWriteAndFinish(chunks_[next_], grpc::WriteOptions(), grpc::Status::OK);
    } else if (next_ == chunks_.size()) {
      Finish(grpc::Status::OK);
    } else {
      StartWrite(chunks_[next_]);
    }
  }

  std::unique_ptr<google::protobuf::Arena> arena_;  // owns the chunks
  std::vector<v1::SearchResponse*> chunks_;
  size_t next_ = 0;
};

// Splits a page built on `arena` into chunks of at most kLinesPerChunk lines
// (same arena: the lines move by pointer); the cursor rides on the last one.
std::vector<v1::SearchResponse*> SplitPage(google::protobuf::Arena* arena,
                                           v1::SearchResponse* page) {
  if (page->lines_size() <= static_cast<int>(kLinesPerChunk)) return {page};
  google::protobuf::RepeatedPtrField<v1::LogLine>* all = page->mutable_lines();
  std::vector<v1::LogLine*> lines(static_cast<size_t>(all->size()));
  all->UnsafeArenaExtractSubrange(0, all->size(), lines.data());
  std::vector<v1::SearchResponse*> chunks;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i % kLinesPerChunk == 0) {
      chunks.push_back(google::protobuf::Arena::CreateMessage<v1::SearchResponse>(arena));
      chunks.back()->mutable_lines()->Reserve(
          static_cast<int>(std::min(kLinesPerChunk, lines.size() - i)));
    }
    chunks.back()->mutable_lines()->UnsafeArenaAddAllocated(lines[i]);
  }
  chunks.back()->set_next_cursor(page->next_cursor());
  return chunks;
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

grpc::ServerWriteReactor<v1::SearchResponse>* QueryService::Search(
    grpc::CallbackServerContext* context, const v1::SearchRequest* request) {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 64 << 10;
  options.max_block_size = 1 << 20;
  auto arena = std::make_unique<google::protobuf::Arena>(options);
  v1::SearchResponse* page =
      google::protobuf::Arena::CreateMessage<v1::SearchResponse>(arena.get());
  if (absl::Status s = handlers_.SearchInto(CallerOf(*context), *request, page); !s.ok()) {
    return new ChunkWriter(s);
  }
  std::vector<v1::SearchResponse*> chunks = SplitPage(arena.get(), page);
  return new ChunkWriter(std::move(arena), std::move(chunks));
}

grpc::ServerWriteReactor<v1::SearchResponse>* QueryService::Tail(
    grpc::CallbackServerContext* context, const v1::TailRequest* request) {
  absl::StatusOr<ReadAccess> access = handlers_.AuthorizeTail(CallerOf(*context), *request);
  if (!access.ok()) return new ChunkWriter(access.status());
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
