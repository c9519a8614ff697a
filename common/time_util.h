// Time conversions. Inside fieldlog time is absl::Time; on the wire and on disk
// it is int64 Unix microseconds.
#ifndef FIELDLOG_COMMON_TIME_UTIL_H_
#define FIELDLOG_COMMON_TIME_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fieldlog {

inline int64_t ToUnixMicros(absl::Time t) { return absl::ToUnixMicros(t); }
inline absl::Time FromUnixMicros(int64_t micros) { return absl::FromUnixMicros(micros); }
inline int64_t NowUnixMicros() { return absl::ToUnixMicros(absl::Now()); }

// RFC 3339 with microseconds in UTC, e.g. "2026-11-22T16:33:48.123456Z".
std::string FormatRfc3339(int64_t unix_micros);

// Parses an RFC 3339 timestamp ("2026-11-22T16:33:48Z", fractional seconds and
// offsets allowed).
absl::StatusOr<int64_t> ParseRfc3339(absl::string_view text);

// Parses a duration the way journalctl and kubectl users write it: "90s",
// "15m", "2h", "7d", "1h30m".
absl::StatusOr<absl::Duration> ParseHumanDuration(absl::string_view text);

}  // namespace fieldlog

#endif  // FIELDLOG_COMMON_TIME_UTIL_H_
