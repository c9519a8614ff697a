#include "collector/otlp_mapping.h"

#include <charconv>
#include <cmath>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/validation.h"
#include "common/limits.h"
#include "common/text.h"

namespace fieldlog::collector::otlp {
namespace {

using opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using opentelemetry::proto::common::v1::AnyValue;
using opentelemetry::proto::common::v1::KeyValue;
using opentelemetry::proto::logs::v1::LogRecord;
using opentelemetry::proto::logs::v1::ResourceLogs;

// Semantic-convention keys the mapping reads.
constexpr absl::string_view kInstallationId = "app.installation.id";
constexpr absl::string_view kDeviceId = "device.id";
constexpr absl::string_view kServiceInstanceId = "service.instance.id";
constexpr absl::string_view kServiceName = "service.name";
constexpr absl::string_view kServiceVersion = "service.version";
constexpr absl::string_view kUserId = "user.id";
constexpr absl::string_view kEnduserId = "enduser.id";
constexpr absl::string_view kSessionId = "session.id";
constexpr absl::string_view kFilePath = "code.file.path";
constexpr absl::string_view kFilePathOld = "code.filepath";
constexpr absl::string_view kLineNumber = "code.line.number";
constexpr absl::string_view kLineNumberOld = "code.lineno";
constexpr absl::string_view kFunctionName = "code.function.name";
constexpr absl::string_view kFunctionNameOld = "code.function";
// Keys fieldlog adds.
constexpr absl::string_view kAppVersion = "app.version";
constexpr absl::string_view kEventName = "event.name";
constexpr absl::string_view kTraceId = "trace_id";
constexpr absl::string_view kSpanId = "span_id";
constexpr absl::string_view kSeverityText = "otel.severity_text";
constexpr absl::string_view kSeverityNumber = "otel.severity_number";
constexpr absl::string_view kDroppedAttributes = "otel.dropped_attributes_count";
constexpr absl::string_view kFallbackPrefix = "otel:";
constexpr absl::string_view kUnknownService = "unknown_service";

absl::string_view View(const std::string& s) { return absl::string_view(s.data(), s.size()); }

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Cuts `text` on a character boundary to at most `max_bytes`, without marker.
void CutText(std::string* text, size_t max_bytes) {
  if (text->size() <= max_bytes) return;
  size_t keep = max_bytes;
  while (keep > 0 && IsContinuationByte((*text)[keep])) --keep;
  text->resize(keep);
}

// Cuts `text` to at most `max_bytes` ending with " …[cut N bytes]" (N: the
// bytes removed), the agent's marker, so a reader sees that text is missing.
void FitText(std::string* text, size_t max_bytes) {
  if (text->size() <= max_bytes) return;
  const size_t total = text->size();
  // The longest the marker can be: N has at most as many digits as `total`.
  const size_t marker_room = absl::StrCat(" \xE2\x80\xA6[cut ", total, " bytes]").size();
  size_t keep = max_bytes > marker_room ? max_bytes - marker_room : 0;
  while (keep > 0 && IsContinuationByte((*text)[keep])) --keep;
  text->resize(keep);
  absl::StrAppend(text, " \xE2\x80\xA6[cut ", total - keep, " bytes]");
}

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// The shortest text that reads back as the same double.
void AppendDouble(double d, bool json, std::string* out) {
  if (!std::isfinite(d)) {
    const char* name = std::isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity");
    // JSON has no literal for these.
    if (json) {
      AppendJsonString(name, out);
    } else {
      out->append(name);
    }
    return;
  }
  char buffer[32];
  const std::to_chars_result r = std::to_chars(buffer, buffer + sizeof(buffer), d);
  out->append(buffer, r.ptr);
}

void AppendJson(const AnyValue& value, std::string* out) {
  switch (value.value_case()) {
    case AnyValue::kStringValue:
      AppendJsonString(value.string_value(), out);
      break;
    case AnyValue::kBoolValue:
      out->append(value.bool_value() ? "true" : "false");
      break;
    case AnyValue::kIntValue:
      absl::StrAppend(out, value.int_value());
      break;
    case AnyValue::kDoubleValue:
      AppendDouble(value.double_value(), /*json=*/true, out);
      break;
    case AnyValue::kArrayValue: {
      out->push_back('[');
      bool first = true;
      for (const AnyValue& v : value.array_value().values()) {
        if (!first) out->push_back(',');
        first = false;
        AppendJson(v, out);
      }
      out->push_back(']');
      break;
    }
    case AnyValue::kKvlistValue: {
      out->push_back('{');
      bool first = true;
      for (const KeyValue& kv : value.kvlist_value().values()) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(kv.key(), out);
        out->push_back(':');
        AppendJson(kv.value(), out);
      }
      out->push_back('}');
      break;
    }
    case AnyValue::kBytesValue:
      AppendJsonString(absl::Base64Escape(value.bytes_value()), out);
      break;
    case AnyValue::VALUE_NOT_SET:
      out->append("null");
      break;
  }
}

// A value as text: strings as they are, scalars in their usual notation,
// bytes as base64, arrays and maps as JSON; an empty value as "".
std::string AnyValueText(const AnyValue& value) {
  std::string out;
  switch (value.value_case()) {
    case AnyValue::kStringValue:
      return value.string_value();
    case AnyValue::kBytesValue:
      return absl::Base64Escape(value.bytes_value());
    case AnyValue::kDoubleValue:
      AppendDouble(value.double_value(), /*json=*/false, &out);
      return out;
    case AnyValue::VALUE_NOT_SET:
      return out;
    default:
      AppendJson(value, &out);
      return out;
  }
}

bool UsableKey(absl::string_view key) {
  return !key.empty() && key.size() <= kMaxAttributeKeyBytes && !FindInvalidUtf8(key) &&
         !HasControlCharacter(key);
}

// The fieldlog value for an OTLP value; nullopt when it cannot be kept (text
// that is not UTF-8).
std::optional<v1::Value> ToValue(const AnyValue& value) {
  v1::Value out;
  switch (value.value_case()) {
    case AnyValue::kBoolValue:
      out.set_bool_value(value.bool_value());
      return out;
    case AnyValue::kIntValue:
      out.set_int_value(value.int_value());
      return out;
    case AnyValue::kDoubleValue:
      out.set_double_value(value.double_value());
      return out;
    default: {
      std::string text = AnyValueText(value);
      if (FindInvalidUtf8(text)) return std::nullopt;
      FitText(&text, kMaxAttributeValueBytes);
      out.set_string_value(std::move(text));
      return out;
    }
  }
}

v1::Value StringValue(std::string text) {
  v1::Value value;
  FitText(&text, kMaxAttributeValueBytes);
  value.set_string_value(std::move(text));
  return value;
}

v1::Value IntValue(int64_t v) {
  v1::Value value;
  value.set_int_value(v);
  return value;
}

// Attributes with unique keys, in first-seen order; a repeated key takes the
// later value (as fieldlog's own ingest does).
class AttributeList {
 public:
  void Set(absl::string_view key, v1::Value value) {
    auto [it, inserted] = index_.try_emplace(key, attributes_.size());
    if (inserted) {
      v1::Attribute& a = attributes_.emplace_back();
      a.set_key(std::string(key));
      *a.mutable_value() = std::move(value);
    } else {
      *attributes_[it->second].mutable_value() = std::move(value);
    }
  }
  bool Has(absl::string_view key) const { return index_.contains(key); }
  size_t size() const { return attributes_.size(); }
  std::vector<v1::Attribute>& attributes() { return attributes_; }

 private:
  std::vector<v1::Attribute> attributes_;
  absl::flat_hash_map<std::string, size_t> index_;
};

const AnyValue* FindAttribute(const google::protobuf::RepeatedPtrField<KeyValue>& attributes,
                              absl::string_view key) {
  const AnyValue* found = nullptr;
  for (const KeyValue& kv : attributes) {
    if (kv.key() == key) found = &kv.value();  // the last one wins
  }
  return found;
}

// The text of the first of `keys` the attributes hold with a non-empty value.
std::string FirstText(const google::protobuf::RepeatedPtrField<KeyValue>& attributes,
                      std::initializer_list<absl::string_view> keys) {
  for (absl::string_view key : keys) {
    if (const AnyValue* v = FindAttribute(attributes, key)) {
      std::string text = AnyValueText(*v);
      if (!text.empty()) return text;
    }
  }
  return "";
}

// What a resource contributes to each of its records.
struct ResourceInfo {
  std::string device_id;
  // Why the resource's records cannot be stored (a bad device id), or empty.
  std::string device_problem;
  v1::Device device;
  std::string user_id;
  std::string session_id;
  std::string app_version;
};

ResourceInfo MapResource(const ResourceLogs& resource_logs) {
  const auto& attributes = resource_logs.resource().attributes();
  ResourceInfo info;
  std::string id = FirstText(attributes, {kInstallationId, kDeviceId});
  if (!id.empty()) {
    if (absl::Status s = ValidateId(id,
                                    "the resource's device id (app.installation.id or "
                                    "device.id)",
                                    1, kMaxDeviceIdBytes);
        !s.ok()) {
      info.device_problem = std::string(s.message());
    }
  } else {
    // No device named: one timeline per service instance, else per service.
    id = FirstText(attributes, {kServiceInstanceId, kServiceName});
    id = absl::StrCat(kFallbackPrefix, id.empty() ? kUnknownService : View(id));
    CutText(&id, kMaxDeviceIdBytes);
    if (absl::Status s = ValidateId(id,
                                    "the fallback device id (from service.instance.id or "
                                    "service.name)",
                                    1, kMaxDeviceIdBytes);
        !s.ok()) {
      info.device_problem = std::string(s.message());
    }
  }
  info.device_id = id;
  info.user_id = FirstText(attributes, {kUserId, kEnduserId});
  info.session_id = FirstText(attributes, {kSessionId});
  info.app_version = FirstText(attributes, {kServiceVersion});

  // Every resource attribute becomes a device attribute, app.version first.
  AttributeList device_attributes;
  if (!info.app_version.empty()) device_attributes.Set(kAppVersion, StringValue(info.app_version));
  for (const KeyValue& kv : attributes) {
    if (!UsableKey(kv.key())) continue;
    if (device_attributes.size() >= kMaxAttributes && !device_attributes.Has(kv.key())) continue;
    if (std::optional<v1::Value> value = ToValue(kv.value())) {
      device_attributes.Set(kv.key(), *std::move(value));
    }
  }
  info.device.set_device_id(info.device_id);
  for (v1::Attribute& a : device_attributes.attributes()) {
    *info.device.add_attributes() = std::move(a);
  }
  return info;
}

constexpr absl::string_view kLevelNames[] = {"",     "TRACE", "DEBUG", "INFO",
                                             "WARN", "ERROR", "FATAL"};

// A level named by severity text, or INFO for text that names none.
v1::Level LevelFromText(absl::string_view text) {
  const std::string lower = AsciiLower(text);
  const auto starts = [&](std::initializer_list<absl::string_view> prefixes) {
    for (absl::string_view p : prefixes) {
      if (absl::StartsWith(lower, p)) return true;
    }
    return false;
  };
  if (starts({"trace", "verbose", "finest", "finer"})) return v1::LEVEL_TRACE;
  if (starts({"debug", "fine"})) return v1::LEVEL_DEBUG;
  if (starts({"warn"})) return v1::LEVEL_WARN;
  if (starts({"err", "severe"})) return v1::LEVEL_ERROR;
  if (starts({"fatal", "crit", "emerg", "alert", "panic"})) return v1::LEVEL_FATAL;
  return v1::LEVEL_INFO;
}

std::string HexId(const std::string& id) {
  if (id.empty() || id.find_first_not_of('\0') == std::string::npos) return "";
  return absl::BytesToHexString(id);
}

struct RecordContext {
  const ResourceInfo* resource;
  absl::string_view tag;
  int64_t now_us;
};

// Maps one record: the entry, or why it is rejected.
std::optional<RejectedRecord> MapRecord(const LogRecord& record, const RecordContext& context,
                                        MappedRecord* out) {
  const ResourceInfo& resource = *context.resource;
  const auto reject = [&](const char* code, std::string reason) {
    return RejectedRecord{out->where, code, std::move(reason)};
  };
  if (!resource.device_problem.empty()) return reject("invalid_device", resource.device_problem);

  const int severity = static_cast<int>(record.severity_number());
  std::optional<v1::Level> level = LevelFromSeverity(severity, record.severity_text());
  if (!level) {
    return reject("invalid_severity",
                  absl::StrCat("severity_number ", severity, " is outside 0-24"));
  }
  v1::Entry& entry = out->entry;
  entry.set_level(*level);

  uint64_t time_ns = record.time_unix_nano();
  if (time_ns == 0) time_ns = record.observed_time_unix_nano();
  entry.set_time_unix_micros(time_ns != 0 ? static_cast<int64_t>(time_ns / 1000) : context.now_us);

  std::string message = AnyValueText(record.body());
  if (std::optional<size_t> bad = FindInvalidUtf8(message)) {
    return reject("invalid_utf8", absl::StrCat("body is not valid UTF-8 at byte ", *bad));
  }
  FitText(&message, kMaxMessageBytes);
  entry.set_message(std::move(message));

  std::string tag(context.tag);
  CutText(&tag, kMaxTagBytes);
  entry.set_tag(std::move(tag));

  // Record attributes: identity and source location move to their columns,
  // the rest are kept.
  std::string user_id, enduser_id, session_id;
  std::optional<std::string> file, file_old, function, function_old;
  std::optional<uint32_t> line, line_old;
  uint64_t dropped = record.dropped_attributes_count();
  AttributeList kept;
  const auto as_line = [](const AnyValue& v) -> std::optional<uint32_t> {
    int64_t n = 0;
    if (v.value_case() == AnyValue::kIntValue) {
      n = v.int_value();
    } else if (v.value_case() != AnyValue::kStringValue ||
               !absl::SimpleAtoi(v.string_value(), &n)) {
      return std::nullopt;
    }
    if (n <= 0 || n > UINT32_MAX) return std::nullopt;
    return static_cast<uint32_t>(n);
  };
  for (const KeyValue& kv : record.attributes()) {
    const std::string& key = kv.key();
    if (key == kUserId) {
      user_id = AnyValueText(kv.value());
    } else if (key == kEnduserId) {
      enduser_id = AnyValueText(kv.value());
    } else if (key == kSessionId) {
      session_id = AnyValueText(kv.value());
    } else if ((key == kFilePath || key == kFilePathOld) &&
               kv.value().value_case() == AnyValue::kStringValue) {
      (key == kFilePath ? file : file_old) = kv.value().string_value();
    } else if ((key == kFunctionName || key == kFunctionNameOld) &&
               kv.value().value_case() == AnyValue::kStringValue) {
      (key == kFunctionName ? function : function_old) = kv.value().string_value();
    } else if ((key == kLineNumber || key == kLineNumberOld) && as_line(kv.value())) {
      (key == kLineNumber ? line : line_old) = as_line(kv.value());
    } else if (!UsableKey(key)) {
      ++dropped;
    } else if (std::optional<v1::Value> value = ToValue(kv.value())) {
      kept.Set(key, *std::move(value));
    } else {
      ++dropped;
    }
  }
  if (file || file_old) {
    std::string f = file ? *file : *file_old;
    FitText(&f, kMaxFileBytes);
    entry.set_file(std::move(f));
  }
  if (function || function_old) {
    std::string f = function ? *function : *function_old;
    FitText(&f, kMaxFunctionBytes);
    entry.set_function(std::move(f));
  }
  if (line || line_old) entry.set_line(line ? *line : *line_old);

  // What fieldlog adds, unless the record has the key itself.
  AttributeList extras;
  const auto add_extra = [&](absl::string_view key, v1::Value value) {
    if (!kept.Has(key)) extras.Set(key, std::move(value));
  };
  if (!resource.app_version.empty()) add_extra(kAppVersion, StringValue(resource.app_version));
  if (!record.event_name().empty()) add_extra(kEventName, StringValue(record.event_name()));
  if (std::string id = HexId(record.trace_id()); !id.empty()) add_extra(kTraceId, StringValue(id));
  if (std::string id = HexId(record.span_id()); !id.empty()) add_extra(kSpanId, StringValue(id));
  if (!record.severity_text().empty() &&
      !absl::EqualsIgnoreCase(record.severity_text(), kLevelNames[*level])) {
    add_extra(kSeverityText, StringValue(record.severity_text()));
  }
  if (severity != 0 && (severity - 1) % 4 != 0) add_extra(kSeverityNumber, IntValue(severity));

  // At most kMaxAttributes in all; the record's own attributes give way, and
  // the count of what was dropped takes one place.
  std::vector<v1::Attribute>& own = kept.attributes();
  size_t room = kMaxAttributes - std::min(kMaxAttributes, extras.size());
  if (own.size() > room || (dropped > 0 && own.size() + 1 > room)) {
    const size_t keep = room > 0 ? room - 1 : 0;
    if (own.size() > keep) {
      dropped += own.size() - keep;
      own.resize(keep);
    }
  }
  for (v1::Attribute& a : own) *entry.add_attributes() = std::move(a);
  for (v1::Attribute& a : extras.attributes()) *entry.add_attributes() = std::move(a);
  if (dropped > 0 && entry.attributes_size() < static_cast<int>(kMaxAttributes)) {
    v1::Attribute* a = entry.add_attributes();
    a->set_key(std::string(kDroppedAttributes));
    *a->mutable_value() = IntValue(static_cast<int64_t>(dropped));
  }

  // The record's own user and session win over the resource's.
  out->user_id = !user_id.empty() ? user_id : !enduser_id.empty() ? enduser_id : resource.user_id;
  out->session_id = !session_id.empty() ? session_id : resource.session_id;
  if (absl::Status s = ValidateId(out->user_id, "user id", 0, kMaxUserIdBytes); !s.ok()) {
    return reject("invalid_user", std::string(s.message()));
  }
  if (absl::Status s = ValidateId(out->session_id, "session id", 0, kMaxSessionIdBytes); !s.ok()) {
    return reject("invalid_session", std::string(s.message()));
  }

  // The collector's own entry checks (time window, text, attributes). The seq
  // is assigned at store time; any valid one will do here.
  entry.set_seq(1);
  std::optional<EntryProblem> problem =
      ValidateEntry(entry, entry.time_unix_micros(), context.now_us);
  entry.set_seq(0);
  if (problem) return reject(problem->code, std::move(problem->reason));
  return std::nullopt;
}

}  // namespace

std::optional<v1::Level> LevelFromSeverity(int number, absl::string_view text) {
  if (number < 0 || number > 24) return std::nullopt;
  if (number == 0) return LevelFromText(text);
  // 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL.
  return static_cast<v1::Level>(v1::LEVEL_TRACE + (number - 1) / 4);
}

MappedExport MapExport(const ExportLogsServiceRequest& request, int64_t now_us) {
  MappedExport out;
  absl::flat_hash_map<std::string, size_t> device_index;
  for (int r = 0; r < request.resource_logs_size(); ++r) {
    const ResourceLogs& resource_logs = request.resource_logs(r);
    const ResourceInfo resource = MapResource(resource_logs);
    DeviceRecords* group = nullptr;
    for (int s = 0; s < resource_logs.scope_logs_size(); ++s) {
      const auto& scope_logs = resource_logs.scope_logs(s);
      const RecordContext context{&resource, scope_logs.scope().name(), now_us};
      for (int k = 0; k < scope_logs.log_records_size(); ++k) {
        ++out.total_records;
        MappedRecord mapped;
        mapped.where =
            absl::StrCat("resource_logs[", r, "].scope_logs[", s, "].log_records[", k, "]");
        if (std::optional<RejectedRecord> rejected =
                MapRecord(scope_logs.log_records(k), context, &mapped)) {
          out.rejected.push_back(*std::move(rejected));
          continue;
        }
        if (group == nullptr) {
          auto [it, inserted] = device_index.try_emplace(resource.device_id, out.devices.size());
          if (inserted) out.devices.emplace_back();
          group = &out.devices[it->second];
          // The latest resource naming the device describes it.
          group->device = resource.device;
        }
        group->records.push_back(std::move(mapped));
      }
    }
  }
  return out;
}

}  // namespace fieldlog::collector::otlp
