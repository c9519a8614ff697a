// Subprocess: a child process of fieldlog-bench (the server under test, the
// bench workers, the parse-and-ack reference), with optional pipes to its
// stdin and from its stdout. It is killed on destruction if still running,
// and by the kernel (PR_SET_PDEATHSIG) if fieldlog-bench dies first, so no
// child outlives a run, failed or crashed.
//
// Start from the thread that will outlive the child (the main thread): the
// death signal follows the thread that forked.
//
// (tests/testing/test_util.h has ChildProcess for the test suite; it reports
// through GoogleTest and has no pipes, so the benchmark binary has its own.)
#ifndef FIELDLOG_BENCHMARKS_SUBPROCESS_H_
#define FIELDLOG_BENCHMARKS_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fieldlog::bench {

struct SubprocessOptions {
  std::vector<std::string> argv;  // argv[0] is the program's path
  bool pipe_stdin = false;        // else /dev/null
  bool pipe_stdout = false;       // else `output_path`, else inherited
  std::string output_path;        // stdout and stderr to this file (appended)
};

class Subprocess {
 public:
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const SubprocessOptions& options);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }

  // Writes `line` and a newline to the child's stdin; false if it is gone.
  bool WriteLine(absl::string_view line);
  void CloseStdin();
  // The next line of the child's stdout, without the newline. nullopt at end
  // of file or when nothing complete arrived within `timeout`.
  std::optional<std::string> ReadLine(absl::Duration timeout);

  // Sends `signal` (if running) and waits up to `timeout` for the exit;
  // SIGKILL after that. Returns the exit code, or 128 + signal number.
  int Stop(int signal, absl::Duration timeout);
  // Waits for the exit without signalling; nullopt on timeout.
  std::optional<int> Wait(absl::Duration timeout);

 private:
  Subprocess() = default;

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
  std::optional<int> exit_code_;
};

// The path of the running executable (/proc/self/exe), and the directory it
// is in: fieldlog-bench finds fieldlog-server next to itself.
std::string SelfPath();
std::string SelfDir();

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_SUBPROCESS_H_
