// Issue 3, "lines logged while the server is down for minutes arrive when it
// is back": the real server (in process, RocksDB in a temporary directory)
// goes down for two minutes while an app thread keeps logging, then comes
// back on the same address and data directory.
//
// During the outage the agent must keep accepting lines without ever making
// Log() wait, use little CPU, and retry no more often than its backoff
// schedule allows; once the server is back every line must arrive exactly
// once, in order, within one maximum backoff (plus a margin).
//
// It takes about 2 minutes 15 seconds: it is the slow one of the agent tests.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fieldlog/agent.h"
#include "gtest/gtest.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::AppKeys;
using ::fieldlog::testing::SearchAll;
using ::fieldlog::testing::TempDir;
using ::fieldlog::testing::TestServer;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kOutage = std::chrono::seconds(120);
constexpr auto kLineEvery = milliseconds(50);
constexpr int kBurstLines = 1000;  // logged at once, halfway through the outage
constexpr int kLinesBefore = 10;
// What Log()'s p99.9 may take on a busy shared machine. That Log() never
// waits is checked exactly, by the app thread's voluntary context switches;
// the slowest single call is only printed, since on an overloaded 2-core
// machine one scheduler preemption took 111 ms (a CI run beside a crash-test
// loop).
constexpr auto kSlowestLog = milliseconds(100);
// The agent's own CPU (the app thread's 3,400 lines included) over the
// outage: half a percent of one core in practice; the bound is 2%.
constexpr double kMaxCpuShare = 0.02;
// After the server is back: the pending reconnect delay (at most
// max_backoff), then the connection, the hello and the upload of ~3,400
// lines; the margin also covers the one-second reconnect backoff of gRPC's
// own channel, which may still report the old failure to the first attempt.
constexpr auto kArrivalMargin = std::chrono::seconds(5);

double ProcessCpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// The most reconnect attempts the agent's schedule allows within `window`:
// the n-th delay after a failure is drawn from [b/2, b] with
// b = min(max_backoff, initial_backoff * 2^(n-1)), so the attempts are at
// least the lower ends apart.
int MaxAttempts(milliseconds initial, milliseconds max, std::chrono::nanoseconds window) {
  int attempts = 0;
  std::chrono::nanoseconds elapsed{0};
  milliseconds b{0};
  for (;;) {
    b = b.count() == 0 ? initial : std::min(max, b * 2);
    elapsed += b / 2;
    if (elapsed > window) return attempts;
    ++attempts;
  }
}

// The fewest: the upper ends apart, each attempt failing at once.
int MinAttempts(milliseconds initial, milliseconds max, std::chrono::nanoseconds window) {
  int attempts = 0;
  std::chrono::nanoseconds elapsed{0};
  milliseconds b{0};
  for (;;) {
    b = b.count() == 0 ? initial : std::min(max, b * 2);
    elapsed += b;
    if (elapsed > window) return attempts;
    ++attempts;
  }
}

std::string OfflineMessage(int n) { return "offline line " + std::to_string(n); }

TEST(AgentOfflineTest, LinesLoggedDuringATwoMinuteOutageArriveOnceInOrderWhenItIsBack) {
  TempDir dir;
  auto server = std::make_unique<TestServer>(dir.path());
  const AppKeys keys = server->CreateApp("shop");
  const std::string address = server->address();

  AgentOptions options;  // the defaults, except:
  options.server = address;
  options.ingest_key = keys.ingest_key;
  options.device_id = "device-1";
  // The default maximum backoff (30 s) would add up to 30 s of waiting after
  // the server is back; 10 s keeps the test near two and a quarter minutes
  // and still lets the schedule reach its cap (250 ms doubling reaches 10 s
  // after 6 failures) and stay there for most of the outage.
  options.max_backoff = std::chrono::seconds(10);
  ASSERT_EQ(options.initial_backoff, milliseconds(250)) << "the default";
  std::string error;
  auto agent = Agent::Start(options, &error);
  ASSERT_NE(agent, nullptr) << error;
  for (int i = 0; i < kLinesBefore; ++i) {
    agent->Log(Level::kInfo, "Online", "before " + std::to_string(i));
  }
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10))) << agent->stats().last_error;
  const uint64_t reconnects_before = agent->stats().reconnects;

  // ---- the outage ----
  server->Stop();
  const Clock::time_point down_at = Clock::now();
  const double cpu_before = ProcessCpuSeconds();
  std::atomic<int> logged{0};
  std::vector<Clock::duration> log_times;
  long waits = 0;  // voluntary context switches inside Log()
  log_times.reserve(kOutage / kLineEvery + kBurstLines + 16);
  std::thread app([&] {
    int n = 0;
    bool burst_done = false;
    const auto log = [&] {
      const std::string message = OfflineMessage(n);
      rusage before, after;
      ::getrusage(RUSAGE_THREAD, &before);
      const Clock::time_point t0 = Clock::now();
      agent->Log(Level::kInfo, "Offline", message, {{"n", n}, {"screen", "checkout"}});
      log_times.push_back(Clock::now() - t0);
      ::getrusage(RUSAGE_THREAD, &after);
      // A voluntary context switch is the thread giving up the CPU: waiting
      // on a lock, the disk or the network. (Involuntary ones are the
      // scheduler's doing on a busy machine.)
      // The thread's first line registers its ring: one lock, once.
      if (n > 0) waits += after.ru_nvcsw - before.ru_nvcsw;
      ++n;
    };
    for (Clock::time_point next = down_at; next < down_at + kOutage; next += kLineEvery) {
      std::this_thread::sleep_until(next);
      log();
      if (!burst_done && next >= down_at + kOutage / 2) {
        for (int b = 0; b < kBurstLines; ++b) log();
        burst_done = true;
      }
    }
    logged = n;
  });
  app.join();
  const double cpu_seconds = ProcessCpuSeconds() - cpu_before;
  const Clock::duration outage = Clock::now() - down_at;
  const AgentStats during = agent->stats();
  const int offline_lines = logged.load();

  EXPECT_GE(offline_lines, static_cast<int>(kOutage / kLineEvery) + kBurstLines - 1);
  EXPECT_EQ(during.logged, static_cast<uint64_t>(kLinesBefore + offline_lines))
      << "every line was accepted";
  EXPECT_EQ(during.dropped, 0u);
  EXPECT_FALSE(during.connected);
  EXPECT_EQ(during.acknowledged, static_cast<uint64_t>(kLinesBefore));
  std::sort(log_times.begin(), log_times.end());
  const auto slowest = std::chrono::duration_cast<std::chrono::microseconds>(log_times.back());
  const auto p999 = std::chrono::duration_cast<std::chrono::microseconds>(
      log_times[log_times.size() * 999 / 1000]);
  EXPECT_EQ(waits, 0) << "Log() never waits for the network or the disk";
  EXPECT_LT(p999, kSlowestLog) << "slowest " << slowest.count() << " us";
  const double cpu_share = cpu_seconds / std::chrono::duration<double>(outage).count();
  EXPECT_LT(cpu_share, kMaxCpuShare) << cpu_seconds << " s of CPU while waiting";
  const uint64_t attempts = during.reconnects - reconnects_before;
  const int max_attempts = MaxAttempts(options.initial_backoff, options.max_backoff, outage);
  const int min_attempts =
      MinAttempts(options.initial_backoff, options.max_backoff, outage - std::chrono::seconds(2));
  EXPECT_LE(attempts, static_cast<uint64_t>(max_attempts)) << "no faster than the backoff";
  EXPECT_GE(attempts, static_cast<uint64_t>(min_attempts)) << "it kept trying";
  std::printf(
      "outage %.1f s: %d lines logged, slowest Log() %lld us (p99.9 %lld us), CPU %.3f s "
      "(%.2f%% of a core), %llu reconnect attempts (the schedule allows %d-%d)\n",
      std::chrono::duration<double>(outage).count(), offline_lines,
      static_cast<long long>(slowest.count()), static_cast<long long>(p999.count()), cpu_seconds,
      100 * cpu_share, static_cast<unsigned long long>(attempts), min_attempts, max_attempts);

  // ---- back ----
  server = std::make_unique<TestServer>(dir.path(), address);
  const Clock::time_point back_at = Clock::now();
  const auto deadline = options.max_backoff + kArrivalMargin;
  const bool flushed = agent->Flush(std::chrono::duration_cast<milliseconds>(deadline));
  const Clock::duration took = Clock::now() - back_at;
  ASSERT_TRUE(flushed) << "not everything arrived within max_backoff + " << kArrivalMargin.count()
                       << " s: " << agent->stats().last_error;
  const AgentStats after = agent->stats();
  std::printf("everything acknowledged %.1f s after the server was back (%llu more attempts)\n",
              std::chrono::duration<double>(took).count(),
              static_cast<unsigned long long>(after.reconnects - during.reconnects));
  EXPECT_EQ(after.acknowledged, static_cast<uint64_t>(kLinesBefore + offline_lines));
  EXPECT_EQ(after.rejected, 0u);
  EXPECT_EQ(after.dropped, 0u);

  v1::SearchRequest request;
  request.set_app("shop");
  request.set_device_id("device-1");
  std::vector<v1::LogLine> lines;
  ASSERT_TRUE(SearchAll(*server->QueryStub(), keys.read_token, request, &lines).ok());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kLinesBefore + offline_lines))
      << "every line exactly once";
  for (int i = 0; i < kLinesBefore; ++i) {
    ASSERT_EQ(lines[i].message(), "before " + std::to_string(i));
  }
  for (int n = 0; n < offline_lines; ++n) {
    const v1::LogLine& line = lines[kLinesBefore + n];
    ASSERT_EQ(line.message(), OfflineMessage(n)) << "in order";
    ASSERT_EQ(line.attributes_size(), 2);
    ASSERT_EQ(line.attributes(0).value().int_value(), n);
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    ASSERT_GT(lines[i].seq(), lines[i - 1].seq()) << "seqs strictly increase";
  }
  agent->Shutdown(milliseconds(0));
}

}  // namespace
}  // namespace fieldlog
