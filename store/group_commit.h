// GroupCommitter: the "group commit on an interval" sync policy.
//
// Writes go to RocksDB's WAL without an fsync each. A background thread
// fsyncs the WAL once per interval, and only when someone is waiting, then
// runs the callbacks of every write that fsync covered, in write order. So a
// batch is acknowledged only once it would survive a power cut, while one
// fsync serves every batch written in the interval, from every stream.
//
// A waiter that is in a hurry (a reader whose answer waits on its audit
// record) has the next fsync start at once instead of at the interval's end;
// the writes it covers for others go out sooner too.
//
// A waiter may also sync on its own thread (SyncNow); the background thread
// then finds nobody waiting and skips its fsync.
//
// Thread-safe. The destructor performs a last sync and runs every callback
// still waiting (with the sync's status).
#ifndef FIELDLOG_STORE_GROUP_COMMIT_H_
#define FIELDLOG_STORE_GROUP_COMMIT_H_

#include <cstdint>
#include <deque>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rocksdb/db.h"

namespace fieldlog::store {

class GroupCommitter {
 public:
  using Callback = absl::AnyInvocable<void(absl::Status)>;

  GroupCommitter(rocksdb::DB* db, absl::Duration interval);
  ~GroupCommitter();

  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  enum class Urgency { kWithTheInterval, kNow };

  // Runs `done` once the write that reached RocksDB sequence number
  // `sequence` is fsynced (OK), or the fsync failed (its error). With kNow
  // the fsync does not wait for the interval.
  void WhenDurable(uint64_t sequence, Callback done, Urgency urgency = Urgency::kWithTheInterval);

  // Makes every write so far durable without waiting for this class's thread
  // to get a core: unless a sync already running or done covers them, one
  // fsync on the calling thread, now, then the callbacks it covered, on this
  // thread too (Store::SyncNow). The caller's own callback may run in here,
  // or on the thread of the sync that covers it.
  void SyncNow();

  // Number of fsyncs performed so far (for metrics and tests).
  uint64_t syncs() const;

 private:
  void Run();
  // One fsync; then the callbacks it covered.
  void SyncAndNotify();

  rocksdb::DB* const db_;
  const absl::Duration interval_;
  mutable absl::Mutex mu_;
  std::deque<std::pair<uint64_t, Callback>> waiting_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool urgent_ ABSL_GUARDED_BY(mu_) = false;  // a kNow waiter is waiting
  uint64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;
  // Syncs running (the thread's and SyncNow's), the last sequence the
  // furthest of them covers, and the last one a finished sync covered.
  int syncing_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t syncing_through_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t synced_through_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_GROUP_COMMIT_H_
