// Many threads logging at once while the agent's background work drains their
// buffers into the spool, built with -fsanitize=thread (see tests/CMakeLists:
// the agent's core sources compiled instrumented, without gRPC, which Debian
// does not ship instrumented). Checks that every line arrives once, in its
// thread's order, with its thread's user, or is counted in a gap marker.
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "agent/src/spool.h"
#include "agent/src/spooler.h"
#include "agent/src/thread_rings.h"
#include "agent/src/waker.h"
#include "agent/src/wire.h"
#include "gtest/gtest.h"

namespace fieldlog::agent {
namespace {

// The message and the integer attributes of an entry body, parsed by hand
// (this test links no protobuf).
struct Parsed {
  std::string message;
  std::map<std::string, int64_t> ints;
};

bool ParseFields(std::string_view data,
                 const std::function<void(int, uint64_t, std::string_view)>& fn) {
  size_t pos = 0;
  while (pos < data.size()) {
    uint64_t tag, value = 0;
    if (!wire::GetVarint(data, &pos, &tag)) return false;
    std::string_view bytes;
    switch (tag & 7) {
      case 0:
        if (!wire::GetVarint(data, &pos, &value)) return false;
        break;
      case 1:
        pos += 8;
        break;
      case 2:
        if (!wire::GetVarint(data, &pos, &value) || value > data.size() - pos) return false;
        bytes = data.substr(pos, value);
        pos += value;
        break;
      default:
        return false;
    }
    fn(static_cast<int>(tag >> 3), value, bytes);
  }
  return pos == data.size();
}

Parsed ParseBody(std::string_view body) {
  Parsed p;
  ParseFields(body, [&](int field, uint64_t, std::string_view bytes) {
    if (field == wire::kEntryMessage) p.message = std::string(bytes);
    if (field != wire::kEntryAttributes) return;
    std::string key;
    int64_t number = 0;
    ParseFields(bytes, [&](int f, uint64_t, std::string_view b) {
      if (f == 1) key = std::string(b);
      if (f == 2) {
        ParseFields(b, [&](int vf, uint64_t v, std::string_view) {
          if (vf == 2) number = static_cast<int64_t>(v);
        });
      }
    });
    p.ints[key] = number;
  });
  return p;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = std::filesystem::temp_directory_path().string() + "/fieldlog-tsan-XXXXXX";
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(AgentTsanTest, ManyThreadsLogWhileTheBackgroundThreadSpools) {
  TempDir dir;
  Spool::Options options;
  options.dir = dir.path();
  options.max_bytes = 256 << 20;
  options.fsync = false;
  auto opened = Spool::Open(options, nullptr);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<Spool> spool = *std::move(opened);
  ThreadRings rings(512 * 1024);  // small enough that some lines are dropped and counted
  UserTable users;
  Spooler spooler(&rings, &users, spool.get(), {"session", false, nullptr});

  constexpr int kThreads = 6, kLines = 20000;
  std::atomic<int> running{kThreads};
  // As in the agent: a producer whose ring is half full (or that dropped a
  // line) wakes the background thread, at most once per round.
  Waker waker;
  std::atomic<bool> kicked{false};
  std::thread background([&] {
    for (int round = 0; round < 1000000; ++round) {
      const uint32_t token = waker.Prepare();
      kicked.store(false);
      ASSERT_TRUE(spooler.Drain().ok());
      if (running.load() == 0) break;
      waker.Wait(token, std::chrono::steady_clock::now() + std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(spooler.Drain().ok());
    ASSERT_TRUE(spool->Sync().ok());
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string message = "thread " + std::to_string(t);
      for (int i = 0; i < kLines; ++i) {
        if (t == 0 && i % 5000 == 0) users.Set("user-" + std::to_string(i / 5000));
        const Attribute attributes[] = {{"thread", t}, {"i", i}};
        const LineFields fields{3,
                                0,
                                1700000000000000 + i,
                                users.version(),
                                "T",
                                message,
                                __FILE__,
                                __LINE__,
                                __func__,
                                attributes,
                                2};
        if (rings.Local()->Log(fields) && !kicked.exchange(true)) waker.Wake();
        if (i % 128 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      running.fetch_sub(1);
    });
  }
  for (auto& t : threads) t.join();
  background.join();

  // Every line is in the spool once, in its thread's order, or counted.
  std::vector<int> last(kThreads, -1);
  uint64_t lines = 0, gap_lines = 0;
  spool->Rewind(0);
  Spool::Entry e;
  for (int n = 0; n < kThreads * kLines + 1000 && spool->Next(&e); ++n) {
    if (e.kind == Spool::kKindGap) {
      gap_lines += e.gap_count;
      continue;
    }
    const Parsed p = ParseBody(e.body);
    const int t = static_cast<int>(p.ints.at("thread"));
    const int i = static_cast<int>(p.ints.at("i"));
    ASSERT_LT(last[t], i) << "thread " << t << " out of order";
    last[t] = i;
    EXPECT_EQ(p.message, "thread " + std::to_string(t));
    if (t == 0) {
      EXPECT_EQ(e.user_id, "user-" + std::to_string(i / 5000));
    }
    ++lines;
  }
  EXPECT_EQ(lines + gap_lines, uint64_t{kThreads} * kLines);
  EXPECT_EQ(rings.logged(), lines);
  EXPECT_EQ(rings.dropped(), gap_lines);
  std::printf("%llu lines spooled, %llu dropped and counted in gap markers\n",
              static_cast<unsigned long long>(lines), static_cast<unsigned long long>(gap_lines));
}

}  // namespace
}  // namespace fieldlog::agent
