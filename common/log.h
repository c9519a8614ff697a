// Structured server logs: one JSON object per line on stderr, e.g.
//   {"time":"2026-11-22T17:00:00.000000Z","level":"warn","event":"ingest.stream_error",
//    "app":"shop","device":"d1","code":"INVALID_ARGUMENT","message":"..."}
// so operators can grep, ship and parse them. Warnings and errors are capped
// at kMaxLinesPerSecond a second (a flood of bad clients must not flood the
// log); what the cap holds back is counted in the next line that gets out.
//
// Thread-safe.
#ifndef FIELDLOG_COMMON_LOG_H_
#define FIELDLOG_COMMON_LOG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace fieldlog {

inline constexpr int kMaxLinesPerSecond = 50;

using LogFields = std::vector<std::pair<std::string, std::string>>;

void LogInfo(absl::string_view event, const LogFields& fields = {});
void LogWarning(absl::string_view event, const LogFields& fields = {});
void LogError(absl::string_view event, const LogFields& fields = {});

}  // namespace fieldlog

#endif  // FIELDLOG_COMMON_LOG_H_
