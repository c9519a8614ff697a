// fieldlog export: everything fieldlog holds about a user, as JSON lines (for
// an access request). fieldlog erase-user: delete it (for an erasure request).
#include <unistd.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "fieldlog/v1/admin.grpc.pb.h"
#include "fieldlog/v1/query.grpc.pb.h"
#include "query/cli/commands.h"
#include "query/cli/output.h"

namespace fieldlog::cli {
namespace {

constexpr uint32_t kPageLines = 10000;

struct UserFlags {
  std::string app, user;
  bool yes = false;
};

int RunExport(const UserFlags& flags, const GlobalOptions& global) {
  auto stub = v1::QueryService::NewStub(MakeChannel(global));
  int exit_code = kExitOk;
  v1::ListDevicesRequest devices_request;
  devices_request.set_app(flags.app);
  devices_request.set_user_id(flags.user);
  v1::ListDevicesResponse devices;
  if (!CallUnary(*stub, &v1::QueryService::Stub::ListDevices, devices_request, &devices, global,
                 &exit_code)) {
    return exit_code;
  }
  if (devices.devices().empty()) {
    std::cerr << "fieldlog: no user '" << flags.user << "' in app " << flags.app << "\n";
    return kExitNotFound;
  }
  for (const v1::DeviceSummary& d : devices.devices()) {
    nlohmann::ordered_json j;
    j["type"] = "device";
    j["app"] = flags.app;
    j["user_id"] = flags.user;
    j["device_id"] = d.device_id();
    j["first_seen"] = FormatRfc3339(d.first_seen_unix_micros());
    j["last_seen"] = FormatRfc3339(d.last_seen_unix_micros());
    j["lines"] = d.lines();
    j["attributes"] = AttributesToJson(d.attributes());
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  uint64_t expected = 0;
  for (const v1::DeviceSummary& d : devices.devices()) expected += d.lines();

  // All of her lines, every page, from the beginning of time.
  v1::SearchRequest request;
  request.set_app(flags.app);
  request.set_user_id(flags.user);
  request.set_from_unix_micros(1);
  request.set_to_unix_micros(NowUnixMicros() + int64_t{3600} * 1'000'000);
  request.set_limit(kPageLines);
  const bool progress = ::isatty(STDERR_FILENO) == 1;
  uint64_t exported = 0;
  for (;;) {
    auto context = MakeContext(global.token, 300);
    auto reader = stub->Search(context.get(), request);
    v1::SearchResponse response;
    std::string cursor;
    while (reader->Read(&response)) {
      for (const v1::LogLine& line : response.lines()) {
        nlohmann::ordered_json j;
        j["type"] = "line";
        const nlohmann::ordered_json fields = LineToJson(line);
        for (const auto& [key, value] : fields.items()) j[key] = value;
        std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        ++exported;
      }
      if (!response.next_cursor().empty()) cursor = response.next_cursor();
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) return ReportError(status, global);
    if (progress && expected > 0) {
      const uint64_t percent = std::min<uint64_t>(100, exported * 100 / expected);
      std::string bar(percent / 5, '#');
      bar.resize(20, '.');
      std::cerr << "\r[" << bar << "] " << exported << " of ~" << expected << " lines"
                << std::flush;
    }
    if (cursor.empty()) break;
    request.set_cursor(cursor);
  }
  if (progress) std::cerr << "\n";
  std::cout.flush();
  std::cerr << "fieldlog: exported " << devices.devices_size() << " devices and " << exported
            << " lines of " << flags.user << "\n";
  return std::cout ? kExitOk : kExitFailure;
}

int RunErase(const UserFlags& flags, const GlobalOptions& global) {
  if (!flags.yes) {
    if (::isatty(STDIN_FILENO) != 1) {
      std::cerr << "fieldlog: erase-user deletes for good; pass --yes to confirm\n";
      return kExitUsage;
    }
    std::cerr << "This deletes every line and record of '" << flags.user << "' in app " << flags.app
              << " for good.\nType the user id to confirm: ";
    std::string typed;
    std::getline(std::cin, typed);
    if (typed != flags.user) {
      std::cerr << "fieldlog: not confirmed; nothing deleted\n";
      return kExitUsage;
    }
  }
  auto stub = v1::AdminService::NewStub(MakeChannel(global));
  v1::EraseUserRequest request;
  request.set_app(flags.app);
  request.set_user_id(flags.user);
  v1::EraseUserResponse response;
  int exit_code = kExitOk;
  if (!CallUnary(*stub, &v1::AdminService::Stub::EraseUser, request, &response, global,
                 &exit_code)) {
    return exit_code;
  }
  if (global.format() == OutputFormat::kJson) {
    std::cout << nlohmann::json{{"app", flags.app},
                                {"user_id", flags.user},
                                {"devices", response.devices()},
                                {"lines", response.lines()}}
                     .dump()
              << "\n";
  } else {
    std::cout << "erased " << response.lines() << " lines of " << flags.user << " from "
              << response.devices() << " devices\n";
  }
  return response.devices() == 0 ? kExitNotFound : kExitOk;
}

}  // namespace

void RegisterPrivacyCommands(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  auto flags = std::make_shared<UserFlags>();
  CLI::App* exporter = app.add_subcommand("export", "Write all of a user's data as JSON lines");
  exporter->footer(R"(For an access request: her devices ({"type":"device",...}) then every line
({"type":"line",...}), oldest first, whatever the time.

Example:
  fieldlog export --app shop --user alice@example.com > alice.jsonl)");
  exporter->add_option("--app", flags->app, "App name")->required();
  exporter->add_option("--user", flags->user, "User id or e-mail")->required();
  exporter->callback([&global, exit_code, flags] { *exit_code = RunExport(*flags, global); });

  CLI::App* erase =
      app.add_subcommand("erase-user", "Delete every line and record of a user (admin token)");
  erase->footer(R"(For an erasure request. Lines other users logged on the same devices stay.
The data is removed from disk before the command returns.

Example:
  fieldlog erase-user --app shop --user alice@example.com --yes)");
  erase->add_option("--app", flags->app, "App name")->required();
  erase->add_option("--user", flags->user, "User id or e-mail")->required();
  erase->add_flag("--yes", flags->yes, "Do not ask for confirmation");
  erase->callback([&global, exit_code, flags] { *exit_code = RunErase(*flags, global); });
}

}  // namespace fieldlog::cli
