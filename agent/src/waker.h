// Waker: how other threads wake the agent's background thread, which
// otherwise sleeps until its next deadline.
//
// Contract: take a token with Prepare(), check for work, then Wait(token,
// deadline): a Wake() from any thread after Prepare() makes Wait return at
// once. Wake() takes no lock (a futex wake on Linux, so a logging thread that
// finds its buffer half full can call it without blocking on anyone).
#ifndef FIELDLOG_AGENT_SRC_WAKER_H_
#define FIELDLOG_AGENT_SRC_WAKER_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace fieldlog::agent {

class Waker {
 public:
  uint32_t Prepare() const { return seq_.load(std::memory_order_acquire); }
  void Wake();
  void Wait(uint32_t token, std::chrono::steady_clock::time_point deadline);

 private:
  std::atomic<uint32_t> seq_{0};
};

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_WAKER_H_
