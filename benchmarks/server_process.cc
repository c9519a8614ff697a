#include "benchmarks/server_process.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "fieldlog/v1/admin.grpc.pb.h"

namespace fieldlog::bench {

absl::StatusOr<std::unique_ptr<ServerUnderTest>> ServerUnderTest::Spawn(
    const std::string& binary, const std::string& data_dir,
    const std::vector<std::string>& extra_flags) {
  std::unique_ptr<ServerUnderTest> server(new ServerUnderTest());
  server->binary_ = binary;
  server->data_dir_ = data_dir;
  server->extra_flags_ = extra_flags;
  if (absl::Status s = server->Launch(); !s.ok()) return s;
  return server;
}

std::unique_ptr<ServerUnderTest> ServerUnderTest::External(const std::string& address,
                                                           const std::string& admin_token,
                                                           pid_t pid) {
  std::unique_ptr<ServerUnderTest> server(new ServerUnderTest());
  server->address_ = address;
  server->admin_token_ = admin_token;
  server->external_pid_ = pid;
  return server;
}

ServerUnderTest::~ServerUnderTest() { Stop().IgnoreError(); }

pid_t ServerUnderTest::pid() const { return child_ != nullptr ? child_->pid() : external_pid_; }

absl::Status ServerUnderTest::Launch() {
  const std::string listen_file = data_dir_ + "/listen-address";
  std::error_code ignored;
  std::filesystem::create_directories(data_dir_, ignored);
  std::filesystem::remove(listen_file, ignored);
  SubprocessOptions options;
  options.argv = {binary_, "--data-dir", data_dir_, "--grpc-listen", "127.0.0.1:0",
                  "--listen-file", listen_file};
  options.argv.insert(options.argv.end(), extra_flags_.begin(), extra_flags_.end());
  options.output_path = data_dir_ + "/server.log";
  absl::StatusOr<std::unique_ptr<Subprocess>> child = Subprocess::Start(options);
  if (!child.ok()) return child.status();
  child_ = *std::move(child);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    std::ifstream in(listen_file);
    std::string address;
    if (in && std::getline(in, address) && !address.empty()) {
      address_ = address;
      std::ifstream token_file(data_dir_ + "/admin_token");
      std::string token;
      std::getline(token_file, token);
      admin_token_ = std::string(absl::StripAsciiWhitespace(token));
      return absl::OkStatus();
    }
    if (child_->Wait(absl::ZeroDuration())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  child_.reset();
  return absl::UnavailableError(
      absl::StrCat("fieldlog-server did not start; see ", data_dir_, "/server.log"));
}

absl::StatusOr<AppCredentials> ServerUnderTest::CreateApp(const std::string& name) const {
  auto channel = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  auto stub = v1::AdminService::NewStub(channel);
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + admin_token_);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::CreateAppRequest request;
  request.set_name(name);
  v1::CreateAppResponse response;
  grpc::Status status = stub->CreateApp(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("CreateApp(", name, ") on ", address_, ": ",
                                               status.error_message()));
  }
  return AppCredentials{response.app(), response.ingest_key(), response.read_token()};
}

absl::Status ServerUnderTest::Stop() {
  if (child_ == nullptr) return absl::OkStatus();
  const int code = child_->Stop(SIGTERM, absl::Seconds(30));
  child_.reset();
  if (code != 0) {
    return absl::UnavailableError(absl::StrCat("fieldlog-server exited with ", code, "; see ",
                                               data_dir_, "/server.log"));
  }
  return absl::OkStatus();
}

absl::Status ServerUnderTest::Restart() {
  if (binary_.empty()) return absl::FailedPreconditionError("not a server this run started");
  if (absl::Status s = Stop(); !s.ok()) return s;
  return Launch();
}

}  // namespace fieldlog::bench
