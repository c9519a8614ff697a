// fieldlog logs: a user's or a device's timeline.
// fieldlog devices: the devices a user has logged from.
#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "fieldlog/v1/query.grpc.pb.h"
#include "query/cli/commands.h"
#include "query/cli/output.h"

namespace fieldlog::cli {
namespace {

constexpr uint32_t kServerPageLimit = 10000;

struct LogsFlags {
  std::string app, user, device, since, from, to, level, grep;
  uint64_t limit = 1000;
  bool newest_first = false;
};

// Fills the time range and filters of `request`; false (with a message on
// stderr) when a flag is malformed.
bool BuildRequest(const LogsFlags& flags, v1::SearchRequest* request) {
  request->set_app(flags.app);
  request->set_user_id(flags.user);
  request->set_device_id(flags.device);
  request->set_text(flags.grep);
  request->set_newest_first(flags.newest_first);
  const int64_t now = NowUnixMicros();
  if (!flags.to.empty()) {
    absl::StatusOr<int64_t> to = ParseRfc3339(flags.to);
    if (!to.ok()) {
      std::cerr << "fieldlog: --to " << to.status().message() << "\n";
      return false;
    }
    request->set_to_unix_micros(*to);
  }
  if (!flags.from.empty()) {
    absl::StatusOr<int64_t> from = ParseRfc3339(flags.from);
    if (!from.ok()) {
      std::cerr << "fieldlog: --from " << from.status().message() << "\n";
      return false;
    }
    request->set_from_unix_micros(*from);
  } else {
    absl::StatusOr<absl::Duration> since = ParseHumanDuration(flags.since);
    if (!since.ok()) {
      std::cerr << "fieldlog: --since " << since.status().message() << "\n";
      return false;
    }
    const int64_t to = request->to_unix_micros() != 0 ? request->to_unix_micros() : now;
    request->set_from_unix_micros(to - absl::ToInt64Microseconds(*since));
  }
  if (!flags.level.empty()) {
    std::optional<v1::Level> level = ParseLevel(flags.level);
    if (!level) {
      std::cerr << "fieldlog: --level '" << flags.level
                << "' is not one of trace, debug, info, warn, error, fatal\n";
      return false;
    }
    request->set_min_level(*level);
  }
  return true;
}

int RunLogs(const LogsFlags& flags, const GlobalOptions& global) {
  if (flags.user.empty() && flags.device.empty()) {
    std::cerr << "fieldlog: name whose logs to show with --user or --device\n";
    return kExitUsage;
  }
  v1::SearchRequest request;
  if (!BuildRequest(flags, &request)) return kExitUsage;

  auto stub = v1::QueryService::NewStub(MakeChannel(global));
  const bool json = global.format() == OutputFormat::kJson;
  const bool color = !json && UseColor();
  uint64_t remaining = flags.limit == 0 ? UINT64_MAX : flags.limit;
  uint64_t printed = 0;
  while (remaining > 0) {
    request.set_limit(static_cast<uint32_t>(std::min<uint64_t>(remaining, kServerPageLimit)));
    auto context = MakeContext(global.token, 120);
    auto reader = stub->Search(context.get(), request);
    v1::SearchResponse response;
    std::string next_cursor;
    while (reader->Read(&response)) {
      for (const v1::LogLine& line : response.lines()) {
        if (json) {
          std::cout << LineToJson(line).dump(-1, ' ', false,
                                             nlohmann::json::error_handler_t::replace)
                    << "\n";
        } else {
          std::cout << LineToText(line, color) << "\n";
        }
        ++printed;
      }
      remaining -= std::min<uint64_t>(remaining, response.lines_size());
      if (!response.next_cursor().empty()) next_cursor = response.next_cursor();
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) return ReportError(status, global);
    if (next_cursor.empty()) break;
    request.set_cursor(next_cursor);
  }
  std::cout.flush();
  if (printed == 0 && !json) {
    std::cerr << "-- no lines for " << (flags.user.empty() ? "device " + flags.device
                                                           : "user " + flags.user)
              << " in app " << flags.app << " between "
              << FormatRfc3339(request.from_unix_micros()) << " and "
              << (request.to_unix_micros() ? FormatRfc3339(request.to_unix_micros()) : "now")
              << " --\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterLogsCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* logs = app.add_subcommand("logs", "Show a user's or a device's log timeline");
  logs->footer(R"(Lines are in time order (corrected for device clock skew), oldest first.

Examples:
  fieldlog logs --app shop --user alice@example.com --since 2h
  fieldlog logs --app shop --device 3f2a... --level warn --grep timeout
  fieldlog logs --app shop --user alice@example.com --from 2026-11-22T09:00:00Z --to 2026-11-22T10:00:00Z -o json)");
  auto flags = std::make_shared<LogsFlags>();
  flags->since = "24h";
  logs->add_option("--app", flags->app, "App name")->required();
  logs->add_option("--user", flags->user, "User id or e-mail: all of the user's devices, merged");
  logs->add_option("--device", flags->device, "Device id");
  logs->add_option("--since", flags->since, "How far back: 90s, 15m, 2h, 7d")->capture_default_str();
  logs->add_option("--from", flags->from, "Start, RFC 3339 (overrides --since)");
  logs->add_option("--to", flags->to, "End, RFC 3339 (default: now)");
  logs->add_option("--level", flags->level, "Minimum level: trace, debug, info, warn, error, fatal");
  logs->add_option("--grep", flags->grep, "Only lines whose message contains this text (any case)");
  logs->add_option("--limit", flags->limit, "At most this many lines (0: no limit)")
      ->capture_default_str();
  logs->add_flag("-r,--newest-first", flags->newest_first, "Newest lines first");
  logs->callback([&global, exit_code, flags] { *exit_code = RunLogs(*flags, global); });
}

void RegisterDevicesCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* devices = app.add_subcommand("devices", "List the devices a user has logged from");
  devices->footer(R"(Example:
  fieldlog devices --app shop --user alice@example.com)");
  auto app_name = std::make_shared<std::string>();
  auto user = std::make_shared<std::string>();
  devices->add_option("--app", *app_name, "App name")->required();
  devices->add_option("--user", *user, "User id or e-mail")->required();
  devices->callback([&global, exit_code, app_name, user] {
    auto stub = v1::QueryService::NewStub(MakeChannel(global));
    v1::ListDevicesRequest request;
    request.set_app(*app_name);
    request.set_user_id(*user);
    v1::ListDevicesResponse response;
    auto context = MakeContext(global.token);
    grpc::Status status = stub->ListDevices(context.get(), request, &response);
    if (!status.ok()) {
      *exit_code = ReportError(status, global);
      return;
    }
    if (response.devices().empty()) {
      std::cerr << "fieldlog: no devices for user '" << *user << "' in app " << *app_name << "\n";
      *exit_code = kExitNotFound;
      return;
    }
    for (const v1::DeviceSummary& d : response.devices()) {
      if (global.format() == OutputFormat::kJson) {
        nlohmann::json j;
        j["device_id"] = d.device_id();
        j["user_id"] = *user;
        j["first_seen"] = FormatRfc3339(d.first_seen_unix_micros());
        j["last_seen"] = FormatRfc3339(d.last_seen_unix_micros());
        j["lines"] = d.lines();
        j["attributes"] = AttributesToJson(d.attributes());
        std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      } else {
        std::cout << d.device_id() << "  first seen " << FormatRfc3339(d.first_seen_unix_micros())
                  << "  last seen " << FormatRfc3339(d.last_seen_unix_micros()) << "  "
                  << d.lines() << " lines";
        for (const v1::Attribute& a : d.attributes()) {
          std::cout << "  " << a.key() << "=" << ValueToText(a.value());
        }
        std::cout << "\n";
      }
    }
  });
}

}  // namespace fieldlog::cli
