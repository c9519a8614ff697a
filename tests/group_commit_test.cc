// The group committer of `--sync interval` on a real RocksDB: writes wait
// for the interval's shared fsync, and a reader's audit record (a waiter in a
// hurry) has the fsync start at once, taking the others' writes with it; a
// reader whose answer is ready can also sync on its own thread (SyncNow).
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "store/store.h"
#include "tests/testing/test_util.h"

namespace fieldlog::store {
namespace {

using ::fieldlog::testing::TempDir;

constexpr absl::Duration kInterval = absl::Seconds(3);

std::unique_ptr<Store> OpenSyncingEvery(const std::string& path, absl::Duration interval) {
  StoreOptions options;
  options.path = path;
  options.sync = SyncPolicy::kInterval;
  options.sync_interval = interval;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// Writes one key and returns the sequence number it reached.
uint64_t WriteOne(Store& store, const std::string& key) {
  EXPECT_TRUE(store.db()->Put(store.write_options(), key, "v").ok());
  return store.db()->GetLatestSequenceNumber();
}

TEST(GroupCommitTest, AnAuditRecordStartsTheFsyncThatOthersWaitAnIntervalFor) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenSyncingEvery(dir.path() + "/db", kInterval);
  ASSERT_NE(store, nullptr);

  // The first fsync starts the interval.
  absl::Notification first;
  store->WhenDurable(WriteOne(*store, "a"), [&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    first.Notify();
  });
  ASSERT_TRUE(first.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const uint64_t syncs_before = store->group_syncs();

  // A write now waits for the interval's end...
  absl::Notification batch;
  store->WhenDurable(WriteOne(*store, "b"), [&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    batch.Notify();
  });
  EXPECT_FALSE(batch.WaitForNotificationWithTimeout(absl::Milliseconds(300)))
      << "acknowledged before the interval's fsync";

  // ...until an audit record arrives: its fsync starts at once and covers
  // the waiting write too.
  const absl::Time start = absl::Now();
  absl::Notification audited;
  AuditRecord record;
  record.set_time_unix_micros(1);
  record.set_action("search");
  store->AppendAudit(1, record, [&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    audited.Notify();
  });
  ASSERT_TRUE(audited.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_LT(absl::Now() - start, kInterval / 2) << "the audit record waited for the interval";
  EXPECT_TRUE(batch.HasBeenNotified()) << "the same fsync covered the waiting write";
  EXPECT_EQ(store->group_syncs(), syncs_before + 1);
}

// A reader whose answer is ready syncs on its own thread (Store::SyncNow):
// the waiting writes' callbacks run there before it returns, one fsync serves
// them, and a SyncNow with nothing new to cover does no fsync.
TEST(GroupCommitTest, SyncNowServesTheWaitingWritesOnTheCallingThread) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenSyncingEvery(dir.path() + "/db", absl::Seconds(30));
  ASSERT_NE(store, nullptr);
  // The first fsync starts the interval.
  absl::Notification first;
  store->WhenDurable(WriteOne(*store, "a"), [&](absl::Status) { first.Notify(); });
  ASSERT_TRUE(first.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const uint64_t syncs_before = store->group_syncs();

  std::thread::id ran_on;
  int done = 0;
  for (const char* key : {"b", "c"}) {
    store->WhenDurable(WriteOne(*store, key), [&](absl::Status s) {
      EXPECT_TRUE(s.ok()) << s;
      ran_on = std::this_thread::get_id();
      ++done;
    });
  }
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(done, 0) << "acknowledged before the interval's fsync";
  store->SyncNow();
  EXPECT_EQ(done, 2);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(store->group_syncs(), syncs_before + 1);

  store->SyncNow();  // nothing new since
  EXPECT_EQ(store->group_syncs(), syncs_before + 1);
}

TEST(GroupCommitTest, WithoutGroupCommitAnAuditRecordIsDoneOnceWritten) {
  TempDir dir;
  StoreOptions options;
  options.path = dir.path() + "/db";
  options.sync = SyncPolicy::kEveryBatch;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  bool done = false;
  AuditRecord record;
  record.set_time_unix_micros(1);
  (*store)->AppendAudit(1, record, [&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    done = true;
  });
  EXPECT_TRUE(done) << "kEveryBatch syncs the write itself: done runs before AppendAudit returns";
  EXPECT_EQ((*store)->group_syncs(), 0u);
}

}  // namespace
}  // namespace fieldlog::store
