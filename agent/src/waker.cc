#include "agent/src/waker.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

namespace fieldlog::agent {
namespace {

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value, const timespec* timeout) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  return ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

}  // namespace

void Waker::Wake() {
  seq_.fetch_add(1, std::memory_order_acq_rel);
  Futex(&seq_, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr);
}

void Waker::Wait(uint32_t token, std::chrono::steady_clock::time_point deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return;
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  const timespec timeout{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  // Returns at once when seq_ moved past `token` (EAGAIN), on a wake, or at
  // the timeout; spurious returns only cost an extra loop.
  Futex(&seq_, FUTEX_WAIT_PRIVATE, token, &timeout);
}

}  // namespace fieldlog::agent
