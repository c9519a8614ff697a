#include "query/query_service.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/grpc_status.h"
#include "query/handlers.h"
#include "query/search_stream.h"

namespace fieldlog::query {
namespace {

constexpr absl::string_view kTokenHeader = "x-fieldlog-token";

Caller CallerOf(const grpc::CallbackServerContext& context) {
  return Caller{CredentialFromMetadata(context, kTokenHeader), context.peer()};
}

// Ends a streaming call with an error at once, then deletes itself in
// OnDone, as gRPC's callback API prescribes: a request that does not parse,
// a tail refused.
template <typename Message>
class Refusal final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit Refusal(const absl::Status& error) { this->Finish(ToGrpcStatus(error)); }
  void OnDone() override { delete this; }
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

grpc::ServerWriteReactor<grpc::ByteBuffer>* QueryService::Search(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes) {
  v1::SearchRequest request;
  grpc::ByteBuffer copy(*request_bytes);  // Deserialize consumes its buffer
  if (!grpc::SerializationTraits<v1::SearchRequest>::Deserialize(&copy, &request).ok()) {
    return new Refusal<grpc::ByteBuffer>(
        absl::InvalidArgumentError("the SearchRequest does not parse"));
  }
  return StartSearchStream(&handlers_, search_workers_, CallerOf(*context), std::move(request));
}

grpc::ServerWriteReactor<v1::SearchResponse>* QueryService::Tail(
    grpc::CallbackServerContext* context, const v1::TailRequest* request) {
  absl::StatusOr<ReadAccess> access = handlers_.AuthorizeTail(CallerOf(*context), *request);
  if (!access.ok()) return new Refusal<v1::SearchResponse>(access.status());
  return StartTail(handlers_.store(), tails_, tail_workers_, access->app, *request);
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
