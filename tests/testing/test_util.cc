#include "tests/testing/test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace fieldlog::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(base ? base : "/tmp", "/fieldlog-test-XXXXXX");
  char* made = ::mkdtemp(pattern.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

TestServer::TestServer(std::string data_dir, std::string listen) {
  server::ServerOptions options;
  options.data_dir = std::move(data_dir);
  options.grpc_listen = std::move(listen);
  Start(std::move(options));
}

TestServer::TestServer(server::ServerOptions options) { Start(std::move(options)); }

void TestServer::Start(server::ServerOptions options) {
  if (options.data_dir.empty() || options.data_dir == server::ServerOptions().data_dir) {
    owned_dir_ = std::make_unique<TempDir>();
    options.data_dir = owned_dir_->path();
  }
  data_dir_ = options.data_dir;
  // Free ports unless the test chose its own: tests run in parallel.
  if (options.grpc_listen == server::ServerOptions().grpc_listen) {
    options.grpc_listen = "127.0.0.1:0";
  }
  if (options.http_listen == server::ServerOptions().http_listen) {
    options.http_listen = "127.0.0.1:0";
  }
  // Tests send fast; limits are what a test sets, not the production default.
  if (options.ingest.default_device_lines_per_second ==
      collector::IngestOptions().default_device_lines_per_second) {
    options.ingest.default_device_lines_per_second = 0;
  }
  absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::Start(options);
  if (!server.ok()) {
    ADD_FAILURE() << "server did not start: " << server.status();
    std::abort();
  }
  server_ = *std::move(server);
  channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
}

TestServer::~TestServer() { Stop(); }

void TestServer::Stop() {
  if (server_ == nullptr) return;
  server_->Shutdown(absl::Seconds(1));
  server_->Wait();
  server_.reset();
}

AppKeys TestServer::CreateApp(const std::string& name) {
  v1::CreateAppRequest request;
  request.set_name(name);
  v1::CreateAppResponse response;
  grpc::Status status =
      AdminStub()->CreateApp(ContextWith(admin_token()).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return {response.app(), response.ingest_key(), response.read_token()};
}

std::unique_ptr<v1::IngestService::Stub> TestServer::IngestStub() const {
  return v1::IngestService::NewStub(channel_);
}
std::unique_ptr<v1::QueryService::Stub> TestServer::QueryStub() const {
  return v1::QueryService::NewStub(channel_);
}
std::unique_ptr<v1::AdminService::Stub> TestServer::AdminStub() const {
  return v1::AdminService::NewStub(channel_);
}

double TestServer::MetricValue(const std::string& name) {
  const std::string page = server_->metrics().RenderPrometheus();
  const size_t at = page.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(page.substr(at + name.size() + 2));
}

std::unique_ptr<grpc::ClientContext> ContextWith(const std::string& secret) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!secret.empty()) context->AddMetadata("authorization", "Bearer " + secret);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

v1::Entry MakeEntry(uint64_t seq, const std::string& message, v1::Level level,
                    const std::string& tag, std::chrono::microseconds age) {
  v1::Entry entry;
  entry.set_seq(seq);
  entry.set_time_unix_micros(absl::ToUnixMicros(absl::Now()) - age.count());
  entry.set_level(level);
  entry.set_tag(tag);
  entry.set_message(message);
  return entry;
}

grpc::Status SearchAll(v1::QueryService::Stub& stub, const std::string& token,
                       v1::SearchRequest request, std::vector<v1::LogLine>* lines) {
  for (int page = 0; page < 100000; ++page) {
    auto context = ContextWith(token);
    auto reader = stub.Search(context.get(), request);
    v1::SearchResponse response;
    std::string cursor;
    while (reader->Read(&response)) {
      for (const v1::LogLine& line : response.lines()) lines->push_back(line);
      if (!response.next_cursor().empty()) cursor = response.next_cursor();
    }
    grpc::Status status = reader->Finish();
    if (!status.ok() || cursor.empty()) return status;
    request.set_cursor(cursor);
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "too many pages");
}

grpc::Status SendBatch(v1::IngestService::Stub& stub, const std::string& key,
                       const v1::Device& device, const v1::Batch& batch, v1::Ack* ack) {
  auto context = ContextWith(key);
  auto stream = stub.Stream(context.get());
  v1::IngestRequest hello;
  *hello.mutable_hello()->mutable_device() = device;
  v1::IngestResponse response;
  if (stream->Write(hello) && stream->Read(&response)) {
    v1::IngestRequest request;
    *request.mutable_batch() = batch;
    if (stream->Write(request) && stream->Read(&response) && response.has_ack()) {
      *ack = response.ack();
    }
  }
  stream->WritesDone();
  return stream->Finish();
}

std::string BinDir() {
  const char* dir = std::getenv("FIELDLOG_BIN_DIR");
  return dir ? dir : "build/bin";
}

namespace {

// Reads what is available from `fd` into `out`; false at end of file.
bool Drain(int fd, std::string* out) {
  char buffer[65536];
  const ssize_t n = ::read(fd, buffer, sizeof(buffer));
  if (n <= 0) return false;
  out->append(buffer, static_cast<size_t>(n));
  return true;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, int stdin_fd,
            int stdout_fd, int stderr_fd) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(stdin_fd, 0);
    ::dup2(stdout_fd, 1);
    ::dup2(stderr_fd, 2);
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input,
                         const std::vector<std::string>& env, std::chrono::seconds timeout) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return {};
  }
  const pid_t pid = Spawn(argv, env, in[0], out[1], err[1]);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // Feed stdin from a thread so a child that writes a lot before reading
  // cannot deadlock with us.
  std::thread writer([fd = in[1], input] {
    size_t done = 0;
    while (done < input.size()) {
      const ssize_t n = ::write(fd, input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(fd);
  });
  ProcessResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    const int ready = ::poll(fds, 2, 200);
    if (ready > 0) {
      if (out_open && (fds[0].revents & (POLLIN | POLLHUP))) out_open = Drain(out[0], &result.out);
      if (err_open && (fds[1].revents & (POLLIN | POLLHUP))) err_open = Drain(err[0], &result.err);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ADD_FAILURE() << argv[0] << " timed out";
      break;
    }
  }
  writer.join();
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
                           const std::string& stdin_path, const std::vector<std::string>& env) {
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int in = ::open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
  pid_ = Spawn(argv, env, in, log, log);
  ::close(log);
  ::close(in);
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
    return false;
  }
  return true;
}

int ChildProcess::Wait(std::chrono::seconds timeout) {
  if (pid_ <= 0) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      Kill(SIGKILL);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

int PickFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Kill(SIGKILL);
}

int ChildProcess::Kill(int signal) {
  if (pid_ <= 0) return 0;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

std::string StartServerProcess(const std::string& data_dir, std::unique_ptr<ChildProcess>* child,
                               const std::string& listen,
                               const std::vector<std::string>& extra_flags) {
  const std::string listen_file = data_dir + "/listen-address";
  std::filesystem::create_directories(data_dir);
  std::filesystem::remove(listen_file);
  std::vector<std::string> argv = {BinDir() + "/fieldlog-server",
                                   "--data-dir",
                                   data_dir,
                                   "--grpc-listen",
                                   listen,
                                   "--http-listen",
                                   "127.0.0.1:0",
                                   "--device-rate-limit",
                                   "0",
                                   "--listen-file",
                                   listen_file};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  *child = std::make_unique<ChildProcess>(argv, data_dir + "/server.log");
  for (int i = 0; i < 300; ++i) {
    std::ifstream in(listen_file);
    std::string address;
    if (in && std::getline(in, address) && !address.empty()) return address;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "fieldlog-server did not start; see " << data_dir << "/server.log";
  return "";
}

}  // namespace fieldlog::testing
