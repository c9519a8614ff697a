// fieldlog apps create | list | set, fieldlog keys create | list | revoke and
// fieldlog backup (all need the admin token).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "fieldlog/v1/admin.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "query/cli/commands.h"

namespace fieldlog::cli {
namespace {

std::string RateText(double lines_per_second) {
  return lines_per_second > 0 ? absl::StrCat(lines_per_second, " lines/s") : "unlimited";
}

void PrintApp(const v1::AppInfo& info, const GlobalOptions& global) {
  const v1::AppSettings& s = info.settings();
  if (global.format() == OutputFormat::kJson) {
    std::cout << nlohmann::json{{"app", info.name()},
                                {"created", FormatRfc3339(info.created_unix_micros())},
                                {"app_lines_per_second", s.app_lines_per_second()},
                                {"device_lines_per_second", s.device_lines_per_second()},
                                {"retention_days", s.retention_days()}}
                     .dump()
              << "\n";
  } else {
    std::cout << info.name() << "  created " << FormatRfc3339(info.created_unix_micros())
              << "  app limit " << RateText(s.app_lines_per_second()) << "  device limit "
              << RateText(s.device_lines_per_second()) << "  retention "
              << (s.retention_days() > 0 ? absl::StrCat(s.retention_days(), " days") : "forever")
              << "\n";
  }
}

std::string_view KindName(v1::KeyKind kind) {
  return kind == v1::KEY_KIND_INGEST ? "ingest" : kind == v1::KEY_KIND_READ ? "read" : "?";
}

void PrintKey(const v1::KeyInfo& key, const GlobalOptions& global) {
  if (global.format() == OutputFormat::kJson) {
    nlohmann::json j{{"app", key.app()},
                     {"key_id", key.key_id()},
                     {"kind", KindName(key.kind())},
                     {"prefix", key.prefix()},
                     {"created", FormatRfc3339(key.created_unix_micros())},
                     {"revoked", key.revoked()}};
    if (key.revoked()) j["revoked_at"] = FormatRfc3339(key.revoked_unix_micros());
    std::cout << j.dump() << "\n";
  } else {
    std::cout << key.key_id() << "  " << KindName(key.kind()) << "  " << key.prefix()
              << "...  created " << FormatRfc3339(key.created_unix_micros())
              << (key.revoked() ? "  REVOKED " + FormatRfc3339(key.revoked_unix_micros()) : "")
              << "\n";
  }
}

void RegisterApps(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* apps = app.add_subcommand("apps", "Create, list and configure apps (admin token)");
  apps->require_subcommand(1);

  CLI::App* create =
      apps->add_subcommand("create", "Create an app with an ingest key and a read token");
  create->footer(R"(Example:
  FIELDLOG_TOKEN=$(cat fieldlog-data/admin_token) fieldlog apps create shop -o json
The ingest key goes into the app; the read token is for support staff. Both are
shown only now: the server keeps just their hashes.)");
  auto name = std::make_shared<std::string>();
  create->add_option("name", *name, "App name: lower-case letters, digits, '.', '_', '-'")
      ->required();
  create->callback([&global, exit_code, name] {
    auto stub = v1::AdminService::NewStub(MakeChannel(global));
    v1::CreateAppRequest request;
    request.set_name(*name);
    v1::CreateAppResponse response;
    if (!CallUnary(*stub, &v1::AdminService::Stub::CreateApp, request, &response, global,
                   exit_code)) {
      return;
    }
    if (global.format() == OutputFormat::kJson) {
      std::cout << nlohmann::json{{"app", response.app()},
                                  {"ingest_key", response.ingest_key()},
                                  {"read_token", response.read_token()}}
                       .dump()
                << std::endl;
    } else {
      std::cout << "app:         " << response.app() << "\n"
                << "ingest key:  " << response.ingest_key() << "   (put this in the app)\n"
                << "read token:  " << response.read_token() << "   (for support staff)\n"
                << "Both are shown only once.\n";
    }
  });

  CLI::App* list = apps->add_subcommand("list", "List apps and their settings");
  list->callback([&global, exit_code] {
    auto stub = v1::AdminService::NewStub(MakeChannel(global));
    v1::ListAppsResponse response;
    if (!CallUnary(*stub, &v1::AdminService::Stub::ListApps, v1::ListAppsRequest(), &response,
                   global, exit_code)) {
      return;
    }
    for (const v1::AppInfo& info : response.apps()) PrintApp(info, global);
  });

  CLI::App* set = apps->add_subcommand("set", "Change an app's rate limits or retention");
  set->footer(R"(Examples:
  fieldlog apps set shop --device-rate 1000 --app-rate 200000
  fieldlog apps set shop --retention 30d
  fieldlog apps set shop --device-rate 0      # back to the server's default
Over a limit, agents are told to retry later (RESOURCE_EXHAUSTED with a delay).)");
  struct SetFlags {
    std::string name, retention;
    std::optional<double> app_rate, device_rate;
  };
  auto flags = std::make_shared<SetFlags>();
  set->add_option("name", flags->name, "App name")->required();
  set->add_option("--app-rate", flags->app_rate, "Lines/s for the whole app (0: server default)");
  set->add_option("--device-rate", flags->device_rate, "Lines/s per device (0: server default)");
  set->add_option("--retention", flags->retention,
                  "Keep lines this long, in days: 30d (0d: server default)");
  set->callback([&global, exit_code, flags] {
    v1::UpdateAppRequest request;
    request.set_name(flags->name);
    if (flags->app_rate) request.mutable_settings()->set_app_lines_per_second(*flags->app_rate);
    if (flags->device_rate) {
      request.mutable_settings()->set_device_lines_per_second(*flags->device_rate);
    }
    if (!flags->retention.empty()) {
      absl::StatusOr<absl::Duration> retention = ParseHumanDuration(flags->retention);
      if (!retention.ok() || *retention % absl::Hours(24) != absl::ZeroDuration()) {
        std::cerr << "fieldlog: --retention takes whole days, like 30d\n";
        *exit_code = kExitUsage;
        return;
      }
      request.mutable_settings()->set_retention_days(
          static_cast<uint32_t>(*retention / absl::Hours(24)));
    }
    auto stub = v1::AdminService::NewStub(MakeChannel(global));
    v1::AppInfo response;
    if (CallUnary(*stub, &v1::AdminService::Stub::UpdateApp, request, &response, global,
                  exit_code)) {
      PrintApp(response, global);
    }
  });
}

void RegisterKeys(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* keys =
      app.add_subcommand("keys", "Create, list and revoke an app's keys (admin token)");
  keys->require_subcommand(1);
  keys->footer(R"(Rotating an ingest key without losing lines:
  fieldlog keys create --app shop --kind ingest     # ship the new key in the next release
  fieldlog keys list --app shop                     # once old versions are gone...
  fieldlog keys revoke --app shop 3fa2c1d09e7b      # ...revoke the old key by its id)");
  auto app_name = std::make_shared<std::string>();
  auto kind = std::make_shared<std::string>("read");
  auto key_id = std::make_shared<std::string>();

  CLI::App* create = keys->add_subcommand("create", "Create an ingest key or a read token");
  create->add_option("--app", *app_name, "App name")->required();
  create->add_option("--kind", *kind, "ingest or read")
      ->check(CLI::IsMember({"ingest", "read"}))
      ->capture_default_str();
  create->callback([&global, exit_code, app_name, kind] {
    v1::CreateKeyRequest request;
    request.set_app(*app_name);
    request.set_kind(*kind == "ingest" ? v1::KEY_KIND_INGEST : v1::KEY_KIND_READ);
    auto stub = v1::AdminService::NewStub(MakeChannel(global));
    v1::CreateKeyResponse response;
    if (!CallUnary(*stub, &v1::AdminService::Stub::CreateKey, request, &response, global,
                   exit_code)) {
      return;
    }
    if (global.format() == OutputFormat::kJson) {
      std::cout << nlohmann::json{{"app", response.key().app()},
                                  {"key_id", response.key().key_id()},
                                  {"kind", KindName(response.key().kind())},
                                  {"secret", response.secret()}}
                       .dump()
                << "\n";
    } else {
      std::cout << "key id:  " << response.key().key_id() << "\n"
                << "secret:  " << response.secret() << "   (shown only once)\n";
    }
  });

  CLI::App* list = keys->add_subcommand("list", "List an app's keys (never their secrets)");
  list->add_option("--app", *app_name, "App name")->required();
  list->callback([&global, exit_code, app_name] {
    v1::ListKeysRequest request;
    request.set_app(*app_name);
    auto stub = v1::AdminService::NewStub(MakeChannel(global));
    v1::ListKeysResponse response;
    if (!CallUnary(*stub, &v1::AdminService::Stub::ListKeys, request, &response, global,
                   exit_code)) {
      return;
    }
    for (const v1::KeyInfo& key : response.keys()) PrintKey(key, global);
  });

  CLI::App* revoke = keys->add_subcommand("revoke", "Revoke a key: refused from now on");
  revoke->add_option("--app", *app_name, "App name")->required();
  revoke->add_option("key_id", *key_id, "The key's id from 'fieldlog keys list'")->required();
  revoke->callback([&global, exit_code, app_name, key_id] {
    v1::RevokeKeyRequest request;
    request.set_app(*app_name);
    request.set_key_id(*key_id);
    auto stub = v1::AdminService::NewStub(MakeChannel(global));
    v1::KeyInfo response;
    if (CallUnary(*stub, &v1::AdminService::Stub::RevokeKey, request, &response, global,
                  exit_code)) {
      PrintKey(response, global);
    }
  });
}

void RegisterBackup(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* backup =
      app.add_subcommand("backup", "Checkpoint the store while it serves (admin token)");
  backup->footer(R"(The checkpoint is written on the server's machine, to a directory that must not
exist yet; it shares unchanged files with the store through hard links.
To restore: stop fieldlog-server, move <data-dir>/db aside, put the checkpoint
in its place, start the server.

Example:
  fieldlog backup --to /var/backups/fieldlog/2026-11-22)");
  auto path = std::make_shared<std::string>();
  backup->add_option("--to", *path, "Absolute directory path on the server")->required();
  backup->callback([&global, exit_code, path] {
    v1::CreateCheckpointRequest request;
    request.set_path(*path);
    auto stub = v1::AdminService::NewStub(MakeChannel(global));
    v1::CreateCheckpointResponse response;
    if (!CallUnary(*stub, &v1::AdminService::Stub::CreateCheckpoint, request, &response, global,
                   exit_code)) {
      return;
    }
    if (global.format() == OutputFormat::kJson) {
      std::cout << nlohmann::json{{"path", response.path()}, {"bytes", response.bytes()}}.dump()
                << "\n";
    } else {
      std::cout << "checkpoint of " << response.bytes() << " bytes written to " << response.path()
                << "\n";
    }
  });
}

}  // namespace

void RegisterAppsCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  RegisterApps(app, global, exit_code);
  RegisterKeys(app, global, exit_code);
  RegisterBackup(app, global, exit_code);
}

}  // namespace fieldlog::cli
