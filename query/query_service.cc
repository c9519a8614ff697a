#include "query/query_service.h"

#include <vector>

#include "common/grpc_status.h"
#include "query/handlers.h"

namespace fieldlog::query {
namespace {

constexpr absl::string_view kTokenHeader = "x-fieldlog-token";

Caller CallerOf(const grpc::CallbackServerContext& context) {
  return Caller{CredentialFromMetadata(context, kTokenHeader), context.peer()};
}

// Writes precomputed chunks one after another, then finishes. Created with new
// and deleted by itself in OnDone, as gRPC's callback API prescribes.
class ChunkWriter final : public grpc::ServerWriteReactor<v1::SearchResponse> {
 public:
  explicit ChunkWriter(const absl::Status& error) { Finish(ToGrpcStatus(error)); }

  explicit ChunkWriter(std::vector<v1::SearchResponse> chunks) : chunks_(std::move(chunks)) {
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
    if (next_ == chunks_.size()) {
      Finish(grpc::Status::OK);
    } else {
      StartWrite(&chunks_[next_]);
    }
  }

  std::vector<v1::SearchResponse> chunks_;
  size_t next_ = 0;
};

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
  absl::StatusOr<v1::SearchResponse> page = handlers_.Search(CallerOf(*context), *request);
  if (!page.ok()) return new ChunkWriter(page.status());
  // Stream the page in chunks; the cursor rides on the last one.
  std::vector<v1::SearchResponse> chunks(1);
  for (v1::LogLine& line : *page->mutable_lines()) {
    if (chunks.back().lines_size() == static_cast<int>(kLinesPerChunk)) chunks.emplace_back();
    *chunks.back().add_lines() = std::move(line);
  }
  chunks.back().set_next_cursor(page->next_cursor());
  return new ChunkWriter(std::move(chunks));
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
