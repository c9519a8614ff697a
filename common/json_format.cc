#include "common/json_format.h"

#include "absl/strings/ascii.h"
#include "common/time_util.h"

namespace fieldlog {

nlohmann::json ValueToJson(const v1::Value& value) {
  switch (value.kind_case()) {
    case v1::Value::kIntValue:
      return value.int_value();
    case v1::Value::kDoubleValue:
      return value.double_value();
    case v1::Value::kBoolValue:
      return value.bool_value();
    default:
      return value.string_value();
  }
}

absl::string_view KindName(v1::EntryKind kind) {
  switch (kind) {
    case v1::ENTRY_KIND_GAP:
      return "gap";
    case v1::ENTRY_KIND_CRASH:
      return "crash";
    case v1::ENTRY_KIND_ISSUE:
      return "issue";
    case v1::ENTRY_KIND_FEEDBACK:
      return "feedback";
    default:
      return "log";
  }
}

absl::string_view LevelName(v1::Level level) {
  switch (level) {
    case v1::LEVEL_TRACE:
      return "trace";
    case v1::LEVEL_DEBUG:
      return "debug";
    case v1::LEVEL_WARN:
      return "warn";
    case v1::LEVEL_ERROR:
      return "error";
    case v1::LEVEL_FATAL:
      return "fatal";
    default:
      return "info";
  }
}

std::optional<v1::Level> ParseLevel(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "trace") return v1::LEVEL_TRACE;
  if (lower == "debug") return v1::LEVEL_DEBUG;
  if (lower == "info") return v1::LEVEL_INFO;
  if (lower == "warn" || lower == "warning") return v1::LEVEL_WARN;
  if (lower == "error") return v1::LEVEL_ERROR;
  if (lower == "fatal") return v1::LEVEL_FATAL;
  return std::nullopt;
}

std::string ValueToText(const v1::Value& value) {
  if (value.kind_case() == v1::Value::kStringValue ||
      value.kind_case() == v1::Value::KIND_NOT_SET) {
    return value.string_value();
  }
  return ValueToJson(value).dump();
}

nlohmann::json AttributesToJson(
    const google::protobuf::RepeatedPtrField<v1::Attribute>& attributes) {
  nlohmann::json object = nlohmann::json::object();
  for (const v1::Attribute& a : attributes) object[a.key()] = ValueToJson(a.value());
  return object;
}

nlohmann::ordered_json LineToJson(const v1::LogLine& line) {
  nlohmann::ordered_json j;
  j["app"] = line.app();
  j["device_id"] = line.device_id();
  j["user_id"] = line.user_id();
  j["session_id"] = line.session_id();
  j["seq"] = line.seq();
  j["time"] = FormatRfc3339(line.time_unix_micros());
  j["device_time"] = FormatRfc3339(line.device_time_unix_micros());
  j["receive_time"] = FormatRfc3339(line.receive_time_unix_micros());
  j["level"] = LevelName(line.level());
  j["tag"] = line.tag();
  j["message"] = line.message();
  j["attributes"] = AttributesToJson(line.attributes());
  if (!line.file().empty()) {
    j["file"] = line.file();
    j["line"] = line.line();
  }
  if (!line.function().empty()) j["function"] = line.function();
  if (line.kind() != v1::ENTRY_KIND_LOG) j["kind"] = KindName(line.kind());
  return j;
}

}  // namespace fieldlog
