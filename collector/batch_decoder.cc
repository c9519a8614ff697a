#include "collector/batch_decoder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "collector/validation.h"

namespace fieldlog::collector {

void DecodeBatch(const WireBatch& batch, int64_t now_us, std::optional<int64_t> offset_estimate_us,
                 DecodedBatch* out) {
  // Reserved up front: entries hold spans into it, so it must not reallocate.
  // The batch's attributes are at least as many as the views keep (repeated
  // keys and rejected entries keep fewer).
  out->attributes.clear();
  out->attributes.reserve(batch.attributes.size());
  out->entries.clear();
  out->entries.reserve(batch.entries.size());
  out->rejected.clear();
  out->rejected_codes.clear();

  for (size_t i = 0; i < batch.entries.size(); ++i) {
    const WireEntry& entry = batch.entries[i];
    const std::span<const store::AttributeView> attributes = batch.AttributesOf(entry);
    const int64_t estimated_time = entry.time_unix_micros + offset_estimate_us.value_or(0);
    if (std::optional<EntryProblem> problem =
            ValidateEntry(entry, attributes, estimated_time, now_us)) {
      v1::Rejection& rejection = out->rejected.emplace_back();
      rejection.set_index(static_cast<uint32_t>(i));
      rejection.set_seq(entry.seq);
      rejection.set_reason(absl::StrCat("entry ", i, " (seq ", entry.seq, "): ", problem->reason));
      out->rejected_codes.push_back(problem->code);
      continue;
    }
    store::EntryView view;
    view.seq = entry.seq;
    view.device_time_us = entry.time_unix_micros;
    view.receive_time_us = now_us;
    view.level =
        entry.level == v1::LEVEL_UNSPECIFIED ? v1::LEVEL_INFO : static_cast<v1::Level>(entry.level);
    view.kind = static_cast<v1::EntryKind>(entry.kind);
    view.tag = entry.tag;
    view.message = entry.message;
    view.file = entry.file;
    view.line = entry.line;
    view.function = entry.function;
    view.user_id = batch.user_id;
    view.session_id = batch.session_id;
    const size_t first_attribute = out->attributes.size();
    for (const store::AttributeView& a : attributes) {
      // A repeated key replaces the earlier value.
      auto begin = out->attributes.begin() + static_cast<std::ptrdiff_t>(first_attribute);
      auto same = std::find_if(begin, out->attributes.end(),
                               [&](const store::AttributeView& v) { return v.key == a.key; });
      if (same != out->attributes.end()) {
        *same = a;
      } else {
        out->attributes.push_back(a);
      }
    }
    view.attributes = std::span<const store::AttributeView>(
        out->attributes.data() + first_attribute, out->attributes.size() - first_attribute);
    out->entries.push_back(view);
  }
}

void DecodeBatch(const v1::Batch& batch, int64_t now_us, std::optional<int64_t> offset_estimate_us,
                 DecodedBatch* out) {
  thread_local WireBatch wire;
  BatchFromProto(batch, &wire);
  DecodeBatch(wire, now_us, offset_estimate_us, out);
}

}  // namespace fieldlog::collector
