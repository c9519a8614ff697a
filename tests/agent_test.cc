// The agent library against a real in-process server: offline buffering and
// reconnects, user changes, limits, overflow accounting and flushing.
#include "fieldlog/agent.h"

#include <sys/resource.h>

#include <thread>

#include "absl/time/clock.h"
#include "common/limits.h"
#include "common/text.h"
#include "gtest/gtest.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::AppKeys;
using ::fieldlog::testing::SearchAll;
using ::fieldlog::testing::TempDir;
using ::fieldlog::testing::TestServer;

AgentOptions FastOptions(const std::string& server, const std::string& key) {
  AgentOptions options;
  options.server = server;
  options.ingest_key = key;
  options.device_id = "device-1";
  options.batch_max_age = std::chrono::milliseconds(20);
  options.initial_backoff = std::chrono::milliseconds(20);
  options.max_backoff = std::chrono::milliseconds(200);
  return options;
}

std::vector<v1::LogLine> DeviceLines(TestServer& server, const AppKeys& keys,
                                     const std::string& device = "device-1") {
  v1::SearchRequest request;
  request.set_app("shop");
  request.set_device_id(device);
  std::vector<v1::LogLine> lines;
  EXPECT_TRUE(SearchAll(*server.QueryStub(), keys.read_token, request, &lines).ok());
  return lines;
}

TEST(AgentTest, LinesLoggedWhileTheServerIsDownArriveWhenItIsBack) {
  TempDir dir;
  std::string address;
  AppKeys keys;
  {
    TestServer first(dir.path());
    keys = first.CreateApp("shop");
    address = first.address();
    first.Stop();
  }
  std::string error;
  auto agent = Agent::Start(FastOptions(address, keys.ingest_key), &error);
  ASSERT_NE(agent, nullptr) << error;
  for (int i = 0; i < 300; ++i) agent->Log(Level::kInfo, "Offline", "line " + std::to_string(i));
  EXPECT_FALSE(agent->Flush(std::chrono::milliseconds(300))) << "nobody is listening yet";
  EXPECT_FALSE(agent->stats().connected);

  TestServer second(dir.path(), address);
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(20))) << agent->stats().last_error;
  const AgentStats stats = agent->stats();
  EXPECT_EQ(stats.acknowledged, 300u);
  EXPECT_GE(stats.reconnects, 1u);
  std::vector<v1::LogLine> lines = DeviceLines(second, keys);
  ASSERT_EQ(lines.size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(lines[i].message(), "line " + std::to_string(i));
}

TEST(AgentTest, EachLineCarriesTheUserOfItsTime) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  std::string error;
  auto agent = Agent::Start(FastOptions(server.address(), keys.ingest_key), &error);
  ASSERT_NE(agent, nullptr) << error;
  agent->Log(Level::kInfo, "App", "before login");
  agent->SetUser("alice@example.com");
  agent->Log(Level::kInfo, "App", "as alice");
  agent->SetUser("bob@example.com");
  agent->Log(Level::kInfo, "App", "as bob");
  agent->SetUser("");
  agent->Log(Level::kInfo, "App", "after logout");
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  std::vector<v1::LogLine> lines = DeviceLines(server, keys);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].user_id(), "");
  EXPECT_EQ(lines[1].user_id(), "alice@example.com");
  EXPECT_EQ(lines[2].user_id(), "bob@example.com");
  EXPECT_EQ(lines[3].user_id(), "");
  EXPECT_EQ(lines[1].session_id(), agent->session_id());
}

TEST(AgentTest, OverlongAndInvalidTextIsFixedNotDropped) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  std::string error;
  auto agent = Agent::Start(FastOptions(server.address(), keys.ingest_key), &error);
  ASSERT_NE(agent, nullptr);
  const std::string long_line(kMaxMessageBytes * 3, 'x');
  agent->Log(Level::kWarn, "T", long_line);
  agent->Log(Level::kInfo, std::string(500, 't'), "bad \xFF utf8", {{"k\xC3", "v\xFE"}});
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  EXPECT_EQ(agent->stats().rejected, 0u);
  std::vector<v1::LogLine> lines = DeviceLines(server, keys);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_LE(lines[0].message().size(), kMaxMessageBytes);
  // The marker counts the bytes that were cut.
  const size_t kept = lines[0].message().find_first_not_of('x');
  EXPECT_GT(kept, kMaxMessageBytes - 40);
  EXPECT_EQ(lines[0].message().substr(kept),
            " \xE2\x80\xA6[cut " + std::to_string(3 * kMaxMessageBytes - kept) + " bytes]");
  EXPECT_EQ(lines[1].tag().size(), kMaxTagBytes);
  const size_t kept_tag = lines[1].tag().find_first_not_of('t');
  EXPECT_TRUE(
      lines[1].tag().ends_with(" \xE2\x80\xA6[cut " + std::to_string(500 - kept_tag) + " bytes]"))
      << lines[1].tag();
  EXPECT_EQ(lines[1].message(), "bad \xEF\xBF\xBD utf8");
  EXPECT_FALSE(FindInvalidUtf8(lines[1].attributes(0).key()));
}

TEST(AgentTest, FullQueuesDropAndCountInsteadOfBlocking) {
  // Nothing listens on this address: everything stays in the agent.
  AgentOptions options = FastOptions("127.0.0.1:1", "fl_ik_whatever");
  options.queue_bytes_per_thread = 1;  // the minimum
  std::string error;
  auto agent = Agent::Start(options, &error);
  ASSERT_NE(agent, nullptr);
  const auto start = std::chrono::steady_clock::now();
  const std::string big(kMaxMessageBytes, 'x');
  for (int i = 0; i < 1000; ++i) agent->Log(Level::kInfo, "T", big);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  const AgentStats stats = agent->stats();
  EXPECT_EQ(stats.logged + stats.dropped, 1000u);
}

TEST(AgentTest, LevelsBelowTheMinimumCostNothing) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  AgentOptions options = FastOptions(server.address(), keys.ingest_key);
  options.min_level = Level::kWarn;
  std::string error;
  auto agent = Agent::Start(options, &error);
  ASSERT_NE(agent, nullptr);
  EXPECT_FALSE(agent->Enabled(Level::kInfo));
  EXPECT_TRUE(agent->Enabled(Level::kError));
  int evaluated = 0;
  const auto expensive = [&] {
    ++evaluated;
    return std::string("costly");
  };
  FIELDLOG_DEBUG(*agent, "T", expensive());
  FIELDLOG_ERROR(*agent, "T", expensive(), {"code", 42});
  EXPECT_EQ(evaluated, 1) << "arguments below the minimum level are not evaluated";
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  std::vector<v1::LogLine> lines = DeviceLines(server, keys);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].level(), v1::LEVEL_ERROR);
  EXPECT_EQ(lines[0].function(), "TestBody");
  EXPECT_NE(lines[0].file().find("agent_test.cc"), std::string::npos);
  EXPECT_GT(lines[0].line(), 0u);
}

TEST(AgentTest, AWrongKeyIsReportedAndNothingIsLost) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  std::string error;
  auto agent = Agent::Start(FastOptions(server.address(), "fl_ik_wrong"), &error);
  ASSERT_NE(agent, nullptr);
  agent->Log(Level::kInfo, "T", "kept");
  EXPECT_FALSE(agent->Flush(std::chrono::milliseconds(500)));
  const AgentStats stats = agent->stats();
  EXPECT_EQ(stats.last_status_code, static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));
  EXPECT_NE(stats.last_error.find("unknown or revoked ingest key"), std::string::npos);
  EXPECT_EQ(stats.acknowledged, 0u);
}

TEST(AgentTest, ManyThreadsLogAtOnce) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  std::string error;
  AgentOptions options = FastOptions(server.address(), keys.ingest_key);
  options.queue_bytes_per_thread = 4 << 20;  // room for every line: none may drop here
  auto agent = Agent::Start(options, &error);
  ASSERT_NE(agent, nullptr);
  constexpr int kThreads = 4, kLines = 2500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kLines; ++i) {
        agent->Log(Level::kInfo, "T" + std::to_string(t), std::to_string(i), {{"thread", t}});
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(30)));
  std::vector<v1::LogLine> lines = DeviceLines(server, keys);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLines));
  // Each thread's lines keep their order.
  std::vector<int> next(kThreads, 0);
  for (const v1::LogLine& line : lines) {
    const int t = static_cast<int>(line.attributes(0).value().int_value());
    EXPECT_EQ(line.message(), std::to_string(next[t]++));
  }
}

double ProcessCpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

TEST(AgentTest, AnIdleAgentCostsNoCpuWhenTheServerIsGone) {
  auto server = std::make_unique<TestServer>();
  const AppKeys keys = server->CreateApp("shop");
  std::string error;
  auto agent = Agent::Start(FastOptions(server->address(), keys.ingest_key), &error);
  ASSERT_NE(agent, nullptr);
  agent->Log(Level::kInfo, "T", "one line");
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  server.reset();  // the stream ends; nothing is left to send
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double before = ProcessCpuSeconds();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_LT(ProcessCpuSeconds() - before, 0.1) << "the agent must sleep, not spin";
}

TEST(AgentTest, ARateLimitedDeviceWaitsAsToldAndLosesNothing) {
  // 1,000 lines/s with half a second of burst: 3,000 lines take at least
  // 2.5 s to be admitted. An agent that obeys the RetryInfo delay comes back
  // when its batch fits, a handful of times; one that retried on its own
  // 20-200 ms backoff would be refused dozens of times.
  server::ServerOptions options;
  options.ingest.default_device_lines_per_second = 1000;
  options.ingest.burst_seconds = 0.5;
  TestServer server(options);
  const AppKeys keys = server.CreateApp("shop");
  std::string error;
  auto agent = Agent::Start(FastOptions(server.address(), keys.ingest_key), &error);
  ASSERT_NE(agent, nullptr) << error;
  constexpr int kLines = 3000;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kLines; ++i) {
    agent->Log(Level::kInfo, "Flood", "line " + std::to_string(i));
  }
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(30))) << agent->stats().last_error;
  const absl::Duration took = absl::Now() - start;
  const AgentStats stats = agent->stats();
  EXPECT_EQ(stats.acknowledged, static_cast<uint64_t>(kLines));
  EXPECT_GE(took, absl::Seconds(2)) << "the limit held";
  EXPECT_GE(stats.throttled, 2u);
  EXPECT_LE(stats.throttled, 20u) << "the agent came back before it was told to";
  EXPECT_EQ(server.MetricValue("fieldlog_ingest_throttled_total"),
            static_cast<double>(stats.throttled));
  const std::vector<v1::LogLine> lines = DeviceLines(server, keys);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kLines)) << "each line stored exactly once";
  for (int i = 0; i < kLines; ++i) ASSERT_EQ(lines[i].message(), "line " + std::to_string(i));
}

TEST(AgentTest, TheDeviceIdIsKeptInTheStorageDirectory) {
  TempDir dir;
  AgentOptions options = FastOptions("127.0.0.1:1", "fl_ik_x");
  options.device_id.clear();
  options.storage_dir = dir.path() + "/fieldlog";
  std::string error;
  std::string first_id;
  {
    auto agent = Agent::Start(options, &error);
    ASSERT_NE(agent, nullptr) << error;
    first_id = agent->device_id();
    EXPECT_EQ(first_id.size(), 36u);
    EXPECT_EQ(first_id[14], '4') << "a version 4 UUID";
    agent->Shutdown(std::chrono::milliseconds(0));
  }
  auto again = Agent::Start(options, &error);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->device_id(), first_id);
  EXPECT_NE(again->session_id(), "");
}

}  // namespace
}  // namespace fieldlog
