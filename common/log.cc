#include "common/log.h"

#include <cstdio>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/time_util.h"
#include "nlohmann/json.hpp"

namespace fieldlog {
namespace {

absl::Mutex log_mu(absl::kConstInit);
int64_t window_second ABSL_GUARDED_BY(log_mu) = 0;
int lines_in_window ABSL_GUARDED_BY(log_mu) = 0;
uint64_t suppressed ABSL_GUARDED_BY(log_mu) = 0;

void Emit(absl::string_view level, absl::string_view event, const LogFields& fields, bool capped) {
  const int64_t now = NowUnixMicros();
  absl::MutexLock lock(&log_mu);
  if (capped) {
    if (now / 1'000'000 != window_second) {
      window_second = now / 1'000'000;
      lines_in_window = 0;
    }
    if (++lines_in_window > kMaxLinesPerSecond) {
      ++suppressed;
      return;
    }
  }
  nlohmann::ordered_json line;
  line["time"] = FormatRfc3339(now);
  line["level"] = std::string(level);
  line["event"] = std::string(event);
  for (const auto& [key, value] : fields) line[key] = value;
  if (suppressed > 0) {
    line["suppressed_before"] = suppressed;
    suppressed = 0;
  }
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fprintf(stderr, "%s\n", text.c_str());
}

}  // namespace

void LogInfo(absl::string_view event, const LogFields& fields) {
  Emit("info", event, fields, false);
}
void LogWarning(absl::string_view event, const LogFields& fields) {
  Emit("warn", event, fields, true);
}
void LogError(absl::string_view event, const LogFields& fields) {
  Emit("error", event, fields, true);
}

}  // namespace fieldlog
