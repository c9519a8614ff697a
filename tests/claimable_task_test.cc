// ClaimableTask: work queued on a pool runs exactly once, on the pool when a
// worker gets to it first and on the caller's thread otherwise, and never
// after its owner is gone.
#include "common/claimable_task.h"

#include <atomic>
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/worker_pool.h"
#include "gtest/gtest.h"

namespace fieldlog {
namespace {

// Keeps a one-thread pool's only worker busy until Release.
class BlockedPool {
 public:
  BlockedPool() {
    pool_.Submit([this] { release_.WaitForNotification(); });
  }
  ~BlockedPool() { Release(); }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }
  WorkerPool* pool() { return &pool_; }

 private:
  absl::Notification release_;
  WorkerPool pool_{1, "claimable-test"};  // joined before release_ goes
};

TEST(ClaimableTaskTest, AnIdlePoolRunsTheWorkAndTakeReturnsItsResult) {
  WorkerPool pool(1);
  std::atomic<int> runs{0};
  std::atomic<std::thread::id> ran_on;
  ClaimableTask<int> task(&pool, [&] {
    ran_on = std::this_thread::get_id();
    ++runs;
    return 42;
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!task.StartedOnPool() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_TRUE(task.StartedOnPool());
  EXPECT_EQ(task.Take(), 42);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_NE(ran_on.load(), std::this_thread::get_id());
}

TEST(ClaimableTaskTest, TakeRunsTheWorkItselfWhenThePoolHasNotStartedIt) {
  std::atomic<int> runs{0};
  std::atomic<std::thread::id> ran_on;
  BlockedPool blocked;
  {
    ClaimableTask<int> task(blocked.pool(), [&] {
      ran_on = std::this_thread::get_id();
      ++runs;
      return 7;
    });
    // The only worker is busy: waiting for it would never end.
    EXPECT_EQ(task.Take(), 7);
    EXPECT_FALSE(task.StartedOnPool());
    EXPECT_EQ(ran_on.load(), std::this_thread::get_id());
  }
  // The worker reaches the task later and leaves it alone.
  blocked.Release();
  WorkerPool* pool = blocked.pool();
  absl::Notification drained;
  pool->Submit([&] { drained.Notify(); });  // FIFO: after the task's turn
  ASSERT_TRUE(drained.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(runs.load(), 1);
}

TEST(ClaimableTaskTest, ATaskDroppedBeforeItsTurnNeverRuns) {
  std::atomic<int> runs{0};
  BlockedPool blocked;
  {
    ClaimableTask<int> task(blocked.pool(), [&runs] { return ++runs; });
  }
  blocked.Release();
  absl::Notification drained;
  blocked.pool()->Submit([&] { drained.Notify(); });
  ASSERT_TRUE(drained.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(runs.load(), 0);
}

TEST(ClaimableTaskTest, DroppingARunningTaskWaitsForItsWorkToEnd) {
  WorkerPool pool(1);
  absl::Notification started;
  absl::Notification finish;
  std::atomic<bool> ended{false};
  auto task = std::make_unique<ClaimableTask<int>>(&pool, [&] {
    started.Notify();
    finish.WaitForNotification();
    absl::SleepFor(absl::Milliseconds(20));  // still running as the owner lets go
    ended = true;
    return 1;
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  finish.Notify();
  task.reset();
  EXPECT_TRUE(ended.load());
}

TEST(ClaimableTaskTest, TakeWaitsForTheResultOfARunningTask) {
  WorkerPool pool(1);
  absl::Notification started;
  ClaimableTask<int> task(&pool, [&] {
    started.Notify();
    absl::SleepFor(absl::Milliseconds(20));
    return 3;
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(task.Take(), 3);
  EXPECT_TRUE(task.StartedOnPool());
}

}  // namespace
}  // namespace fieldlog
