#include "common/grpc_status.h"

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

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
    return std::string(absl::StripAsciiWhitespace(
        absl::string_view(it->second.data(), it->second.size())));
  }
  return std::nullopt;
}

}  // namespace fieldlog
