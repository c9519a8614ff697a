// Text checks shared by validation, storage and search.
#ifndef FIELDLOG_COMMON_TEXT_H_
#define FIELDLOG_COMMON_TEXT_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace fieldlog {

// The byte offset of the first byte that is not part of well-formed UTF-8
// (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF), or nullopt
// when all of `text` is valid.
std::optional<size_t> FindInvalidUtf8(absl::string_view text);

// True if `text` holds an ASCII control character (0x00-0x1F or 0x7F).
bool HasControlCharacter(absl::string_view text);

// Replaces every ill-formed UTF-8 sequence with U+FFFD, so text from any source
// can be stored and shown. Returns `text` unchanged when it is valid.
std::string SanitizeUtf8(absl::string_view text);

// Case-insensitive (ASCII) substring search. `lowered_needle` must already be
// lower case (see AsciiLower). An empty needle matches everything.
bool ContainsIgnoreCase(absl::string_view haystack, absl::string_view lowered_needle);

// Where ContainsIgnoreCase finds `lowered_needle` first: its offset in
// `haystack`, or npos. Looks at 16 positions a step (the needle's first and
// last bytes), so a search for text that is rarely there runs at memory speed.
size_t FindIgnoreCase(absl::string_view haystack, absl::string_view lowered_needle);

std::string AsciiLower(absl::string_view text);

}  // namespace fieldlog

#endif  // FIELDLOG_COMMON_TEXT_H_
