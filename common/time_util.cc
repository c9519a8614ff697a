#include "common/time_util.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fieldlog {

std::string FormatRfc3339(int64_t unix_micros) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", FromUnixMicros(unix_micros), absl::UTCTimeZone());
}

absl::StatusOr<int64_t> ParseRfc3339(absl::string_view text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not an RFC 3339 time like 2026-11-22T16:30:00Z: ", error));
  }
  return absl::ToUnixMicros(t);
}

absl::StatusOr<absl::Duration> ParseHumanDuration(absl::string_view text) {
  // absl::ParseDuration knows h, m, s, ms, us, ns but not days; expand "Nd".
  std::string expanded;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == 'd') {
      int64_t days;
      if (!absl::SimpleAtoi(text.substr(start, i - start), &days)) {
        return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a duration like 2h"));
      }
      absl::StrAppend(&expanded, days * 24, "h");
      start = i + 1;
    }
  }
  absl::StrAppend(&expanded, text.substr(start));
  absl::Duration d;
  if (expanded.empty() || !absl::ParseDuration(expanded, &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a duration like 90s, 15m, 2h or 7d"));
  }
  return d;
}

}  // namespace fieldlog
