// Making device text fit the ingest contract (common/limits.h), on the
// agent's background thread: valid UTF-8, within its limit, cut with a
// visible marker rather than dropped; and the optional PII scrubber.
#ifndef FIELDLOG_AGENT_SRC_TEXT_FIT_H_
#define FIELDLOG_AGENT_SRC_TEXT_FIT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace fieldlog::agent {

// Appends to `out` the text whose first bytes are `prefix` and whose whole
// size was `original_size`: invalid UTF-8 replaced with U+FFFD, and when it
// is longer than `max_bytes`, cut on a character boundary and ended with
// " …[cut N bytes]" (N: bytes removed) so the result is at most `max_bytes`.
void FitText(std::string_view prefix, size_t original_size, size_t max_bytes, std::string* out);
inline void FitText(std::string_view text, size_t max_bytes, std::string* out) {
  FitText(text, text.size(), max_bytes, out);
}

// An id or attribute key: valid UTF-8 without control characters, cut (on a
// character boundary, without marker) to `max_bytes`.
void FitId(std::string_view id, size_t max_bytes, std::string* out);

// `text` with e-mail addresses replaced by "[email]" and card numbers
// (13-19 digits, optionally grouped by single spaces or dashes, passing the
// Luhn check) by "[card]". Returns false (and leaves `out` alone) when there
// is nothing to replace.
bool ScrubPii(std::string_view text, std::string* out);

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_TEXT_FIT_H_
