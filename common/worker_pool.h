// WorkerPool: a fixed set of threads running queued tasks in FIFO order.
//
// The collector stores batches here, and the query service runs live tails
// here, rather than on gRPC's callback threads, which must never block on
// disk. Each stream or tail hands the pool at most one task at a time, so the
// queue is bounded by the number of calls.
//
// Thread-safe. The destructor runs every queued task, then joins.
//
// Threads are named `name` (as top, perf and gdb show them), so a profile
// tells the pools' work apart from the other threads of the process.
#ifndef FIELDLOG_COMMON_WORKER_POOL_H_
#define FIELDLOG_COMMON_WORKER_POOL_H_

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace fieldlog {

class WorkerPool {
 public:
  // `name`: at most 15 characters (the kernel's limit); "" leaves the name.
  explicit WorkerPool(size_t threads, std::string name = "");
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
