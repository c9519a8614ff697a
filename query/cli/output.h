// How the CLI shows logs: one JSON object per line (-o json) or a readable
// timeline with level colours on a terminal (-o text).
#ifndef FIELDLOG_QUERY_CLI_OUTPUT_H_
#define FIELDLOG_QUERY_CLI_OUTPUT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "common/json_format.h"
#include "fieldlog/v1/query.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "nlohmann/json.hpp"

namespace fieldlog::cli {

// LevelName, ParseLevel, LineToJson and the other JSON shapes come from
// common/json_format.h, shared with the HTTP API.

// "2026-11-22T16:33:48.123Z ERROR Checkout [dev-1 alice] message key=value"
std::string LineToText(const v1::LogLine& line, bool color);

// True when stdout is a terminal (and NO_COLOR is not set).
bool UseColor();

}  // namespace fieldlog::cli

#endif  // FIELDLOG_QUERY_CLI_OUTPUT_H_
