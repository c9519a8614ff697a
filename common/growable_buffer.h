// GrowableBuffer: bytes written through a pointer into room made for them
// first, as std::string's resize would give, but without zero-filling that
// room. A block's decoding sizes its buffers for the most it may write and
// then writes less (messages rebuilt, chunks decompressed): those memsets
// were about 2% of a busy device's day on the server.
//
// The bytes past size() are uninitialized; a move keeps data() where it was.
// Thread-compatible.
#ifndef FIELDLOG_COMMON_GROWABLE_BUFFER_H_
#define FIELDLOG_COMMON_GROWABLE_BUFFER_H_

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/string_view.h"

namespace fieldlog {

class GrowableBuffer {
 public:
  GrowableBuffer() = default;
  GrowableBuffer(GrowableBuffer&& other) noexcept
      : bytes_(std::move(other.bytes_)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  GrowableBuffer& operator=(GrowableBuffer&& other) noexcept {
    bytes_ = std::move(other.bytes_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }

  char* data() { return bytes_.get(); }
  const char* data() const { return bytes_.get(); }
  size_t size() const { return size_; }
  absl::string_view view() const { return absl::string_view(bytes_.get(), size_); }

  void clear() { size_ = 0; }

  // Makes the size `n`. Bytes up to the old size are kept; those past it
  // are whatever was there. Growing at least doubles the capacity, so
  // appending in steps costs amortized constant time a byte.
  void Resize(size_t n) {
    if (n > capacity_) Grow(std::max(n, 2 * capacity_));
    size_ = n;
  }

 private:
  void Grow(size_t capacity) {
    auto grown = std::make_unique_for_overwrite<char[]>(capacity);
    if (size_ != 0) std::memcpy(grown.get(), bytes_.get(), size_);
    bytes_ = std::move(grown);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> bytes_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace fieldlog

#endif  // FIELDLOG_COMMON_GROWABLE_BUFFER_H_
