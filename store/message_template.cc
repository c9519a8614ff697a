#include "store/message_template.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>

#include "store/coding.h"

namespace fieldlog::store {
namespace {

// The first position at or after `i` of a byte the template does not copy as
// it is: a digit 1-9 (a number starts) or a byte up to kTemplateEscape.
// Eight bytes a step: most of a message is copied, and the collector makes
// the template of every message it stores.
size_t NextSpecialByte(absl::string_view message, size_t i) {
  static_assert(std::endian::native == std::endian::little);
  static_assert(kTemplateEscape == '\x02');
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  for (; i + 8 <= message.size(); i += 8) {
    uint64_t x;
    std::memcpy(&x, message.data() + i, 8);
    // Per byte b below 0x80 (t = b): 127 + n - t has its top bit set when
    // b < n, and t + 127 - m when b > m. No lane borrows from or carries
    // into another, so the mask marks exactly the special bytes.
    const uint64_t t = x & ~kHigh;
    const uint64_t digit = (kOnes * (127 + '9' + 1) - t) & (t + kOnes * (127 - '1' + 1));
    const uint64_t control = kOnes * (127 + kTemplateEscape + 1) - t;
    const uint64_t special = (digit | control) & ~x & kHigh;
    if (special != 0) return i + static_cast<size_t>(std::countr_zero(special)) / 8;
  }
  for (; i < message.size(); ++i) {
    const char c = message[i];
    if ((c >= '1' && c <= '9') ||
        static_cast<uint8_t>(c) <= static_cast<uint8_t>(kTemplateEscape)) {
      return i;
    }
  }
  return i;
}

}  // namespace

void AppendMessageTemplate(absl::string_view message, std::string* templates,
                           std::string* numbers) {
  size_t run = 0;  // start of the text not yet copied
  for (size_t i = NextSpecialByte(message, 0); i < message.size();
       i = NextSpecialByte(message, i + 1)) {
    const char c = message[i];
    if (c >= '1' && c <= '9') {
      templates->append(message.data() + run, i - run);
      uint64_t value = 0;
      const size_t end = std::min(message.size(), i + kMaxTemplateNumberDigits);
      size_t j = i;
      for (; j < end && message[j] >= '0' && message[j] <= '9'; ++j) {
        value = value * 10 + static_cast<uint64_t>(message[j] - '0');
      }
      templates->push_back(kTemplateNumber);
      if (numbers != nullptr) PutVarint64(numbers, value);
      i = j - 1;
      run = j;
    } else if (static_cast<uint8_t>(c) <= static_cast<uint8_t>(kTemplateEscape)) {
      templates->append(message.data() + run, i - run);
      templates->push_back(kTemplateEscape);
      templates->push_back(c);
      run = i + 1;
    }
  }
  templates->append(message.data() + run, message.size() - run);
  templates->push_back(kTemplateEnd);
}

}  // namespace fieldlog::store
