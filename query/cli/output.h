// How the CLI shows logs: one JSON object per line (-o json) or a readable
// timeline with level colours on a terminal (-o text).
#ifndef FIELDLOG_QUERY_CLI_OUTPUT_H_
#define FIELDLOG_QUERY_CLI_OUTPUT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "fieldlog/v1/query.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "nlohmann/json.hpp"

namespace fieldlog::cli {

// "trace", "debug", "info", "warn", "error", "fatal".
absl::string_view LevelName(v1::Level level);
// Accepts the names above (any case) and "warning"; nullopt otherwise.
std::optional<v1::Level> ParseLevel(absl::string_view name);

// A value as a person reads it: strings as they are, other types as JSON.
std::string ValueToText(const v1::Value& value);

nlohmann::json AttributesToJson(const google::protobuf::RepeatedPtrField<v1::Attribute>& attributes);

// The JSON object of the CLI contract: app, device_id, user_id, session_id,
// seq, time, device_time, receive_time, level, tag, message, attributes (and
// file, line, function, kind when set).
nlohmann::ordered_json LineToJson(const v1::LogLine& line);

// "2026-11-22T16:33:48.123Z ERROR Checkout [dev-1 alice] message key=value"
std::string LineToText(const v1::LogLine& line, bool color);

// True when stdout is a terminal (and NO_COLOR is not set).
bool UseColor();

}  // namespace fieldlog::cli

#endif  // FIELDLOG_QUERY_CLI_OUTPUT_H_
