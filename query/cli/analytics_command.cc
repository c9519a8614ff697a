// fieldlog stats | affected | issues | audit: the product view (what spikes,
// who is hit), what users reported, and who read whose logs.
#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/time_util.h"
#include "fieldlog/v1/admin.grpc.pb.h"
#include "fieldlog/v1/query.grpc.pb.h"
#include "query/cli/commands.h"
#include "query/cli/flags.h"
#include "query/cli/output.h"

namespace fieldlog::cli {
namespace {

std::string Change(uint64_t now, uint64_t before) {
  if (before == 0) return now == 0 ? "" : "new";
  const double percent = (static_cast<double>(now) - before) * 100.0 / before;
  return absl::StrFormat("%+.0f%%", percent);
}

std::string ShortTime(int64_t unix_micros) {
  return absl::FormatTime("%Y-%m-%d %H:%M", absl::FromUnixMicros(unix_micros), absl::UTCTimeZone());
}

struct StatsFlags {
  std::string app, user, device, interval, sort = "lines";
  TimeRangeFlags range;
  uint32_t top = 20;
};

int RunStats(const StatsFlags& flags, const GlobalOptions& global) {
  v1::StatsRequest request;
  request.set_app(flags.app);
  request.set_user_id(flags.user);
  request.set_device_id(flags.device);
  int64_t from, to;
  if (!flags.range.Resolve(&from, &to)) return kExitUsage;
  request.set_from_unix_micros(from);
  request.set_to_unix_micros(to);
  if (!flags.interval.empty()) {
    absl::StatusOr<absl::Duration> interval = ParseHumanDuration(flags.interval);
    if (!interval.ok()) {
      std::cerr << "fieldlog: --interval " << interval.status().message() << "\n";
      return kExitUsage;
    }
    request.set_interval_micros(absl::ToInt64Microseconds(*interval));
  }
  request.set_top_tags(flags.top);
  auto stub = v1::QueryService::NewStub(MakeChannel(global));
  v1::StatsResponse stats;
  int exit_code = kExitOk;
  if (!CallUnary(*stub, &v1::QueryService::Stub::Stats, request, &stats, global, &exit_code)) {
    return exit_code;
  }
  std::vector<v1::TagStats> tags(stats.tags().begin(), stats.tags().end());
  const auto spike = [](const v1::TagStats& t) {
    return (static_cast<double>(t.errors()) + 1) / (static_cast<double>(t.previous_errors()) + 1);
  };
  if (flags.sort == "errors") {
    std::stable_sort(tags.begin(), tags.end(),
                     [](const auto& a, const auto& b) { return a.errors() > b.errors(); });
  } else if (flags.sort == "spike") {
    std::stable_sort(tags.begin(), tags.end(),
                     [&](const auto& a, const auto& b) { return spike(a) > spike(b); });
  }

  if (global.format() == OutputFormat::kJson) {
    nlohmann::ordered_json j;
    j["from"] = FormatRfc3339(stats.from_unix_micros());
    j["to"] = FormatRfc3339(stats.to_unix_micros());
    j["interval_seconds"] = stats.interval_micros() / 1'000'000;
    nlohmann::ordered_json totals, previous;
    for (int level = v1::LEVEL_TRACE; level <= v1::LEVEL_FATAL; ++level) {
      totals[std::string(LevelName(static_cast<v1::Level>(level)))] = stats.level_totals(level);
      previous[std::string(LevelName(static_cast<v1::Level>(level)))] =
          stats.previous_level_totals(level);
    }
    j["levels"] = totals;
    j["previous_levels"] = previous;
    nlohmann::ordered_json buckets = nlohmann::ordered_json::array();
    for (const v1::StatsBucket& b : stats.buckets()) {
      nlohmann::ordered_json bucket;
      bucket["start"] = FormatRfc3339(b.start_unix_micros());
      for (int level = v1::LEVEL_TRACE; level <= v1::LEVEL_FATAL; ++level) {
        bucket[std::string(LevelName(static_cast<v1::Level>(level)))] = b.level_counts(level);
      }
      buckets.push_back(bucket);
    }
    j["buckets"] = buckets;
    nlohmann::ordered_json tag_list = nlohmann::ordered_json::array();
    for (const v1::TagStats& t : tags) {
      tag_list.push_back({{"tag", t.tag()},
                          {"lines", t.lines()},
                          {"errors", t.errors()},
                          {"previous_lines", t.previous_lines()},
                          {"previous_errors", t.previous_errors()}});
    }
    j["tags"] = tag_list;
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }

  std::cout << flags.app << (flags.user.empty() ? "" : ", user " + flags.user)
            << (flags.device.empty() ? "" : ", device " + flags.device) << ", "
            << ShortTime(stats.from_unix_micros()) << " to " << ShortTime(stats.to_unix_micros())
            << " UTC (compared with the period before)\n\n";
  std::cout << absl::StrFormat("%-7s %10s %10s %8s\n", "level", "lines", "before", "change");
  for (int level = v1::LEVEL_FATAL; level >= v1::LEVEL_TRACE; --level) {
    std::cout << absl::StrFormat(
        "%-7s %10d %10d %8s\n", std::string(LevelName(static_cast<v1::Level>(level))),
        stats.level_totals(level), stats.previous_level_totals(level),
        Change(stats.level_totals(level), stats.previous_level_totals(level)));
  }
  // One bar per bucket, scaled to the busiest; errors and fatals counted apart.
  uint64_t busiest = 1;
  for (const v1::StatsBucket& b : stats.buckets()) {
    uint64_t total = 0;
    for (uint64_t c : b.level_counts()) total += c;
    busiest = std::max(busiest, total);
  }
  std::cout << "\nevery " << absl::FormatDuration(absl::Microseconds(stats.interval_micros()))
            << ":\n";
  for (const v1::StatsBucket& b : stats.buckets()) {
    uint64_t total = 0;
    for (uint64_t c : b.level_counts()) total += c;
    const uint64_t errors = b.level_counts(v1::LEVEL_ERROR) + b.level_counts(v1::LEVEL_FATAL);
    std::cout << absl::StrFormat("%s %-40s %8d  %d errors\n", ShortTime(b.start_unix_micros()),
                                 std::string(total * 40 / busiest, '#'), total, errors);
  }
  std::cout << "\n"
            << absl::StrFormat("%-32s %9s %8s %12s %8s\n", "tag", "lines", "errors",
                               "errors before", "change");
  for (const v1::TagStats& t : tags) {
    std::cout << absl::StrFormat("%-32s %9d %8d %12d %8s\n", t.tag().empty() ? "-" : t.tag(),
                                 t.lines(), t.errors(), t.previous_errors(),
                                 Change(t.errors(), t.previous_errors()));
  }
  return kExitOk;
}

struct AffectedFlags {
  std::string app, grep, regex, level;
  TimeRangeFlags range;
  uint32_t limit = 20;
};

int RunAffected(const AffectedFlags& flags, const GlobalOptions& global) {
  if (flags.grep.empty() == flags.regex.empty()) {
    std::cerr << "fieldlog: name what to look for with --grep TEXT or --regex RE\n";
    return kExitUsage;
  }
  v1::AffectedRequest request;
  request.set_app(flags.app);
  request.set_text(flags.grep);
  request.set_regex(flags.regex);
  request.set_limit(flags.limit);
  if (!flags.level.empty()) {
    std::optional<v1::Level> level = ParseLevel(flags.level);
    if (!level) {
      std::cerr << "fieldlog: --level '" << flags.level << "' is not a level\n";
      return kExitUsage;
    }
    request.set_min_level(*level);
  }
  int64_t from, to;
  if (!flags.range.Resolve(&from, &to)) return kExitUsage;
  request.set_from_unix_micros(from);
  request.set_to_unix_micros(to);
  auto stub = v1::QueryService::NewStub(MakeChannel(global));
  v1::AffectedResponse affected;
  int exit_code = kExitOk;
  if (!CallUnary(*stub, &v1::QueryService::Stub::Affected, request, &affected, global,
                 &exit_code)) {
    return exit_code;
  }
  if (global.format() == OutputFormat::kJson) {
    nlohmann::ordered_json j;
    j["matching_lines"] = affected.matching_lines();
    j["users"] = affected.total_users();
    j["devices"] = affected.total_devices();
    j["scanned_lines"] = affected.scanned_lines();
    nlohmann::ordered_json users = nlohmann::ordered_json::array();
    for (const v1::AffectedUser& u : affected.users()) {
      users.push_back({{"user_id", u.user_id()},
                       {"lines", u.lines()},
                       {"devices", u.devices()},
                       {"first", FormatRfc3339(u.first_unix_micros())},
                       {"last", FormatRfc3339(u.last_unix_micros())}});
    }
    j["top_users"] = users;
    nlohmann::ordered_json devices = nlohmann::ordered_json::array();
    for (const v1::AffectedDevice& d : affected.devices()) {
      devices.push_back({{"device_id", d.device_id()},
                         {"lines", d.lines()},
                         {"user_id", d.user_id()},
                         {"first", FormatRfc3339(d.first_unix_micros())},
                         {"last", FormatRfc3339(d.last_unix_micros())}});
    }
    j["top_devices"] = devices;
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::cout << "'" << (flags.grep.empty() ? flags.regex : flags.grep) << "' from "
            << ShortTime(from) << " to " << ShortTime(to) << " UTC: " << affected.matching_lines()
            << " lines from " << affected.total_users() << " users on " << affected.total_devices()
            << " devices (" << affected.scanned_lines() << " lines scanned)\n";
  if (affected.users_size() > 0) std::cout << "\nusers, most lines first:\n";
  for (const v1::AffectedUser& u : affected.users()) {
    std::cout << absl::StrFormat("  %-40s %7d lines on %d device(s)  %s .. %s\n", u.user_id(),
                                 u.lines(), u.devices(), ShortTime(u.first_unix_micros()),
                                 ShortTime(u.last_unix_micros()));
  }
  if (affected.devices_size() > 0) std::cout << "\ndevices, most lines first:\n";
  for (const v1::AffectedDevice& d : affected.devices()) {
    std::cout << absl::StrFormat("  %-40s %7d lines  %s\n", d.device_id(), d.lines(),
                                 d.user_id().empty() ? "(no user)" : d.user_id());
  }
  return kExitOk;
}

struct IssuesFlags {
  std::string app, user;
  TimeRangeFlags range;
  uint32_t limit = 20;
  uint32_t context = 10;
};

int RunIssues(const IssuesFlags& flags, const GlobalOptions& global) {
  v1::ListIssuesRequest request;
  request.set_app(flags.app);
  request.set_user_id(flags.user);
  request.set_limit(flags.limit);
  request.set_context_lines(flags.context);
  int64_t from, to;
  if (!flags.range.Resolve(&from, &to)) return kExitUsage;
  request.set_from_unix_micros(from);
  request.set_to_unix_micros(to);
  auto stub = v1::QueryService::NewStub(MakeChannel(global));
  v1::ListIssuesResponse response;
  int exit_code = kExitOk;
  if (!CallUnary(*stub, &v1::QueryService::Stub::ListIssues, request, &response, global,
                 &exit_code)) {
    return exit_code;
  }
  const bool color = global.format() == OutputFormat::kText && UseColor();
  for (const v1::Issue& issue : response.issues()) {
    const std::string kind = issue.kind() == v1::ENTRY_KIND_FEEDBACK ? "feedback" : "issue";
    if (global.format() == OutputFormat::kJson) {
      nlohmann::ordered_json j;
      j["time"] = FormatRfc3339(issue.time_unix_micros());
      j["kind"] = kind;
      j["user_id"] = issue.user_id();
      j["device_id"] = issue.device_id();
      j["seq"] = issue.seq();
      j["session_id"] = issue.session_id();
      j["title"] = issue.title();
      j["text"] = issue.text();
      nlohmann::ordered_json context = nlohmann::ordered_json::array();
      for (const v1::LogLine& line : issue.context()) context.push_back(LineToJson(line));
      j["context"] = context;
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      continue;
    }
    std::cout << ShortTime(issue.time_unix_micros()) << "  " << kind << " from "
              << (issue.user_id().empty() ? "(no user)" : issue.user_id()) << " on "
              << issue.device_id() << "\n";
    if (!issue.title().empty()) std::cout << "  title: " << issue.title() << "\n";
    if (!issue.text().empty()) std::cout << "  text:  " << issue.text() << "\n";
    if (issue.context_size() > 0) std::cout << "  what the device logged before:\n";
    for (const v1::LogLine& line : issue.context()) {
      std::cout << "    " << LineToText(line, color) << "\n";
    }
    std::cout << "\n";
  }
  if (response.issues().empty()) {
    std::cerr << "-- no issues or feedback in app " << flags.app << " between "
              << FormatRfc3339(from) << " and " << FormatRfc3339(to) << " --\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterAnalyticsCommands(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* stats = app.add_subcommand(
      "stats", "Lines by level over time, and by tag, against the period before");
  stats->footer(R"(Examples:
  fieldlog stats --app shop --since 7d --interval 1d          # the week, day by day
  fieldlog stats --app shop --since 24h --sort spike          # what errors grew most
  fieldlog stats --app shop --user alice@example.com --since 2h)");
  auto stats_flags = std::make_shared<StatsFlags>();
  stats->add_option("--app", stats_flags->app, "App name")->required();
  stats->add_option("--user", stats_flags->user, "Only this user's lines");
  stats->add_option("--device", stats_flags->device, "Only this device's lines");
  stats_flags->range.Register(stats, "24h");
  stats->add_option("--interval", stats_flags->interval,
                    "Bucket width: 15m, 1h, 1d (default: range/24)");
  stats->add_option("--top", stats_flags->top, "Tags to list")->capture_default_str();
  stats->add_option("--sort", stats_flags->sort, "Tags by lines, errors or spike (error growth)")
      ->check(CLI::IsMember({"lines", "errors", "spike"}))
      ->capture_default_str();
  stats->callback(
      [&global, exit_code, stats_flags] { *exit_code = RunStats(*stats_flags, global); });

  CLI::App* affected =
      app.add_subcommand("affected", "Which users and devices logged a text or regex");
  affected->footer(R"(Searches the whole app.

Examples:
  fieldlog affected --app shop --grep PaymentTimeout --since 24h
  fieldlog affected --app shop --regex "crash|ANR" --level error --since 1h -o json)");
  auto affected_flags = std::make_shared<AffectedFlags>();
  affected->add_option("--app", affected_flags->app, "App name")->required();
  affected->add_option("--grep", affected_flags->grep, "Text to look for (any case)");
  affected->add_option("--regex", affected_flags->regex, "RE2 regex to look for");
  affected->add_option("--level", affected_flags->level, "Minimum level");
  affected_flags->range.Register(affected, "24h");
  affected->add_option("--limit", affected_flags->limit, "Users and devices to list")
      ->capture_default_str();
  affected->callback(
      [&global, exit_code, affected_flags] { *exit_code = RunAffected(*affected_flags, global); });

  CLI::App* issues =
      app.add_subcommand("issues", "Issues and feedback users sent, with what led to each");
  issues->footer(R"(Examples:
  fieldlog issues --app shop --since 7d
  fieldlog issues --app shop --user alice@example.com --context 30)");
  auto issues_flags = std::make_shared<IssuesFlags>();
  issues->add_option("--app", issues_flags->app, "App name")->required();
  issues->add_option("--user", issues_flags->user, "Only this user's");
  issues_flags->range.Register(issues, "7d");
  issues->add_option("--limit", issues_flags->limit, "Newest issues to show")
      ->capture_default_str();
  issues->add_option("--context", issues_flags->context, "Lines before each issue to show")
      ->capture_default_str();
  issues->callback(
      [&global, exit_code, issues_flags] { *exit_code = RunIssues(*issues_flags, global); });

  CLI::App* audit = app.add_subcommand("audit", "Who read whose logs (admin token)");
  audit->footer(R"(Example:
  fieldlog audit --app shop --since 7d)");
  auto audit_app = std::make_shared<std::string>();
  auto audit_range = std::make_shared<TimeRangeFlags>();
  audit->add_option("--app", *audit_app, "App name")->required();
  audit_range->Register(audit, "7d");
  audit->callback([&global, exit_code, audit_app, audit_range] {
    v1::ListAuditRequest request;
    request.set_app(*audit_app);
    int64_t from, to;
    if (!audit_range->Resolve(&from, &to)) {
      *exit_code = kExitUsage;
      return;
    }
    request.set_from_unix_micros(from);
    request.set_to_unix_micros(to);
    auto stub = v1::AdminService::NewStub(MakeChannel(global));
    v1::ListAuditResponse response;
    if (!CallUnary(*stub, &v1::AdminService::Stub::ListAudit, request, &response, global,
                   exit_code)) {
      return;
    }
    for (const v1::AuditEntry& e : response.entries()) {
      if (global.format() == OutputFormat::kJson) {
        std::cout << nlohmann::ordered_json{{"time", FormatRfc3339(e.time_unix_micros())},
                                            {"key_id", e.key_id()},
                                            {"credential", e.credential_kind()},
                                            {"action", e.action()},
                                            {"user_id", e.user_id()},
                                            {"device_id", e.device_id()},
                                            {"details", e.details()},
                                            {"peer", e.peer()}}
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                  << "\n";
      } else {
        std::cout << FormatRfc3339(e.time_unix_micros()) << "  " << e.credential_kind() << " key "
                  << e.key_id() << "  " << e.action()
                  << (e.user_id().empty() ? "" : "  user " + e.user_id())
                  << (e.device_id().empty() ? "" : "  device " + e.device_id())
                  << (e.details().empty() ? "" : "  " + e.details()) << "  from " << e.peer()
                  << "\n";
      }
    }
  });
}

}  // namespace fieldlog::cli
