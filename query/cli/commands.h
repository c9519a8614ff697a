// The fieldlog subcommands. Each Register* adds one command (with its flags,
// help and examples) to the CLI; when it runs it stores its exit code in
// *exit_code.
#ifndef FIELDLOG_QUERY_CLI_COMMANDS_H_
#define FIELDLOG_QUERY_CLI_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "query/cli/client.h"

namespace fieldlog::cli {

// "apps", "keys" and "backup".
void RegisterAppsCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
void RegisterSendCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
// "logs" and "tail".
void RegisterLogsCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
// "devices" and "users".
void RegisterDevicesCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
// "stats", "affected", "issues" and "audit".
void RegisterAnalyticsCommands(CLI::App& app, const GlobalOptions& global, int* exit_code);
// "export" and "erase-user".
void RegisterPrivacyCommands(CLI::App& app, const GlobalOptions& global, int* exit_code);

}  // namespace fieldlog::cli

#endif  // FIELDLOG_QUERY_CLI_COMMANDS_H_
