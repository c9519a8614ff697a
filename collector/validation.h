// Validation of everything a client sends, against common/limits.h.
//
// Batch-level problems (a bad device id, too many entries) fail the whole
// request with INVALID_ARGUMENT; entry-level problems reject just that entry
// with a reason, and the rest of the batch is stored. Every message says what
// is wrong and where, e.g. "entry 3 (seq 17): message is not valid UTF-8 at
// byte 12".
#ifndef FIELDLOG_COLLECTOR_VALIDATION_H_
#define FIELDLOG_COLLECTOR_VALIDATION_H_

#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "collector/wire_batch.h"
#include "fieldlog/v1/ingest.pb.h"

namespace fieldlog::collector {

// Checks an id-like field: UTF-8, no control characters, length within
// [min_bytes, max_bytes]. `what` names the field in the message.
absl::Status ValidateId(absl::string_view value, absl::string_view what, size_t min_bytes,
                        size_t max_bytes);

// The device part of a Hello or PushRequest.
absl::Status ValidateDevice(const v1::Device& device);

// Batch-wide fields: entry count, user and session ids.
absl::Status ValidateBatch(const WireBatch& batch);
absl::Status ValidateBatch(const v1::Batch& batch);

// Why an entry is refused: a short code for metrics (invalid_seq,
// invalid_time, time_in_future, too_old, invalid_level, invalid_kind,
// too_long, invalid_utf8, invalid_attributes) and the words for the client.
struct EntryProblem {
  const char* code;
  std::string reason;
};

// One entry, with the attributes its batch kept for it
// (WireBatch::AttributesOf). `corrected_time_us` is its time after clock
// correction and `now_us` the server clock. nullopt when the entry is fine.
std::optional<EntryProblem> ValidateEntry(const WireEntry& entry,
                                          std::span<const store::AttributeView> attributes,
                                          int64_t corrected_time_us, int64_t now_us);
// The same for an entry of a parsed message.
std::optional<EntryProblem> ValidateEntry(const v1::Entry& entry, int64_t corrected_time_us,
                                          int64_t now_us);

}  // namespace fieldlog::collector

#endif  // FIELDLOG_COLLECTOR_VALIDATION_H_
