// Conversions between absl::Status (used inside fieldlog) and grpc::Status (on
// the wire), and reading credentials out of request metadata.
#ifndef FIELDLOG_COMMON_GRPC_STATUS_H_
#define FIELDLOG_COMMON_GRPC_STATUS_H_

#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"

namespace fieldlog {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// The credential a client sent: `authorization: Bearer <secret>`, or else the
// value of `alternate_header` (e.g. "x-fieldlog-key"). nullopt when neither is
// present.
std::optional<std::string> CredentialFromMetadata(const grpc::ServerContextBase& context,
                                                  absl::string_view alternate_header);

}  // namespace fieldlog

#endif  // FIELDLOG_COMMON_GRPC_STATUS_H_
