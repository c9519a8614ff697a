// ClaimableTask: work queued on a WorkerPool ahead of the moment its result
// is wanted, which the thread that wants it runs itself if no worker has
// started it by then.
//
// So taking the result never waits on a queue: not on a pool busy with other
// work, nor on a pool whose every thread is a caller waiting for its own task
// (a search on the search workers reading its next block ahead). At worst the
// work runs where it would have run without the pool.
//
// The destructor keeps a queued task from ever starting, or waits for a
// running one to end: the work may reference whatever outlives the
// ClaimableTask. The pool must outlive the task's turn in its queue (the
// WorkerPool destructor runs every task queued).
//
// Thread-compatible: one owner takes the result, once.
#ifndef FIELDLOG_COMMON_CLAIMABLE_TASK_H_
#define FIELDLOG_COMMON_CLAIMABLE_TASK_H_

#include <memory>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "common/worker_pool.h"

namespace fieldlog {

template <typename T>
class ClaimableTask {
 public:
  ClaimableTask(WorkerPool* pool, absl::AnyInvocable<T()> work)
      : state_(std::make_shared<State>(std::move(work))) {
    pool->Submit([state = state_] {
      if (!state->Claim(Phase::kRunning)) return;  // the owner took it, or gave it up
      T result = state->work();
      absl::MutexLock lock(&state->mu);
      state->result.emplace(std::move(result));
      state->phase = Phase::kDone;
    });
  }

  ~ClaimableTask() {
    absl::MutexLock lock(&state_->mu);
    if (state_->phase == Phase::kQueued) state_->phase = Phase::kClaimed;  // it will not run
    state_->mu.Await(absl::Condition(state_.get(), &State::NotRunning));
  }

  ClaimableTask(const ClaimableTask&) = delete;
  ClaimableTask& operator=(const ClaimableTask&) = delete;

  // The work's result, from this thread when no worker had started it.
  // Call once.
  T Take() {
    if (state_->Claim(Phase::kClaimed)) return state_->work();
    state_->AwaitDone();
    absl::MutexLock lock(&state_->mu);
    return *std::move(state_->result);
  }

  // Whether a worker ran (or is running) the work; for tests.
  bool StartedOnPool() const {
    absl::MutexLock lock(&state_->mu);
    return state_->phase == Phase::kRunning || state_->phase == Phase::kDone;
  }

 private:
  enum class Phase { kQueued, kClaimed, kRunning, kDone };

  // Shared with the queued task, which may run after its owner is gone.
  struct State {
    explicit State(absl::AnyInvocable<T()> w) : work(std::move(w)) {}

    // Moves a queued task to `to`; false once anyone else has.
    bool Claim(Phase to) {
      absl::MutexLock lock(&mu);
      if (phase != Phase::kQueued) return false;
      phase = to;
      return true;
    }
    void AwaitDone() {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(this, &State::Done));
    }
    bool Done() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return phase == Phase::kDone; }
    bool NotRunning() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return phase != Phase::kRunning; }

    // Run by whoever claims it, outside `mu`.
    absl::AnyInvocable<T()> work;
    mutable absl::Mutex mu;
    Phase phase ABSL_GUARDED_BY(mu) = Phase::kQueued;
    std::optional<T> result ABSL_GUARDED_BY(mu);
  };

  std::shared_ptr<State> state_;
};

}  // namespace fieldlog

#endif  // FIELDLOG_COMMON_CLAIMABLE_TASK_H_
