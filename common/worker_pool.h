// WorkerPool: a fixed set of threads running queued tasks in FIFO order.
//
// The collector stores batches here, and the query service runs live tails
// here, rather than on gRPC's callback threads, which must never block on
// disk. Each stream or tail hands the pool at most one task at a time, so the
// queue is bounded by the number of calls.
//
// Thread-safe. The destructor runs every queued task, then joins.
#ifndef FIELDLOG_COMMON_WORKER_POOL_H_
#define FIELDLOG_COMMON_WORKER_POOL_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace fieldlog {

class WorkerPool {
 public:
  explicit WorkerPool(size_t threads);
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(absl::AnyInvocable<void()> task);

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace fieldlog

#endif  // FIELDLOG_COMMON_WORKER_POOL_H_
