// ServerUnderTest: the fieldlog-server a benchmark run talks to. Either one
// fieldlog-bench starts itself (a child process on 127.0.0.1:0 over a data
// directory it owns, so it can be stopped, compacted offline and restarted),
// or an external one given by address and admin token (then the pid, if
// given, is only used to read its CPU and memory).
#ifndef FIELDLOG_BENCHMARKS_SERVER_PROCESS_H_
#define FIELDLOG_BENCHMARKS_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "benchmarks/subprocess.h"

namespace fieldlog::bench {

struct AppCredentials {
  std::string app;
  std::string ingest_key;
  std::string read_token;
};

class ServerUnderTest {
 public:
  // Starts `binary` over `data_dir` with the extra flags (e.g. "--sync",
  // "none"); its output goes to <data_dir>/server.log.
  static absl::StatusOr<std::unique_ptr<ServerUnderTest>> Spawn(
      const std::string& binary, const std::string& data_dir,
      const std::vector<std::string>& extra_flags);
  static std::unique_ptr<ServerUnderTest> External(const std::string& address,
                                                   const std::string& admin_token, pid_t pid);
  ~ServerUnderTest();

  const std::string& address() const { return address_; }
  // -1 when unknown (an external server without --server-pid).
  pid_t pid() const;
  bool owned() const { return child_ != nullptr || !binary_.empty(); }
  const std::string& data_dir() const { return data_dir_; }

  // Creates an app through AdminService/CreateApp.
  absl::StatusOr<AppCredentials> CreateApp(const std::string& name) const;

  // Stops an owned server with SIGTERM (it closes the store cleanly).
  absl::Status Stop();
  // Starts an owned, stopped server again over the same data directory.
  absl::Status Restart();

 private:
  ServerUnderTest() = default;
  absl::Status Launch();

  std::string binary_;
  std::string data_dir_;
  std::vector<std::string> extra_flags_;
  std::unique_ptr<Subprocess> child_;
  std::string address_;
  std::string admin_token_;
  pid_t external_pid_ = -1;
};

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_SERVER_PROCESS_H_
