#include "store/message_template.h"

#include <algorithm>

#include "store/coding.h"

namespace fieldlog::store {

void AppendMessageTemplate(absl::string_view message, std::string* templates,
                           std::string* numbers) {
  size_t run = 0;  // start of the text not yet copied
  for (size_t i = 0; i < message.size(); ++i) {
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
