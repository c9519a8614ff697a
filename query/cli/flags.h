// Flags several commands share: a time range the way journalctl takes it
// (--since 2h, or --from/--to in RFC 3339) and the line filters of logs and
// tail (--level, --grep, --regex, --tag, --attr, --session).
#ifndef FIELDLOG_QUERY_CLI_FLAGS_H_
#define FIELDLOG_QUERY_CLI_FLAGS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "fieldlog/v1/query.pb.h"

namespace fieldlog::cli {

struct TimeRangeFlags {
  std::string since;
  std::string from;
  std::string to;

  // Adds --since (with `default_since`), --from and --to.
  void Register(CLI::App* command, const std::string& default_since);
  // [from, to) in Unix micros; false (after a message on stderr) when a flag
  // is malformed.
  bool Resolve(int64_t* from_us, int64_t* to_us) const;
};

struct FilterFlags {
  std::string level, grep, regex, session;
  std::vector<std::string> tags;
  std::vector<std::string> attributes;  // key=value

  void Register(CLI::App* command);
  // Sets the filters of `request`; false (after a message) when malformed.
  bool Apply(v1::SearchRequest* request) const;
};

}  // namespace fieldlog::cli

#endif  // FIELDLOG_QUERY_CLI_FLAGS_H_
