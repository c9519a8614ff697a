// What every fieldlog subcommand shares: the server address and token, the
// output format, gRPC calls with credentials, and exit codes.
#ifndef FIELDLOG_QUERY_CLI_CLIENT_H_
#define FIELDLOG_QUERY_CLI_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace fieldlog::cli {

// Exit codes scripts can rely on (also listed in `fieldlog --help`).
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,   // the server or the network failed; data not (all) sent
  kExitUsage = 2,     // bad flags or input
  kExitNotFound = 3,  // no such app, user or device
  kExitDenied = 4,    // missing, wrong or insufficient credentials
};

enum class OutputFormat { kText, kJson };

struct GlobalOptions {
  std::string server = "127.0.0.1:4317";
  std::string token;
  std::string output;  // "", "text" or "json"
  // TLS: the CA that signed the server's certificate (PEM file); empty for a
  // plaintext connection. A client certificate and key for mutual TLS.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;

  OutputFormat format() const {
    return output == "json" ? OutputFormat::kJson : OutputFormat::kText;
  }
};

// A channel to the server; with TLS when options.tls_ca is set. A CA or key
// file that cannot be read is reported and gives a channel that fails every
// call.
std::shared_ptr<grpc::Channel> MakeChannel(const GlobalOptions& options);

// A context carrying `token` as a bearer credential, with a deadline.
std::unique_ptr<grpc::ClientContext> MakeContext(const std::string& token,
                                                 int timeout_seconds = 30);

// Prints a failed call's status to stderr in words a person can act on and
// returns the exit code it maps to.
int ReportError(const grpc::Status& status, const GlobalOptions& options);

// One unary call with the global token: true on success; otherwise reports
// the error and stores the exit code in *exit_code.
template <typename Stub, typename Request, typename Response>
bool CallUnary(Stub& stub,
               grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
               const Request& request, Response* response, const GlobalOptions& global,
               int* exit_code) {
  auto context = MakeContext(global.token);
  grpc::Status status = (stub.*method)(context.get(), request, response);
  if (!status.ok()) *exit_code = ReportError(status, global);
  return status.ok();
}

}  // namespace fieldlog::cli

#endif  // FIELDLOG_QUERY_CLI_CLIENT_H_
