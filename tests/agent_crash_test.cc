// The agent's promises under real process death: kill -9 of an app in the
// middle of a stream, then a restart, leaves every spooled line on the server
// exactly once (checked by seq set); a crash leaves a CRASH marker after the
// lines before it; `fieldlog send --spool-dir` delivers on a second run what a
// first run could not.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::AppKeys;
using ::fieldlog::testing::BinDir;
using ::fieldlog::testing::ChildProcess;
using ::fieldlog::testing::ProcessResult;
using ::fieldlog::testing::RunProcess;
using ::fieldlog::testing::SearchAll;
using ::fieldlog::testing::TempDir;
using ::fieldlog::testing::TestServer;

std::vector<v1::LogLine> DeviceLines(TestServer& server, const AppKeys& keys,
                                     const std::string& device) {
  v1::SearchRequest request;
  request.set_app("shop");
  request.set_device_id(device);
  request.set_limit(10000);
  std::vector<v1::LogLine> lines;
  EXPECT_TRUE(SearchAll(*server.QueryStub(), keys.read_token, request, &lines).ok());
  return lines;
}

// The last "spooled K" the helper printed, and its device id.
uint64_t LastSpooled(const std::string& log, std::string* device) {
  std::ifstream in(log);
  std::string line;
  uint64_t spooled = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string word;
    fields >> word;
    if (word == "spooled") fields >> spooled;
    if (word == "device" && device != nullptr) fields >> *device;
  }
  return spooled;
}

TEST(AgentCrashTest, KillDashNineMidStreamThenRestartLeavesEveryLineOnceBySeq) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  TempDir dir;
  const std::string storage = dir.path() + "/app";
  const std::string log = dir.path() + "/helper.log";
  constexpr int kLines = 200000;
  std::string device;
  uint64_t spooled_before_kill = 0;
  {
    ChildProcess app({BinDir() + "/agent_crash_helper", server.address(), keys.ingest_key, storage,
                      "stream", std::to_string(kLines)},
                     log);
    // Kill it while it is still logging and streaming.
    for (int i = 0; i < 600 && LastSpooled(log, &device) < 30000; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    spooled_before_kill = LastSpooled(log, &device);
    const int status = app.Kill(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status));
  }
  ASSERT_FALSE(device.empty());
  ASSERT_GE(spooled_before_kill, 30000u);
  const size_t stored_at_kill = DeviceLines(server, keys, device).size();
  EXPECT_LT(stored_at_kill, static_cast<size_t>(kLines)) << "killed in the middle";

  ProcessResult resumed = RunProcess(
      {BinDir() + "/agent_crash_helper", server.address(), keys.ingest_key, storage, "resume"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("device " + device), std::string::npos) << "same device id";

  const std::vector<v1::LogLine> lines = DeviceLines(server, keys, device);
  std::set<uint64_t> seqs;
  for (const v1::LogLine& line : lines) {
    ASSERT_TRUE(seqs.insert(line.seq()).second) << "seq " << line.seq() << " stored twice";
  }
  // Every line that reached the spool is there, once: seqs 1..N without a
  // hole, and the messages are lines 0..N-1 in order.
  ASSERT_GE(lines.size(), spooled_before_kill);
  EXPECT_EQ(*seqs.begin(), 1u);
  EXPECT_EQ(*seqs.rbegin(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_EQ(lines[i].message(), "line " + std::to_string(i)) << "seq " << lines[i].seq();
  }
}

TEST(AgentCrashTest, ACrashLeavesAMarkerAfterTheLinesBeforeIt) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  TempDir dir;
  const std::string storage = dir.path() + "/app";
  // Nobody listens at first: the lines and the marker wait on disk.
  ProcessResult crashed = RunProcess(
      {BinDir() + "/agent_crash_helper", "127.0.0.1:1", keys.ingest_key, storage, "crash", "300"});
  EXPECT_EQ(crashed.exit_code, 128 + SIGSEGV) << crashed.err;
  std::string device, session;
  {
    std::istringstream out(crashed.out);
    std::string word;
    out >> word >> device >> word >> session;
  }
  ASSERT_FALSE(device.empty());

  ProcessResult resumed = RunProcess(
      {BinDir() + "/agent_crash_helper", server.address(), keys.ingest_key, storage, "resume"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  const std::vector<v1::LogLine> lines = DeviceLines(server, keys, device);
  ASSERT_EQ(lines.size(), 301u) << "the 300 lines still in memory at the crash, and the marker";
  for (int i = 0; i < 300; ++i) EXPECT_EQ(lines[i].message(), "line " + std::to_string(i));
  const v1::LogLine& marker = lines.back();
  EXPECT_EQ(marker.kind(), v1::ENTRY_KIND_CRASH);
  EXPECT_EQ(marker.message(), "the app crashed: SIGSEGV");
  EXPECT_EQ(marker.session_id(), session) << "in the session that crashed";
  EXPECT_EQ(marker.level(), v1::LEVEL_FATAL);
}

TEST(AgentCrashTest, SendWithASpoolDirDeliversOnTheNextRunWhatTheFirstCouldNot) {
  TempDir data;
  std::string address;
  AppKeys keys;
  {
    TestServer first(data.path());
    keys = first.CreateApp("shop");
    address = first.address();
  }
  TempDir spool;
  std::string input;
  for (int i = 0; i < 3000; ++i) input += "queued " + std::to_string(i) + "\n";
  const std::vector<std::string> env = {"FIELDLOG_SERVER=" + address};
  ProcessResult failed = RunProcess({BinDir() + "/fieldlog", "send", "--key", keys.ingest_key,
                                     "--spool-dir", spool.path(), "--timeout", "1"},
                                    input, env);
  EXPECT_EQ(failed.exit_code, 1) << failed.err;
  EXPECT_NE(failed.err.find("3000 lines unacknowledged"), std::string::npos) << failed.err;

  TestServer second(data.path(), address);
  ProcessResult again = RunProcess(
      {BinDir() + "/fieldlog", "send", "--key", keys.ingest_key, "--spool-dir", spool.path()}, "",
      env);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("3000 left in the spool by an earlier run"), std::string::npos)
      << again.err;
  std::string device;
  {
    std::ifstream in(spool.path() + "/device_id");
    std::getline(in, device);
  }
  const std::vector<v1::LogLine> lines = DeviceLines(second, keys, device);
  ASSERT_EQ(lines.size(), 3000u);
  for (int i = 0; i < 3000; ++i) {
    ASSERT_EQ(lines[i].message(), "queued " + std::to_string(i));
    ASSERT_EQ(lines[i].seq(), static_cast<uint64_t>(i + 1));
  }
}

}  // namespace
}  // namespace fieldlog
