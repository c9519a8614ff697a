// Message templates: a log message as its fixed text with each number taken
// out, the form settled blocks store messages in (block.cc, SplitMessages)
// and the form compression dictionaries are built from (template_sampler.h).
//
// Every run of digits that starts with 1-9 (at most 18 digits: an int64)
// leaves the text as kTemplateNumber and its value goes to `numbers` as a
// varint; a literal 0x00, 0x01 or 0x02 byte of the message is written as
// kTemplateEscape and the byte; kTemplateEnd ends the template. Digits
// starting with 0 stay text, so "007" or "0.5" come back as they were.
#ifndef FIELDLOG_STORE_MESSAGE_TEMPLATE_H_
#define FIELDLOG_STORE_MESSAGE_TEMPLATE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace fieldlog::store {

inline constexpr char kTemplateEnd = '\x00';
inline constexpr char kTemplateNumber = '\x01';
inline constexpr char kTemplateEscape = '\x02';
inline constexpr size_t kMaxTemplateNumberDigits = 18;
inline constexpr uint64_t kMaxTemplateNumber = 999'999'999'999'999'999;

// Appends the template of `message`, kTemplateEnd included, to `templates`,
// and its numbers to `numbers` (when not null).
void AppendMessageTemplate(absl::string_view message, std::string* templates, std::string* numbers);

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_MESSAGE_TEMPLATE_H_
