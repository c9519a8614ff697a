// fieldlog apps create | list (admin token).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "fieldlog/v1/admin.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "query/cli/commands.h"

namespace fieldlog::cli {

void RegisterAppsCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* apps = app.add_subcommand("apps", "Create and list apps (needs the admin token)");
  apps->require_subcommand(1);

  CLI::App* create = apps->add_subcommand("create", "Create an app with an ingest key and a read token");
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
    auto context = MakeContext(global.token);
    grpc::Status status = stub->CreateApp(context.get(), request, &response);
    if (!status.ok()) {
      *exit_code = ReportError(status, global);
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

  CLI::App* list = apps->add_subcommand("list", "List apps");
  list->callback([&global, exit_code] {
    auto stub = v1::AdminService::NewStub(MakeChannel(global));
    v1::ListAppsResponse response;
    auto context = MakeContext(global.token);
    grpc::Status status = stub->ListApps(context.get(), v1::ListAppsRequest(), &response);
    if (!status.ok()) {
      *exit_code = ReportError(status, global);
      return;
    }
    for (const v1::AppInfo& info : response.apps()) {
      if (global.format() == OutputFormat::kJson) {
        std::cout << nlohmann::json{{"app", info.name()},
                                    {"created", FormatRfc3339(info.created_unix_micros())}}
                         .dump()
                  << "\n";
      } else {
        std::cout << info.name() << "  created " << FormatRfc3339(info.created_unix_micros())
                  << "\n";
      }
    }
  });
}

}  // namespace fieldlog::cli
