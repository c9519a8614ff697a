#include "agent/src/ring_buffer.h"

#include <bit>
#include <memory>

namespace fieldlog::agent {

RingBuffer::RingBuffer(size_t capacity)
    : mask_(std::bit_ceil(capacity < 4096 ? size_t{4096} : capacity) - 1),
      data_(std::make_unique_for_overwrite<char[]>(mask_ + 1)) {}

}  // namespace fieldlog::agent
