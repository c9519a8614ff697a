#include "query/cli/flags.h"

#include <iostream>

#include "common/time_util.h"
#include "query/cli/output.h"

namespace fieldlog::cli {

void TimeRangeFlags::Register(CLI::App* command, const std::string& default_since) {
  since = default_since;
  command->add_option("--since", since, "How far back: 90s, 15m, 2h, 7d")->capture_default_str();
  command->add_option("--from", from,
                      "Start, RFC 3339 like 2026-11-22T09:00:00Z (overrides --since)");
  command->add_option("--to", to, "End, RFC 3339 (default: now)");
}

bool TimeRangeFlags::Resolve(int64_t* from_us, int64_t* to_us) const {
  *to_us = NowUnixMicros() + 1;
  if (!to.empty()) {
    absl::StatusOr<int64_t> parsed = ParseRfc3339(to);
    if (!parsed.ok()) {
      std::cerr << "fieldlog: --to " << parsed.status().message() << "\n";
      return false;
    }
    *to_us = *parsed;
  }
  if (!from.empty()) {
    absl::StatusOr<int64_t> parsed = ParseRfc3339(from);
    if (!parsed.ok()) {
      std::cerr << "fieldlog: --from " << parsed.status().message() << "\n";
      return false;
    }
    *from_us = *parsed;
  } else {
    absl::StatusOr<absl::Duration> parsed = ParseHumanDuration(since);
    if (!parsed.ok()) {
      std::cerr << "fieldlog: --since " << parsed.status().message() << "\n";
      return false;
    }
    *from_us = *to_us - absl::ToInt64Microseconds(*parsed);
  }
  if (*from_us >= *to_us) {
    std::cerr << "fieldlog: the time range is empty: --from must be before --to\n";
    return false;
  }
  return true;
}

void FilterFlags::Register(CLI::App* command) {
  command->add_option("--level", level, "Minimum level: trace, debug, info, warn, error, fatal");
  command->add_option("--grep", grep, "Only lines whose message contains this text (any case)");
  command->add_option("--regex", regex, "Only lines whose message matches this RE2 regex");
  command->add_option("--tag", tags, "Only lines with this tag (repeat for any of several)");
  command->add_option("--attr", attributes,
                      "Only lines with this attribute, as key=value (repeat: all must match)");
  command->add_option("--session", session, "Only lines of this app session");
}

bool FilterFlags::Apply(v1::SearchRequest* request) const {
  if (!level.empty()) {
    std::optional<v1::Level> parsed = ParseLevel(level);
    if (!parsed) {
      std::cerr << "fieldlog: --level '" << level
                << "' is not one of trace, debug, info, warn, error, fatal\n";
      return false;
    }
    request->set_min_level(*parsed);
  }
  request->set_text(grep);
  request->set_regex(regex);
  request->set_session_id(session);
  for (const std::string& tag : tags) request->add_tags(tag);
  for (const std::string& attribute : attributes) {
    const size_t equals = attribute.find('=');
    if (equals == std::string::npos || equals == 0) {
      std::cerr << "fieldlog: --attr '" << attribute << "' is not key=value\n";
      return false;
    }
    v1::AttributeFilter* filter = request->add_attributes();
    filter->set_key(attribute.substr(0, equals));
    filter->set_value(attribute.substr(equals + 1));
  }
  return true;
}

}  // namespace fieldlog::cli
