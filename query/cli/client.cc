#include "query/cli/client.h"

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

namespace fieldlog::cli {

namespace {

bool ReadFile(const std::string& path, std::string* contents) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "fieldlog: cannot read " << path << "\n";
    return false;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  *contents = buffer.str();
  return true;
}

}  // namespace

std::shared_ptr<grpc::Channel> MakeChannel(const GlobalOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!ReadFile(options.tls_ca, &ssl.pem_root_certs) ||
        (!options.tls_cert.empty() && !ReadFile(options.tls_cert, &ssl.pem_cert_chain)) ||
        (!options.tls_key.empty() && !ReadFile(options.tls_key, &ssl.pem_private_key))) {
      // An unusable address makes every call fail with UNAVAILABLE after the
      // message above.
      return grpc::CreateCustomChannel("unix:/nonexistent", credentials, args);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(options.server, credentials, args);
}

std::unique_ptr<grpc::ClientContext> MakeContext(const std::string& token, int timeout_seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_seconds));
  return context;
}

int ReportError(const grpc::Status& status, const GlobalOptions& options) {
  std::cerr << "fieldlog: " << status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      std::cerr << "\n  (is fieldlog-server running at " << options.server
                << "? set --server or FIELDLOG_SERVER)\n";
      return kExitFailure;
    case grpc::StatusCode::UNAUTHENTICATED:
      std::cerr << "\n  (pass a token with --token or FIELDLOG_TOKEN)\n";
      return kExitDenied;
    case grpc::StatusCode::PERMISSION_DENIED:
      std::cerr << "\n";
      return kExitDenied;
    case grpc::StatusCode::NOT_FOUND:
      std::cerr << "\n";
      return kExitNotFound;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::ALREADY_EXISTS:
      std::cerr << "\n";
      return kExitUsage;
    default:
      std::cerr << " (" << static_cast<int>(status.error_code()) << ")\n";
      return kExitFailure;
  }
}

}  // namespace fieldlog::cli
