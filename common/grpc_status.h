// Conversions between absl::Status (used inside fieldlog) and grpc::Status (on
// the wire), and reading credentials out of request metadata.
#ifndef FIELDLOG_COMMON_GRPC_STATUS_H_
#define FIELDLOG_COMMON_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fieldlog {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// A status telling the client to retry after `retry_after`: the message says
// so in words, and the google.rpc.Status details carry a google.rpc.RetryInfo
// (as OTLP and Google APIs expect). Use with RESOURCE_EXHAUSTED or
// UNAVAILABLE, together with AddRetryPushback.
grpc::Status RetryableStatus(grpc::StatusCode code, absl::string_view message,
                             absl::Duration retry_after);

// Adds the `grpc-retry-pushback-ms` trailer gRPC clients honour.
void AddRetryPushback(grpc::ServerContextBase* context, absl::Duration retry_after);

// The credential a client sent: `authorization: Bearer <secret>`, or else the
// value of `alternate_header` (e.g. "x-fieldlog-key"). nullopt when neither is
// present.
std::optional<std::string> CredentialFromMetadata(const grpc::ServerContextBase& context,
                                                  absl::string_view alternate_header);

}  // namespace fieldlog

#endif  // FIELDLOG_COMMON_GRPC_STATUS_H_
