// The collector's promise under crashes, with real processes: several
// `fieldlog send` processes stream while fieldlog-server is killed with
// kill -9 and restarted, twice (and once stopped with SIGTERM). Every sender
// must finish on its own, and every line must be stored exactly once. And a
// server that dies of a fatal signal leaves its stack in its log.
#include <signal.h>

#include <fstream>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::AppKeys;
using ::fieldlog::testing::BinDir;
using ::fieldlog::testing::ChildProcess;
using ::fieldlog::testing::ContextWith;
using ::fieldlog::testing::PickFreePort;
using ::fieldlog::testing::SearchAll;
using ::fieldlog::testing::StartServerProcess;
using ::fieldlog::testing::TempDir;

constexpr int kSenders = 3;
constexpr int kLinesPerSender = 400000;

AppKeys CreateApp(const std::string& address, const std::string& data_dir) {
  std::ifstream in(data_dir + "/admin_token");
  std::string admin;
  std::getline(in, admin);
  auto stub =
      v1::AdminService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::CreateAppRequest request;
  request.set_name("shop");
  v1::CreateAppResponse response;
  grpc::Status status = stub->CreateApp(ContextWith(admin).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return {response.app(), response.ingest_key(), response.read_token()};
}

TEST(CrashTest, SendersSurviveServerCrashesAndEveryLineIsStoredOnce) {
  const int64_t test_start_us = absl::ToUnixMicros(absl::Now());
  TempDir dir;
  const std::string data_dir = dir.path() + "/server";
  const std::string listen = "127.0.0.1:" + std::to_string(PickFreePort());
  std::unique_ptr<ChildProcess> server;
  std::string address = StartServerProcess(data_dir, &server, listen);
  ASSERT_EQ(address, listen);
  const AppKeys keys = CreateApp(address, data_dir);

  std::vector<std::unique_ptr<ChildProcess>> senders;
  for (int s = 0; s < kSenders; ++s) {
    const std::string input = dir.path() + "/input-" + std::to_string(s);
    {
      std::ofstream out(input);
      for (int i = 0; i < kLinesPerSender; ++i) out << "sender " << s << " line " << i << "\n";
    }
    senders.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{BinDir() + "/fieldlog", "--server", address, "send", "--key",
                                 keys.ingest_key, "--device", "device-" + std::to_string(s),
                                 "--user", "user-" + std::to_string(s), "--timeout", "120"},
        dir.path() + "/sender-" + std::to_string(s) + ".log", input));
  }

  // Crash the server twice mid-stream, then stop it cleanly once.
  int kills_while_sending = 0;
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    kills_while_sending += senders[0]->Running();
    const int signal = round < 2 ? SIGKILL : SIGTERM;
    const int status = server->Kill(signal);
    if (signal == SIGKILL) {
      EXPECT_TRUE(WIFSIGNALED(status));
    } else {
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        // The log goes with the next start: show it now.
        std::ifstream log(data_dir + "/server.log");
        const std::string text(std::istreambuf_iterator<char>(log), {});
        ADD_FAILURE() << "SIGTERM should drain and exit 0; the server "
                      << (WIFSIGNALED(status)
                              ? "died of signal " + std::to_string(WTERMSIG(status))
                              : "exited with " + std::to_string(WEXITSTATUS(status)))
                      << ". The end of its log:\n"
                      << text.substr(text.size() > 6000 ? text.size() - 6000 : 0);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    address = StartServerProcess(data_dir, &server, listen);
    ASSERT_EQ(address, listen) << "restart " << round;
  }

  EXPECT_GE(kills_while_sending, 2) << "the crashes must hit the senders mid-stream";
  for (int s = 0; s < kSenders; ++s) {
    const int exit_code = senders[s]->Wait(std::chrono::seconds(150));
    std::ifstream log(dir.path() + "/sender-" + std::to_string(s) + ".log");
    const std::string text(std::istreambuf_iterator<char>(log), {});
    EXPECT_EQ(exit_code, 0) << "sender " << s << ": " << text;
  }

  auto query =
      v1::QueryService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  // The app-wide view of the same lines goes through the blocks' time index
  // (an hour's range), written in the batches the crashes cut: it must count
  // every line too.
  {
    v1::AffectedRequest request;
    request.set_app("shop");
    request.set_text("line");
    request.set_from_unix_micros(test_start_us - 60'000'000);
    request.set_to_unix_micros(absl::ToUnixMicros(absl::Now()) + 60'000'000);
    v1::AffectedResponse response;
    const grpc::Status status =
        query->Affected(ContextWith(keys.read_token).get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.matching_lines(), static_cast<uint64_t>(kSenders) * kLinesPerSender);
    EXPECT_EQ(response.total_devices(), static_cast<uint32_t>(kSenders));
  }
  for (int s = 0; s < kSenders; ++s) {
    v1::SearchRequest request;
    request.set_app("shop");
    request.set_device_id("device-" + std::to_string(s));
    std::vector<v1::LogLine> lines;
    ASSERT_TRUE(SearchAll(*query, keys.read_token, request, &lines).ok());
    EXPECT_EQ(lines.size(), static_cast<size_t>(kLinesPerSender)) << "sender " << s;
    std::set<uint64_t> seqs;
    std::set<std::string> messages;
    for (const v1::LogLine& line : lines) {
      seqs.insert(line.seq());
      messages.insert(line.message());
    }
    EXPECT_EQ(seqs.size(), lines.size()) << "no seq twice";
    EXPECT_EQ(messages.size(), static_cast<size_t>(kLinesPerSender)) << "every line, once";
  }
}

TEST(CrashTest, AFatalSignalLeavesTheStackInTheLog) {
  TempDir dir;
  const std::string data_dir = dir.path() + "/server";
  std::unique_ptr<ChildProcess> server;
  ASSERT_FALSE(StartServerProcess(data_dir, &server, "127.0.0.1:0").empty());
  const int status = server->Kill(SIGSEGV);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
      << "it still dies of the signal, status " << status;
  std::ifstream log(data_dir + "/server.log");
  const std::string text(std::istreambuf_iterator<char>(log), {});
  EXPECT_NE(text.find("fieldlog-server: fatal signal Segmentation fault; the failing thread's "
                      "stack:\n"),
            std::string::npos)
      << text;
  // At least the handler's own frame, in the server binary, and libc's.
  EXPECT_NE(text.find("fieldlog-server(+0x"), std::string::npos) << text;
  EXPECT_NE(text.find("libc.so"), std::string::npos) << text;
}

}  // namespace
}  // namespace fieldlog
