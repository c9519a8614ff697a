#include "store/group_commit.h"

#include <pthread.h>

#include <algorithm>
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
      // A waiter's SyncNow may have served them all meanwhile, or be syncing
      // them now (it runs their callbacks): a second fsync would be wasted.
      if (waiting_.empty()) continue;
      uint64_t last_waiting = 0;
      for (const auto& [sequence, done] : waiting_) last_waiting = std::max(last_waiting, sequence);
      if (syncing_ > 0 && syncing_through_ >= last_waiting) {
        const auto sync_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || syncing_ == 0;
        };
        mu_.Await(absl::Condition(&sync_done));
        continue;
      }
    }
    next_sync = absl::Now() + interval_;
    SyncAndNotify();
  }
}

void GroupCommitter::SyncNow() {
  const uint64_t target = db_->GetLatestSequenceNumber();
  {
    absl::MutexLock lock(&mu_);
    // A sync that covers every write so far is done or on its way: its
    // thread runs the callbacks.
    if (synced_through_ >= target) return;
    if (syncing_ > 0 && syncing_through_ >= target) return;
  }
  SyncAndNotify();
}

void GroupCommitter::SyncAndNotify() {
  // Every write published at or before `covered` is in the WAL file, so the
  // fsync that follows makes it durable.
  const uint64_t covered = db_->GetLatestSequenceNumber();
  {
    absl::MutexLock lock(&mu_);
    ++syncing_;
    syncing_through_ = std::max(syncing_through_, covered);
  }
  const absl::Status status = FromRocksStatus(db_->SyncWAL(), "syncing the write-ahead log");
  std::vector<Callback> ready;
  {
    absl::MutexLock lock(&mu_);
    ++syncs_;
    --syncing_;
    if (status.ok()) synced_through_ = std::max(synced_through_, covered);
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
