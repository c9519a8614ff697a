// OTLP to fieldlog: turns an ExportLogsServiceRequest into fieldlog devices and
// entries, record by record, as docs/otlp.md lays out:
//
//   device   resource `app.installation.id`, else `device.id`; without either,
//            "otel:" + `service.instance.id`, else "otel:" + `service.name`
//            ("otel:unknown_service" without one)
//   user     `user.id`, else `enduser.id` (a record attribute overrides the
//            resource's); session: `session.id` likewise
//   app version  resource `service.version`, as the device attribute and the
//            line attribute `app.version` (what support filters on)
//   level    severity_number's range (TRACE 1-4 ... FATAL 21-24); 0 reads
//            severity_text ("warn", "Error", ...), else INFO
//   message  a string body as it is; any other body as JSON
//   time     time_unix_nano, else observed_time_unix_nano, else the receive
//            time (microseconds: the store's unit)
//   tag      the instrumentation scope's name (the logger)
//   file, line, function  from `code.file.path` / `code.filepath`,
//            `code.line.number` / `code.lineno`, `code.function.name` /
//            `code.function`
//   attributes  kept with their types (string, int, double, bool); bytes as
//            base64, arrays and maps as JSON text; plus event.name, trace_id,
//            span_id and, when they say more than the level, otel.severity_text
//            and otel.severity_number
//
// Text too long for common/limits.h is cut on a character boundary with a
// visible " …[cut N bytes]" marker, as the agent does. An attribute fieldlog
// cannot keep (empty, too long or malformed key, a malformed value, past the
// 64th) is dropped and counted in `otel.dropped_attributes_count`. A record
// is rejected, with a reason, only when it cannot be stored at all: a bad
// device, user or session id, a body that is not UTF-8, a severity outside
// 0-24, a time outside the window the collector accepts.
//
// Pure: no I/O, no clock (the caller passes the receive time).
#ifndef FIELDLOG_COLLECTOR_OTLP_MAPPING_H_
#define FIELDLOG_COLLECTOR_OTLP_MAPPING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "fieldlog/v1/ingest.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"

namespace fieldlog::collector::otlp {

// A log record that became a valid fieldlog entry (seq not yet assigned).
struct MappedRecord {
  // "resource_logs[i].scope_logs[j].log_records[k]", for messages.
  std::string where;
  v1::Entry entry;
  std::string user_id;
  std::string session_id;
};

// The records of one device, in the order the export carried them.
struct DeviceRecords {
  // device_id, and the attributes of the (last) resource that named it.
  v1::Device device;
  std::vector<MappedRecord> records;
};

struct RejectedRecord {
  std::string where;
  // A code for the rejected-lines metric (collector/validation.h's codes,
  // plus invalid_device, invalid_user, invalid_session, invalid_severity).
  const char* code;
  std::string reason;
};

struct MappedExport {
  // One per distinct device, in order of first appearance.
  std::vector<DeviceRecords> devices;
  std::vector<RejectedRecord> rejected;
  size_t total_records = 0;
};

// `now_us`: the server clock on arrival, for records without a time and for
// the time window check.
MappedExport MapExport(
    const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest& request,
    int64_t now_us);

// The fieldlog level for an OTLP severity (number 1-24, or 0 and the text);
// nullopt for a number outside 0-24.
std::optional<v1::Level> LevelFromSeverity(int number, absl::string_view text);

}  // namespace fieldlog::collector::otlp

#endif  // FIELDLOG_COLLECTOR_OTLP_MAPPING_H_
