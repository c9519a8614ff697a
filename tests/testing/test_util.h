// Shared test fixtures: temporary directories, an in-process fieldlog server on
// 127.0.0.1 with a fresh store, helpers to build entries, and real child
// processes (for the CLI and crash tests).
#ifndef FIELDLOG_TESTS_TESTING_TEST_UTIL_H_
#define FIELDLOG_TESTS_TESTING_TEST_UTIL_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "fieldlog/v1/admin.grpc.pb.h"
#include "fieldlog/v1/ingest.grpc.pb.h"
#include "fieldlog/v1/query.grpc.pb.h"
#include "server/server.h"

namespace fieldlog::testing {

// A directory under $TMPDIR removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct AppKeys {
  std::string app;
  std::string ingest_key;
  std::string read_token;
};

// fieldlog-server running in this process on 127.0.0.1:<free port>, over a
// store in its own temporary directory (or a given one, to test restarts).
class TestServer {
 public:
  // `listen` lets a test bring a server back on the address it had.
  explicit TestServer(std::string data_dir = "", std::string listen = "127.0.0.1:0");
  // Any options; data_dir, grpc_listen and http_listen, when left at their
  // defaults, become a temporary directory and free ports, and the default
  // device rate limit is lifted (tests send fast).
  explicit TestServer(server::ServerOptions options);
  ~TestServer();

  const std::string& address() const { return server_->address(); }
  const std::string& admin_token() const { return server_->admin_token(); }
  const std::string& data_dir() const { return data_dir_; }
  server::Server& server() { return *server_; }

  // Creates an app through the admin RPC.
  AppKeys CreateApp(const std::string& name);

  std::unique_ptr<v1::IngestService::Stub> IngestStub() const;
  std::unique_ptr<v1::QueryService::Stub> QueryStub() const;
  std::unique_ptr<v1::AdminService::Stub> AdminStub() const;
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  // The current value of an unlabelled metric on the server's /metrics
  // page, or -1 when the page has no such metric.
  double MetricValue(const std::string& name);

  // Stops the server and closes the store (the data directory stays).
  void Stop();

 private:
  void Start(server::ServerOptions options);

  std::unique_ptr<TempDir> owned_dir_;
  std::string data_dir_;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// A client context carrying `secret` as a bearer credential, 30 s deadline.
std::unique_ptr<grpc::ClientContext> ContextWith(const std::string& secret);

// An entry stamped `age` before now by the device clock.
v1::Entry MakeEntry(uint64_t seq, const std::string& message, v1::Level level = v1::LEVEL_INFO,
                    const std::string& tag = "Test",
                    std::chrono::microseconds age = std::chrono::seconds(1));

// All lines of a search, following cursors to the end.
grpc::Status SearchAll(v1::QueryService::Stub& stub, const std::string& token,
                       v1::SearchRequest request, std::vector<v1::LogLine>* lines);

// Sends one batch over a fresh stream (hello first) and returns the ack.
grpc::Status SendBatch(v1::IngestService::Stub& stub, const std::string& key,
                       const v1::Device& device, const v1::Batch& batch, v1::Ack* ack);

// Where the project's binaries are (build/bin).
std::string BinDir();

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a program to completion with `input` on stdin and extra environment
// variables ("NAME=value"); kills it after `timeout`.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input = "",
                         const std::vector<std::string>& env = {},
                         std::chrono::seconds timeout = std::chrono::seconds(60));

// A long-running child process (e.g. fieldlog-server) that can be killed.
class ChildProcess {
 public:
  // stdout and stderr go to `log_path`; stdin comes from `stdin_path`
  // (default /dev/null); `env` adds "NAME=value" variables.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
               const std::string& stdin_path = "/dev/null",
               const std::vector<std::string>& env = {});
  ~ChildProcess();
  pid_t pid() const { return pid_; }
  // Sends `signal` and waits for the process; returns its wait status.
  int Kill(int signal);
  // True while the process has not exited.
  bool Running();
  // Waits up to `timeout` for the process to exit; its exit code, or -1 on
  // timeout (the process is then killed).
  int Wait(std::chrono::seconds timeout);

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// Starts fieldlog-server over `data_dir` on `listen` (a free port by
// default) and waits until it listens; returns its address.
std::string StartServerProcess(const std::string& data_dir, std::unique_ptr<ChildProcess>* child,
                               const std::string& listen = "127.0.0.1:0",
                               const std::vector<std::string>& extra_flags = {});

// A TCP port on 127.0.0.1 that was free a moment ago (for a server that must
// come back on the same address after a restart).
int PickFreePort();

}  // namespace fieldlog::testing

#endif  // FIELDLOG_TESTS_TESTING_TEST_UTIL_H_
