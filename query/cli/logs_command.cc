// fieldlog logs | tail: a user's or a device's timeline, and following it.
// fieldlog devices: a user's devices, or one device's details and users.
// fieldlog users: users by the start of their id or e-mail.
#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/time_util.h"
#include "fieldlog/v1/query.grpc.pb.h"
#include "query/cli/commands.h"
#include "query/cli/flags.h"
#include "query/cli/output.h"

namespace fieldlog::cli {
namespace {

constexpr uint32_t kServerPageLimit = 10000;
constexpr uint32_t kMaxTailBacklog = 1000;

struct LogsFlags {
  std::string app, user, device;
  TimeRangeFlags range;
  FilterFlags filters;
  uint64_t limit = 1000;
  bool newest_first = false;
  bool follow = false;
};

void PrintLine(const v1::LogLine& line, const GlobalOptions& global, bool color) {
  if (global.format() == OutputFormat::kJson) {
    std::cout << LineToJson(line).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    std::cout << LineToText(line, color) << "\n";
  }
}

// When a user has no devices, says so and suggests users with a similar id
// ("alice@exampel.com" finds "alice@example.com"); returns the exit code.
int ExplainUnknownUser(v1::QueryService::Stub& stub, const GlobalOptions& global,
                       const std::string& app, const std::string& user) {
  const size_t at = user.find('@');
  const std::string prefix =
      user.substr(0, at != std::string::npos && at >= 1 ? at : std::min<size_t>(user.size(), 3));
  v1::FindUsersRequest request;
  request.set_app(app);
  request.set_prefix(prefix);
  request.set_limit(5);
  v1::FindUsersResponse similar;
  int ignored = kExitOk;
  std::cerr << "fieldlog: no user '" << user << "' in app " << app;
  if (!prefix.empty() &&
      CallUnary(stub, &v1::QueryService::Stub::FindUsers, request, &similar, global, &ignored) &&
      similar.users_size() > 0) {
    std::vector<std::string> names;
    for (const v1::UserSummary& u : similar.users()) names.push_back(u.user_id());
    std::cerr << "; users starting with '" << prefix << "': " << absl::StrJoin(names, ", ");
  }
  std::cerr << "\n";
  return kExitNotFound;
}

// Checks that the user exists before showing her (empty) logs.
int CheckUser(v1::QueryService::Stub& stub, const GlobalOptions& global, const std::string& app,
              const std::string& user) {
  v1::ListDevicesRequest request;
  request.set_app(app);
  request.set_user_id(user);
  v1::ListDevicesResponse devices;
  int exit_code = kExitOk;
  if (!CallUnary(stub, &v1::QueryService::Stub::ListDevices, request, &devices, global,
                 &exit_code)) {
    return exit_code;
  }
  return devices.devices().empty() ? ExplainUnknownUser(stub, global, app, user) : kExitOk;
}

int RunFollow(v1::SearchRequest filter, uint32_t backlog, const GlobalOptions& global,
              v1::QueryService::Stub& stub) {
  v1::TailRequest request;
  *request.mutable_filter() = std::move(filter);
  request.set_backlog(std::min<uint32_t>(backlog, kMaxTailBacklog));
  grpc::ClientContext context;
  if (!global.token.empty()) context.AddMetadata("authorization", "Bearer " + global.token);
  auto reader = stub.Tail(&context, request);
  const bool color = global.format() == OutputFormat::kText && UseColor();
  v1::SearchResponse response;
  while (reader->Read(&response)) {
    for (const v1::LogLine& line : response.lines()) PrintLine(line, global, color);
    std::cout.flush();
  }
  grpc::Status status = reader->Finish();
  return status.ok() ? kExitOk : ReportError(status, global);
}

int RunLogs(const LogsFlags& flags, const GlobalOptions& global) {
  if (flags.user.empty() && flags.device.empty()) {
    std::cerr << "fieldlog: name whose logs to show with --user or --device\n";
    return kExitUsage;
  }
  v1::SearchRequest request;
  request.set_app(flags.app);
  request.set_user_id(flags.user);
  request.set_device_id(flags.device);
  request.set_newest_first(flags.newest_first);
  if (!flags.filters.Apply(&request)) return kExitUsage;
  // Flags first, so a typo fails before any call to the server.
  int64_t from, to;
  if (!flags.range.Resolve(&from, &to)) return kExitUsage;
  auto stub = v1::QueryService::NewStub(MakeChannel(global));
  if (!flags.user.empty()) {
    if (int code = CheckUser(*stub, global, flags.app, flags.user); code != kExitOk) return code;
  }
  if (flags.follow) {
    return RunFollow(request,
                     static_cast<uint32_t>(std::min<uint64_t>(flags.limit, kMaxTailBacklog)),
                     global, *stub);
  }
  request.set_from_unix_micros(from);
  request.set_to_unix_micros(to);

  const bool color = global.format() == OutputFormat::kText && UseColor();
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
        PrintLine(line, global, color);
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
  if (printed == 0 && global.format() == OutputFormat::kText) {
    std::cerr << "-- no lines for "
              << (flags.user.empty() ? "device " + flags.device : "user " + flags.user)
              << " in app " << flags.app << " between " << FormatRfc3339(from) << " and "
              << FormatRfc3339(to) << " --\n";
  }
  return kExitOk;
}

void AddLogsFlags(CLI::App* command, LogsFlags* flags, const std::string& default_since) {
  command->add_option("--app", flags->app, "App name")->required();
  command->add_option("--user", flags->user,
                      "User id or e-mail: all of the user's devices, merged");
  command->add_option("--device", flags->device, "Device id");
  flags->range.Register(command, default_since);
  flags->filters.Register(command);
}

int PrintDeviceDetails(v1::QueryService::Stub& stub, const GlobalOptions& global,
                       const std::string& app, const std::string& device_id) {
  v1::GetDeviceRequest request;
  request.set_app(app);
  request.set_device_id(device_id);
  v1::DeviceDetails device;
  int exit_code = kExitOk;
  if (!CallUnary(stub, &v1::QueryService::Stub::GetDevice, request, &device, global, &exit_code)) {
    return exit_code;
  }
  if (global.format() == OutputFormat::kJson) {
    nlohmann::ordered_json j;
    j["device_id"] = device.device_id();
    j["first_seen"] = FormatRfc3339(device.first_seen_unix_micros());
    j["last_seen"] = FormatRfc3339(device.last_seen_unix_micros());
    j["lines"] = device.lines();
    j["watermark"] = device.watermark();
    j["last_user_id"] = device.last_user_id();
    j["last_session_id"] = device.last_session_id();
    j["clock_offset_seconds"] = static_cast<double>(device.clock_offset_micros()) / 1e6;
    j["attributes"] = AttributesToJson(device.attributes());
    nlohmann::ordered_json users = nlohmann::ordered_json::array();
    for (const v1::DeviceUser& u : device.users()) {
      users.push_back({{"user_id", u.user_id()},
                       {"first_seen", FormatRfc3339(u.first_seen_unix_micros())},
                       {"last_seen", FormatRfc3339(u.last_seen_unix_micros())},
                       {"lines", u.lines()}});
    }
    j["users"] = users;
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::cout << "device      " << device.device_id() << "\n"
            << "first seen  " << FormatRfc3339(device.first_seen_unix_micros()) << "\n"
            << "last seen   " << FormatRfc3339(device.last_seen_unix_micros()) << "\n"
            << "lines       " << device.lines() << " (seq up to " << device.watermark() << ")\n"
            << "clock       "
            << (device.clock_offset_micros() == 0
                    ? std::string("in sync")
                    : absl::StrCat(
                          absl::FormatDuration(absl::Microseconds(device.clock_offset_micros())),
                          " behind the server"))
            << "\n";
  for (const v1::Attribute& a : device.attributes()) {
    std::cout << "  " << a.key() << " = " << ValueToText(a.value()) << "\n";
  }
  std::cout << "users:\n";
  for (const v1::DeviceUser& u : device.users()) {
    std::cout << "  " << (u.user_id().empty() ? "(signed out)" : u.user_id()) << "  "
              << FormatRfc3339(u.first_seen_unix_micros()) << " .. "
              << FormatRfc3339(u.last_seen_unix_micros()) << "  " << u.lines() << " lines\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterLogsCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* logs = app.add_subcommand("logs", "Show a user's or a device's log timeline");
  logs->footer(R"HELP(Lines are in time order (corrected for device clock skew), oldest first.

Examples:
  fieldlog logs --app shop --user alice@example.com --since 2h
  fieldlog logs --app shop --device 3f2a... --level warn --grep timeout
  fieldlog logs --app shop --user alice@example.com --regex "Payment(Timeout|Declined)" --attr app.version=3.2.1
  fieldlog logs --app shop --user alice@example.com --from 2026-11-22T09:00:00Z --to 2026-11-22T10:00:00Z -o json
  fieldlog logs --app shop --user alice@example.com -f          # keep following)HELP");
  auto flags = std::make_shared<LogsFlags>();
  AddLogsFlags(logs, flags.get(), "24h");
  logs->add_option("--limit", flags->limit, "At most this many lines (0: no limit)")
      ->capture_default_str();
  logs->add_flag("-r,--newest-first", flags->newest_first, "Newest lines first");
  logs->add_flag("-f,--follow", flags->follow,
                 "Show the newest lines, then new ones as they arrive (like tail -f)");
  logs->callback([&global, exit_code, flags] { *exit_code = RunLogs(*flags, global); });

  CLI::App* tail = app.add_subcommand("tail", "Follow a user's or a device's lines as they arrive");
  tail->footer(R"(Prints the newest lines, then each new line within a second of the server
storing it, until Ctrl-C. New lines come per device in the order they arrive.

Examples:
  fieldlog tail --app shop --user alice@example.com
  fieldlog tail --app shop --device 3f2a... --level warn -n 50)");
  auto tail_flags = std::make_shared<LogsFlags>();
  AddLogsFlags(tail, tail_flags.get(), "24h");
  tail_flags->limit = 10;
  tail->add_option("-n,--lines", tail_flags->limit, "Lines to show before following")
      ->capture_default_str();
  tail->callback([&global, exit_code, tail_flags] {
    tail_flags->follow = true;
    *exit_code = RunLogs(*tail_flags, global);
  });
}

void RegisterDevicesCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* devices = app.add_subcommand("devices", "A user's devices, or one device's details");
  devices->footer(R"(Examples:
  fieldlog devices --app shop --user alice@example.com
  fieldlog devices --app shop --device 3f2a...      # attributes, clock, users over time)");
  auto app_name = std::make_shared<std::string>();
  auto user = std::make_shared<std::string>();
  auto device = std::make_shared<std::string>();
  devices->add_option("--app", *app_name, "App name")->required();
  devices->add_option("--user", *user, "User id or e-mail");
  devices->add_option("--device", *device, "Device id: its details and its users over time");
  devices->callback([&global, exit_code, app_name, user, device] {
    auto stub = v1::QueryService::NewStub(MakeChannel(global));
    if (!device->empty()) {
      *exit_code = PrintDeviceDetails(*stub, global, *app_name, *device);
      return;
    }
    if (user->empty()) {
      std::cerr << "fieldlog: name a --user or a --device\n";
      *exit_code = kExitUsage;
      return;
    }
    v1::ListDevicesRequest request;
    request.set_app(*app_name);
    request.set_user_id(*user);
    v1::ListDevicesResponse response;
    if (!CallUnary(*stub, &v1::QueryService::Stub::ListDevices, request, &response, global,
                   exit_code)) {
      return;
    }
    if (response.devices().empty()) {
      *exit_code = ExplainUnknownUser(*stub, global, *app_name, *user);
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
                  << "  last seen " << FormatRfc3339(d.last_seen_unix_micros()) << "  " << d.lines()
                  << " lines";
        for (const v1::Attribute& a : d.attributes()) {
          std::cout << "  " << a.key() << "=" << ValueToText(a.value());
        }
        std::cout << "\n";
      }
    }
  });

  CLI::App* users = app.add_subcommand("users", "Find users by the start of their id or e-mail");
  users->footer(R"(Example:
  fieldlog users --app shop alice        # alice@example.com, alice.b@example.org, ...)");
  auto prefix = std::make_shared<std::string>();
  auto limit = std::make_shared<uint32_t>(20);
  users->add_option("--app", *app_name, "App name")->required();
  users->add_option("prefix", *prefix, "The start of the user id")->required();
  users->add_option("--limit", *limit, "At most this many users")->capture_default_str();
  users->callback([&global, exit_code, app_name, prefix, limit] {
    auto stub = v1::QueryService::NewStub(MakeChannel(global));
    v1::FindUsersRequest request;
    request.set_app(*app_name);
    request.set_prefix(*prefix);
    request.set_limit(*limit);
    v1::FindUsersResponse response;
    if (!CallUnary(*stub, &v1::QueryService::Stub::FindUsers, request, &response, global,
                   exit_code)) {
      return;
    }
    if (response.users().empty()) {
      std::cerr << "fieldlog: no user starting with '" << *prefix << "' in app " << *app_name
                << "\n";
      *exit_code = kExitNotFound;
      return;
    }
    for (const v1::UserSummary& u : response.users()) {
      if (global.format() == OutputFormat::kJson) {
        std::cout << nlohmann::json{{"user_id", u.user_id()},
                                    {"devices", u.devices()},
                                    {"lines", u.lines()},
                                    {"first_seen", FormatRfc3339(u.first_seen_unix_micros())},
                                    {"last_seen", FormatRfc3339(u.last_seen_unix_micros())}}
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                  << "\n";
      } else {
        std::cout << u.user_id() << "  " << u.devices() << " devices  " << u.lines()
                  << " lines  last seen " << FormatRfc3339(u.last_seen_unix_micros()) << "\n";
      }
    }
  });
}

}  // namespace fieldlog::cli
