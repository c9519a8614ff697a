#include "collector/validation.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/limits.h"
#include "common/text.h"
#include "common/time_util.h"

namespace fieldlog::collector {
namespace {

// Whether a text field is acceptable: the common case, checked without
// building the field's name for a message.
bool TextOk(absl::string_view value, size_t max_bytes) {
  return value.size() <= max_bytes && !FindInvalidUtf8(value);
}

// Why a text field is unacceptable, or nullopt.
std::optional<EntryProblem> CheckText(absl::string_view value, absl::string_view what,
                                      size_t max_bytes) {
  if (value.size() > max_bytes) {
    return EntryProblem{"too_long",
                        absl::StrCat(what, " is ", value.size(), " bytes; at most ", max_bytes)};
  }
  if (std::optional<size_t> bad = FindInvalidUtf8(value)) {
    return EntryProblem{"invalid_utf8", absl::StrCat(what, " is not valid UTF-8 at byte ", *bad)};
  }
  return std::nullopt;
}

// `count`: how many attributes the entry or device has; `attributes`: the
// first kMaxAttributes of them (all, when the count is within the limit).
std::optional<EntryProblem> CheckAttributes(size_t count,
                                            std::span<const store::AttributeView> attributes) {
  const auto problem = [](std::string reason) {
    return EntryProblem{"invalid_attributes", std::move(reason)};
  };
  if (count > kMaxAttributes) {
    return problem(absl::StrCat("has ", count, " attributes; at most ", kMaxAttributes));
  }
  for (size_t i = 0; i < attributes.size(); ++i) {
    const store::AttributeView& a = attributes[i];
    if (a.key.empty()) return problem(absl::StrCat("attribute ", i, " has an empty key"));
    // Names for messages are built only for a field that fails.
    if (!TextOk(a.key, kMaxAttributeKeyBytes)) {
      return problem(std::move(
          CheckText(a.key, absl::StrCat("attribute ", i, " key"), kMaxAttributeKeyBytes)->reason));
    }
    if (HasControlCharacter(a.key)) {
      return problem(absl::StrCat("attribute ", i, " key holds a control character"));
    }
    // A value with no member set reads as an empty string, which passes.
    if (a.type == store::AttributeView::Type::kString &&
        !TextOk(a.string_value, kMaxAttributeValueBytes)) {
      return problem(
          std::move(CheckText(a.string_value, absl::StrCat("attribute '", a.key, "' value"),
                              kMaxAttributeValueBytes)
                        ->reason));
    }
  }
  return std::nullopt;
}

absl::Status ValidateBatchFields(uint64_t batch_id, size_t entry_count, absl::string_view user_id,
                                 absl::string_view session_id) {
  if (entry_count > kMaxEntriesPerBatch) {
    return absl::InvalidArgumentError(absl::StrCat("batch ", batch_id, " has ", entry_count,
                                                   " entries; at most ", kMaxEntriesPerBatch));
  }
  const std::string where = absl::StrCat("batch ", batch_id, " ");
  if (absl::Status s = ValidateId(user_id, where + "user_id", 0, kMaxUserIdBytes); !s.ok()) {
    return s;
  }
  return ValidateId(session_id, where + "session_id", 0, kMaxSessionIdBytes);
}

}  // namespace

absl::Status ValidateId(absl::string_view value, absl::string_view what, size_t min_bytes,
                        size_t max_bytes) {
  if (value.size() < min_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  }
  if (auto problem = CheckText(value, what, max_bytes)) {
    return absl::InvalidArgumentError(problem->reason);
  }
  if (HasControlCharacter(value)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " holds a control character"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDevice(const v1::Device& device) {
  if (absl::Status s = ValidateId(device.device_id(), "device.device_id", 1, kMaxDeviceIdBytes);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateId(device.user_id(), "device.user_id", 0, kMaxUserIdBytes);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateId(device.session_id(), "device.session_id", 0, kMaxSessionIdBytes);
      !s.ok()) {
    return s;
  }
  std::vector<store::AttributeView> attributes;
  const int kept = std::min(device.attributes_size(), static_cast<int>(kMaxAttributes));
  for (int i = 0; i < kept; ++i) {
    attributes.push_back(store::AttributeFromProto(device.attributes(i)));
  }
  if (auto problem = CheckAttributes(device.attributes_size(), attributes)) {
    return absl::InvalidArgumentError(absl::StrCat("device ", problem->reason));
  }
  return absl::OkStatus();
}

absl::Status ValidateBatch(const WireBatch& batch) {
  return ValidateBatchFields(batch.batch_id, batch.entry_count, batch.user_id, batch.session_id);
}

absl::Status ValidateBatch(const v1::Batch& batch) {
  return ValidateBatchFields(batch.batch_id(), static_cast<size_t>(batch.entries_size()),
                             batch.user_id(), batch.session_id());
}

std::optional<EntryProblem> ValidateEntry(const WireEntry& entry,
                                          std::span<const store::AttributeView> attributes,
                                          int64_t corrected_time_us, int64_t now_us) {
  if (entry.seq == 0) return EntryProblem{"invalid_seq", "seq is 0; sequence numbers start at 1"};
  if (entry.seq >= kMaxSeq) {
    return EntryProblem{"invalid_seq", absl::StrCat("seq ", entry.seq, " is too large")};
  }
  if (entry.time_unix_micros <= 0) {
    return EntryProblem{"invalid_time", "time_unix_micros is not set"};
  }
  const absl::Time corrected = FromUnixMicros(corrected_time_us);
  const absl::Time now = FromUnixMicros(now_us);
  if (corrected > now + kMaxEntryFuture) {
    return EntryProblem{
        "time_in_future",
        absl::StrCat("time ", FormatRfc3339(corrected_time_us), " is ",
                     absl::FormatDuration(absl::Trunc(corrected - now, absl::Seconds(1))),
                     " in the future of the server clock")};
  }
  if (corrected < now - kMaxEntryAge) {
    return EntryProblem{"too_old",
                        absl::StrCat("time ", FormatRfc3339(corrected_time_us), " is older than ",
                                     absl::FormatDuration(kMaxEntryAge))};
  }
  if (!v1::Level_IsValid(entry.level)) {
    return EntryProblem{"invalid_level",
                        absl::StrCat("level ", entry.level, " is not a known level")};
  }
  if (!v1::EntryKind_IsValid(entry.kind)) {
    return EntryProblem{"invalid_kind",
                        absl::StrCat("kind ", entry.kind, " is not a known entry kind")};
  }
  if (auto r = CheckText(entry.tag, "tag", kMaxTagBytes)) return r;
  if (auto r = CheckText(entry.message, "message", kMaxMessageBytes)) return r;
  if (auto r = CheckText(entry.file, "file", kMaxFileBytes)) return r;
  if (auto r = CheckText(entry.function, "function", kMaxFunctionBytes)) return r;
  if (auto r = CheckAttributes(entry.attribute_count, attributes)) return r;
  return std::nullopt;
}

std::optional<EntryProblem> ValidateEntry(const v1::Entry& entry, int64_t corrected_time_us,
                                          int64_t now_us) {
  // Reused: the OTLP path checks every record this way.
  thread_local std::vector<store::AttributeView> attributes;
  attributes.clear();
  const WireEntry wire = EntryFromProto(entry, &attributes);
  return ValidateEntry(wire, attributes, corrected_time_us, now_us);
}

}  // namespace fieldlog::collector
