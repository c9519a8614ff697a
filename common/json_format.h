// The JSON shapes fieldlog shows to people and scripts: the CLI's -o json and
// the HTTP API use the same field names (app, device_id, user_id, session_id,
// seq, time, device_time, receive_time, level, tag, message, attributes, ...).
#ifndef FIELDLOG_COMMON_JSON_FORMAT_H_
#define FIELDLOG_COMMON_JSON_FORMAT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "fieldlog/v1/common.pb.h"
#include "fieldlog/v1/query.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "nlohmann/json.hpp"

namespace fieldlog {

// "trace", "debug", "info", "warn", "error", "fatal".
absl::string_view LevelName(v1::Level level);
// Accepts the names above (any case) and "warning"; nullopt otherwise.
std::optional<v1::Level> ParseLevel(absl::string_view name);
// "log", "gap", "crash", "issue", "feedback".
absl::string_view KindName(v1::EntryKind kind);

// A value as JSON (string, number or boolean), and as a person reads it:
// strings as they are, other types as JSON.
nlohmann::json ValueToJson(const v1::Value& value);
std::string ValueToText(const v1::Value& value);

nlohmann::json AttributesToJson(
    const google::protobuf::RepeatedPtrField<v1::Attribute>& attributes);

// One line: app, device_id, user_id, session_id, seq, time, device_time,
// receive_time, level, tag, message, attributes (and file, line, function,
// kind when set). Times are RFC 3339 strings.
nlohmann::ordered_json LineToJson(const v1::LogLine& line);

}  // namespace fieldlog

#endif  // FIELDLOG_COMMON_JSON_FORMAT_H_
