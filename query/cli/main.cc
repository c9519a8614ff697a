// fieldlog: read, send and manage device logs from the command line.
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "query/cli/client.h"
#include "query/cli/commands.h"
#include "query/cli/config.h"

int main(int argc, char** argv) {
  using namespace fieldlog::cli;
  // `fieldlog send` runs the agent: as in fieldlog-server, Debian's Abseil
  // would otherwise keep its mutex deadlock detector's bookkeeping on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"fieldlog: see what happened on a customer's device"};
  app.footer(R"(Config: ~/.config/fieldlog/config.json (or $FIELDLOG_CONFIG), e.g.
  {"server": "logs.example.com:4317", "token": "fl_rt_..."}
Environment: FIELDLOG_SERVER, FIELDLOG_TOKEN and FIELDLOG_TLS_CA override the file;
flags override both.

Exit codes: 0 ok; 1 server or network failure; 2 bad flags or input;
3 no such app, user or device; 4 missing, wrong or insufficient credentials.

Examples:
  fieldlog apps create shop -o json
  echo "hello" | fieldlog send --key fl_ik_... --device dev-1 --user alice@example.com
  fieldlog logs --app shop --user alice@example.com --since 2h --level warn
  fieldlog devices --app shop --user alice@example.com
  fieldlog tail --app shop --user alice@example.com
  fieldlog stats --app shop --since 7d --sort spike
  fieldlog affected --app shop --grep PaymentTimeout --since 24h
  fieldlog issues --app shop --since 7d
  fieldlog keys list --app shop)");
  app.require_subcommand(1);
  // Global flags may come after the subcommand too (fieldlog logs ... -o json);
  // subcommands inherit this setting.
  app.fallthrough();
  app.set_help_all_flag("--help-all", "Help for every command");

  // Defaults, then the config file, then the environment, then flags.
  GlobalOptions global;
  if (!LoadConfigFile(&global)) return kExitUsage;
  if (const char* server = std::getenv("FIELDLOG_SERVER")) global.server = server;
  if (const char* token = std::getenv("FIELDLOG_TOKEN")) global.token = token;
  if (const char* ca = std::getenv("FIELDLOG_TLS_CA")) global.tls_ca = ca;
  app.add_option("--server", global.server, "fieldlog-server gRPC address (host:port)")
      ->capture_default_str();
  app.add_option("--token", global.token, "Read token, or the admin token for admin commands");
  app.add_option("--tls-ca", global.tls_ca,
                 "Connect with TLS, trusting this CA (PEM); also FIELDLOG_TLS_CA");
  app.add_option("--tls-cert", global.tls_cert, "Client certificate (PEM) for mutual TLS");
  app.add_option("--tls-key", global.tls_key, "Client private key (PEM) for mutual TLS");
  app.add_option("-o,--output", global.output,
                 "Output: text (readable) or json (one object a line)")
      ->check(CLI::IsMember({"text", "json"}));

  int exit_code = kExitOk;
  RegisterAppsCommand(app, global, &exit_code);
  RegisterSendCommand(app, global, &exit_code);
  RegisterLogsCommand(app, global, &exit_code);
  RegisterDevicesCommand(app, global, &exit_code);
  RegisterPrivacyCommands(app, global, &exit_code);
  RegisterAnalyticsCommands(app, global, &exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return exit_code;
}
