#include "common/grpc_status.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace fieldlog {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share their numbering (both follow
  // google.rpc.Code).
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

namespace {

// Whole milliseconds, rounded up, at least 1.
int64_t RetryMillis(absl::Duration retry_after) {
  return std::max<int64_t>(
      1, absl::ToInt64Milliseconds(absl::Ceil(retry_after, absl::Milliseconds(1))));
}

}  // namespace

grpc::Status RetryableStatus(grpc::StatusCode code, absl::string_view message,
                             absl::Duration retry_after) {
  const int64_t millis = RetryMillis(retry_after);
  const std::string text = absl::StrCat(message, "; retry after ", millis, " ms");
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(millis / 1000);
  retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(millis % 1000) * 1000000);
  google::rpc::Status details;
  details.set_code(static_cast<int32_t>(code));
  details.set_message(text);
  details.add_details()->PackFrom(retry);
  return grpc::Status(code, text, details.SerializeAsString());
}

void AddRetryPushback(grpc::ServerContextBase* context, absl::Duration retry_after) {
  context->AddTrailingMetadata("grpc-retry-pushback-ms", absl::StrCat(RetryMillis(retry_after)));
}

std::optional<std::string> CredentialFromMetadata(const grpc::ServerContextBase& context,
                                                  absl::string_view alternate_header) {
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    absl::string_view value(it->second.data(), it->second.size());
    if (absl::ConsumePrefix(&value, "Bearer ") || absl::ConsumePrefix(&value, "bearer ")) {
      return std::string(absl::StripAsciiWhitespace(value));
    }
  }
  if (auto it = metadata.find(grpc::string_ref(alternate_header.data(), alternate_header.size()));
      it != metadata.end()) {
    return std::string(
        absl::StripAsciiWhitespace(absl::string_view(it->second.data(), it->second.size())));
  }
  return std::nullopt;
}

}  // namespace fieldlog
