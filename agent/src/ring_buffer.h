// RingBuffer: a bounded single-producer, single-consumer byte queue of
// variable-size records, one per logging thread.
//
// Contract: exactly one thread calls Reserve/Commit (the owner thread of the
// buffer) and exactly one thread calls Peek/Release (the agent's background
// thread). A record is a contiguous region of at most capacity()/2 bytes
// starting with a u32 size; the producer never waits: when the record does
// not fit, Reserve returns nullptr and the caller counts a drop. Positions
// are 64-bit byte counters that never wrap in practice.
//
// Why a byte ring rather than a queue of objects: a line is copied in place
// (tag, message, attributes) without any allocation, and the two threads
// touch only two atomics, each on its own cache line.
#ifndef FIELDLOG_AGENT_SRC_RING_BUFFER_H_
#define FIELDLOG_AGENT_SRC_RING_BUFFER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace fieldlog::agent {

class RingBuffer {
 public:
  // A record of this size whose first u32 is kPadMarker fills the end of the
  // buffer when the next record does not fit before the wrap.
  static constexpr uint32_t kPadMarker = 0xFFFFFFFFu;
  static constexpr size_t kAlign = 8;

  // `capacity` is rounded up to a power of two, at least 4 KiB.
  explicit RingBuffer(size_t capacity);
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  size_t capacity() const { return mask_ + 1; }
  static size_t Aligned(size_t size) { return (size + kAlign - 1) & ~(kAlign - 1); }

  // Producer: room for `size` bytes (a multiple of kAlign, at most
  // capacity()/2), contiguous, or nullptr when the buffer is too full.
  char* Reserve(size_t size) {
    const size_t pos = head_ & mask_;
    const size_t room_to_end = capacity() - pos;
    const size_t need = size <= room_to_end ? size : room_to_end + size;
    if (head_ + need - cached_tail_ > capacity()) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head_ + need - cached_tail_ > capacity()) return nullptr;
    }
    if (size > room_to_end) {
      std::memcpy(data_.get() + pos, &kPadMarker, sizeof(kPadMarker));
      head_ += room_to_end;
      return data_.get();
    }
    return data_.get() + pos;
  }
  // Producer: publishes the record Reserve returned and prefetches the lines
  // a few records on (PrefetchForWrite).
  void Commit(size_t size) {
    head_ += size;
    published_head_.store(head_, std::memory_order_release);
    PrefetchForWrite(head_ - size, head_);
  }
  // Producer: true when the buffer is found past half full. One compare
  // while the producer's (possibly stale) view says it is not; otherwise it
  // looks at the consumer's progress, and while the buffer stays past half
  // full it looks again only after another capacity()/16 bytes, so a
  // producer running ahead of the consumer does not read the consumer's
  // cache line on every record.
  bool PastHalf() {
    if (head_ < next_check_) return false;
    cached_tail_ = tail_.load(std::memory_order_acquire);
    if (head_ - cached_tail_ > capacity() / 2) {
      next_check_ = head_ + capacity() / 16;
      return true;
    }
    next_check_ = cached_tail_ + capacity() / 2 + 1;
    return false;
  }

  // Consumer: the readable bytes from the tail up to the head or the end of
  // the buffer, whichever is first (pads included; see SkipPad).
  const char* Peek(size_t* size) {
    const uint64_t head = published_head_.load(std::memory_order_acquire);
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    const size_t pos = tail & mask_;
    const size_t available = static_cast<size_t>(head - tail);
    *size = available < capacity() - pos ? available : capacity() - pos;
    return data_.get() + pos;
  }
  // Consumer: everything published and unread, as up to two spans (the
  // second is the part that wrapped to the start of the buffer).
  void PeekAll(const char** first, size_t* first_size, const char** second, size_t* second_size) {
    const uint64_t head = published_head_.load(std::memory_order_acquire);
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    const size_t pos = tail & mask_;
    const size_t available = static_cast<size_t>(head - tail);
    *first = data_.get() + pos;
    *first_size = available < capacity() - pos ? available : capacity() - pos;
    *second = data_.get();
    *second_size = available - *first_size;
  }
  // Consumer: frees `size` bytes at the tail.
  void Release(size_t size) {
    tail_.store(tail_.load(std::memory_order_relaxed) + size, std::memory_order_release);
  }
  // Consumer: true when nothing is published and unread.
  bool Empty() const {
    return published_head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_relaxed);
  }

  // Raw access for the crash handler (async-signal-safe reads).
  const char* data() const { return data_.get(); }
  uint64_t published_head() const { return published_head_.load(std::memory_order_acquire); }
  uint64_t tail() const { return tail_.load(std::memory_order_acquire); }

 private:
  // The producer writes each record into cache lines the consumer read a
  // lap ago, long since evicted to a shared cache or memory, and every store
  // to such a line waited for the line to come back: on the 2-core
  // development machine that was over a quarter of Log()'s median and most
  // of its tail (agent_bench, a 100-byte line with three attributes, medians
  // of 24 repetitions: p50 50 -> 36 ns, p99 266 -> 92 ns, p99.9 497 -> 319 ns
  // with this; docs/agent.md, Performance). So a record's commit
  // asks for the lines kPrefetchDistance bytes further on, in the state a
  // store needs, a few records before Log() writes them. A hint only: the
  // lines' contents are not touched, so a prefetch that reaches into bytes
  // the consumer has yet to read costs it a cache miss, never a wrong byte.
  static constexpr uint64_t kPrefetchDistance = 1024;
  static constexpr uint64_t kCacheLine = 64;
  void PrefetchForWrite([[maybe_unused]] uint64_t from, [[maybe_unused]] uint64_t to) const {
#if defined(__GNUC__) || defined(__clang__)  // elsewhere (MSVC) no hint is given
    for (uint64_t line = (from + kPrefetchDistance + kCacheLine - 1) & ~(kCacheLine - 1);
         line < to + kPrefetchDistance; line += kCacheLine) {
      __builtin_prefetch(data_.get() + (line & mask_), /*rw=*/1, /*locality=*/3);
    }
#endif
  }

  const size_t mask_;
  std::unique_ptr<char[]> data_;
  // Producer side.
  alignas(64) uint64_t head_ = 0;
  uint64_t cached_tail_ = 0;
  uint64_t next_check_ = 0;  // PastHalf() looks at the consumer from here on
  alignas(64) std::atomic<uint64_t> published_head_{0};
  // Consumer side.
  alignas(64) std::atomic<uint64_t> tail_{0};
};

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_RING_BUFFER_H_
