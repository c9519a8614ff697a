// ThreadRings: each logging thread's RingBuffer for one agent, found through
// a thread_local cache so that Log() touches no shared lock and no shared
// cache line that other logging threads write.
//
// Contract: Local() is called by any thread; the first call on a thread
// creates and registers its ring (the only allocation and the only lock, once
// per thread per agent). Collect() and Reap() are for the single consumer.
// A thread's ring outlives the thread until the consumer has drained it; its
// counters then move to the registry's totals.
#ifndef FIELDLOG_AGENT_SRC_THREAD_RINGS_H_
#define FIELDLOG_AGENT_SRC_THREAD_RINGS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "agent/src/record.h"
#include "agent/src/ring_buffer.h"

namespace fieldlog::agent {

struct ThreadRing {
  explicit ThreadRing(size_t capacity) : ring(capacity) {}
  RingBuffer ring;
  // Written by the owning thread only (relaxed), read by anyone.
  std::atomic<uint64_t> logged{0};
  std::atomic<uint64_t> dropped{0};
  // Owning thread only: drops not yet recorded in the ring as a marker.
  uint64_t unreported_drops = 0;
  int64_t first_drop_us = 0;
  std::atomic<bool> abandoned{false};  // the owning thread has exited
  std::atomic<bool> orphaned{false};   // the registry is gone

  // Owning thread: records one line, or counts it as dropped when the ring
  // is full (the next line that fits is preceded by a drops record). Returns
  // true when the consumer should be woken: the ring is past half full or a
  // line was dropped. No lock, no system call, no allocation.
  bool Log(const LineFields& fields) {
    if (unreported_drops > 0) {
      if (!WriteDrops(&ring, unreported_drops, first_drop_us, fields.user_version)) {
        return CountDrop(fields.time_us);
      }
      unreported_drops = 0;
    }
    if (!WriteLine(&ring, fields)) return CountDrop(fields.time_us);
    logged.store(logged.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return ring.PastHalf();
  }

 private:
  bool CountDrop(int64_t time_us) {
    if (unreported_drops++ == 0) first_drop_us = time_us;
    dropped.store(dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return true;
  }
};

class ThreadRings {
 public:
  explicit ThreadRings(size_t capacity_per_thread);
  ~ThreadRings();
  ThreadRings(const ThreadRings&) = delete;
  ThreadRings& operator=(const ThreadRings&) = delete;

  // The calling thread's ring.
  ThreadRing* Local() {
    if (tls_last.uid == uid_) return tls_last.ring;
    return Register();
  }

  // Consumer: the rings alive now.
  void Collect(std::vector<std::shared_ptr<ThreadRing>>* out) const;
  // Consumer: forgets rings whose thread exited and that are drained.
  void Reap();

  uint64_t logged() const;
  uint64_t dropped() const;

 private:
  struct TlsLast {  // zero-initialized, as every thread_local of static duration
    uint64_t uid;
    ThreadRing* ring;
  };
  // The ring of the agent this thread logged to last: one compare on the hot
  // path. (Trivial type: no TLS init guard.)
  static inline thread_local TlsLast tls_last;

  ThreadRing* Register();

  const uint64_t uid_;
  const size_t capacity_;
  // std::mutex rather than absl::Mutex: the ThreadSanitizer test builds this
  // file instrumented against Debian's uninstrumented Abseil, whose Mutex
  // TSan cannot see; pthread mutexes it intercepts.
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<ThreadRing>> rings_;
  uint64_t retired_logged_ = 0;
  uint64_t retired_dropped_ = 0;
};

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_THREAD_RINGS_H_
