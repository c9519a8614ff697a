#include "query/cli/output.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/json_format.h"
#include "common/time_util.h"

namespace fieldlog::cli {
namespace {

std::string FormatShortTime(int64_t unix_micros) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMicros(unix_micros),
                          absl::UTCTimeZone());
}

const char* LevelColor(v1::Level level) {
  switch (level) {
    case v1::LEVEL_TRACE:
    case v1::LEVEL_DEBUG:
      return "\x1b[2m";  // dim
    case v1::LEVEL_WARN:
      return "\x1b[33m";  // yellow
    case v1::LEVEL_ERROR:
      return "\x1b[31m";  // red
    case v1::LEVEL_FATAL:
      return "\x1b[1;31m";  // bold red
    default:
      return "";
  }
}

}  // namespace

std::string LineToText(const v1::LogLine& line, bool color) {
  std::string level = absl::AsciiStrToUpper(LevelName(line.level()));
  level.resize(5, ' ');
  std::string text = absl::StrCat(FormatShortTime(line.time_unix_micros()), " ");
  if (color) absl::StrAppend(&text, LevelColor(line.level()));
  absl::StrAppend(&text, level, " ", line.tag().empty() ? "-" : line.tag(), " [", line.device_id());
  if (!line.user_id().empty()) absl::StrAppend(&text, " ", line.user_id());
  absl::StrAppend(&text, "] ");
  if (line.kind() != v1::ENTRY_KIND_LOG) absl::StrAppend(&text, "<", KindName(line.kind()), "> ");
  absl::StrAppend(&text, line.message());
  for (const v1::Attribute& a : line.attributes()) {
    absl::StrAppend(&text, " ", a.key(), "=", ValueToText(a.value()));
  }
  if (color) absl::StrAppend(&text, "\x1b[0m");
  return text;
}

bool UseColor() { return ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr; }

}  // namespace fieldlog::cli
