#include "store/group_commit.h"

#include <pthread.h>

#include <vector>

#include "absl/time/clock.h"
#include "store/store.h"

namespace fieldlog::store {

GroupCommitter::GroupCommitter(rocksdb::DB* db, absl::Duration interval)
    : db_(db), interval_(interval), thread_([this] { Run(); }) {
  pthread_setname_np(thread_.native_handle(), "group-commit");  // for top and profiles
}

GroupCommitter::~GroupCommitter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  SyncAndNotify();
}

void GroupCommitter::WhenDurable(uint64_t sequence, Callback done, Urgency urgency) {
  absl::MutexLock lock(&mu_);
  waiting_.emplace_back(sequence, std::move(done));
  if (urgency == Urgency::kNow) urgent_ = true;
}

uint64_t GroupCommitter::syncs() const {
  absl::MutexLock lock(&mu_);
  return syncs_;
}

void GroupCommitter::Run() {
  absl::Time next_sync = absl::Now();
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      const auto waited_on = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !waiting_.empty();
      };
      mu_.Await(absl::Condition(&waited_on));
      // Let the interval's writes gather, then serve them all with one
      // fsync; a waiter in a hurry ends the gathering.
      const auto cut_short = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || urgent_;
      };
      mu_.AwaitWithDeadline(absl::Condition(&cut_short), next_sync);
      if (stopping_) return;
      urgent_ = false;
    }
    next_sync = absl::Now() + interval_;
    SyncAndNotify();
  }
}

void GroupCommitter::SyncAndNotify() {
  // Every write published at or before `covered` is in the WAL file, so the
  // fsync that follows makes it durable.
  const uint64_t covered = db_->GetLatestSequenceNumber();
  const absl::Status status = FromRocksStatus(db_->SyncWAL(), "syncing the write-ahead log");
  std::vector<Callback> ready;
  {
    absl::MutexLock lock(&mu_);
    ++syncs_;
    // Callbacks arrive in sequence order per writer, but not across writers;
    // take every one the sync covered, wherever it sits, keeping their order.
    std::deque<std::pair<uint64_t, Callback>> still_waiting;
    for (auto& [sequence, done] : waiting_) {
      if (sequence <= covered) {
        ready.push_back(std::move(done));
      } else {
        still_waiting.emplace_back(sequence, std::move(done));
      }
    }
    waiting_.swap(still_waiting);
  }
  for (Callback& done : ready) done(status);
}

}  // namespace fieldlog::store
