// The CLI's config file, so support staff do not repeat --server and --token:
// JSON at $FIELDLOG_CONFIG, else $XDG_CONFIG_HOME/fieldlog/config.json, else
// ~/.config/fieldlog/config.json:
//   {"server": "logs.example.com:4317", "token": "fl_rt_...", "tls_ca": "/etc/ca.pem"}
// Keys: server, token, tls_ca, tls_cert, tls_key, output. Environment
// variables override the file, and flags override both.
#ifndef FIELDLOG_QUERY_CLI_CONFIG_H_
#define FIELDLOG_QUERY_CLI_CONFIG_H_

#include <string>

#include "query/cli/client.h"

namespace fieldlog::cli {

// The config file's path (it may not exist).
std::string ConfigPath();

// Fills `options` from the config file, if there is one. False (after a
// message on stderr) when the file exists but is not valid.
bool LoadConfigFile(GlobalOptions* options);

}  // namespace fieldlog::cli

#endif  // FIELDLOG_QUERY_CLI_CONFIG_H_
