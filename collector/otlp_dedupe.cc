#include "collector/otlp_dedupe.h"

#include <cstring>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "store/coding.h"
#include "store/reader.h"

namespace fieldlog::collector::otlp {
namespace {

std::string Key(const store::EntryView& line) {
  std::string key;
  store::PutFixed64BE(&key, static_cast<uint64_t>(line.device_time_us));
  key.push_back(static_cast<char>(line.level));
  key.push_back(static_cast<char>(line.kind));
  store::PutVarint64(&key, line.line);
  for (absl::string_view text :
       {line.tag, line.message, line.file, line.function, line.user_id, line.session_id}) {
    store::PutLengthPrefixed(&key, text);
  }
  store::PutVarint64(&key, line.attributes.size());
  for (const store::AttributeView& a : line.attributes) {
    store::PutLengthPrefixed(&key, a.key);
    key.push_back(static_cast<char>(a.type));
    switch (a.type) {
      case store::AttributeView::Type::kString:
        store::PutLengthPrefixed(&key, a.string_value);
        break;
      case store::AttributeView::Type::kInt:
        store::PutFixed64BE(&key, static_cast<uint64_t>(a.int_value));
        break;
      case store::AttributeView::Type::kDouble: {
        // Bit for bit, as the block stores it.
        uint64_t bits;
        std::memcpy(&bits, &a.double_value, sizeof(bits));
        store::PutFixed64BE(&key, bits);
        break;
      }
      case store::AttributeView::Type::kBool:
        key.push_back(a.bool_value ? 1 : 0);
        break;
    }
  }
  return key;
}

}  // namespace

std::string LineKey(const store::EntryView& line) { return Key(line); }

std::string LineKey(const MappedRecord& record) {
  const v1::Entry& entry = record.entry;
  std::vector<store::AttributeView> attributes;
  attributes.reserve(entry.attributes_size());
  for (const v1::Attribute& a : entry.attributes()) {
    attributes.push_back(store::AttributeFromProto(a));
  }
  store::EntryView view;
  view.device_time_us = entry.time_unix_micros();
  // As the collector stores it (collector/batch_decoder.cc).
  view.level = entry.level() == v1::LEVEL_UNSPECIFIED ? v1::LEVEL_INFO : entry.level();
  view.kind = entry.kind();
  view.tag = entry.tag();
  view.message = entry.message();
  view.file = entry.file();
  view.line = entry.line();
  view.function = entry.function();
  view.user_id = record.user_id;
  view.session_id = record.session_id;
  view.attributes = attributes;
  return Key(view);
}

absl::StatusOr<std::vector<bool>> FindStored(const store::Store& store, store::AppId app,
                                             absl::string_view device_id, uint64_t watermark,
                                             std::span<const MappedRecord> records) {
  std::vector<bool> stored(records.size(), false);
  if (watermark == 0 || records.empty()) return stored;
  int64_t min_time = std::numeric_limits<int64_t>::max();
  int64_t max_time = std::numeric_limits<int64_t>::min();
  for (const MappedRecord& r : records) {
    min_time = std::min(min_time, r.entry.time_unix_micros());
    max_time = std::max(max_time, r.entry.time_unix_micros());
  }

  store::Reader reader(store);
  const uint64_t after = watermark > kRetryWindowLines ? watermark - kRetryWindowLines : 0;
  absl::StatusOr<std::vector<store::BlockRef>> blocks =
      reader.ListBlocksAfter(app, device_id, after);
  if (!blocks.ok()) return blocks.status();
  // How many stored lines of the export's time range have each key.
  absl::flat_hash_map<std::string, uint32_t> counts;
  std::vector<store::AttributeView> attributes;
  for (const store::BlockRef& block : *blocks) {
    // OTLP lines get no clock correction (OTLP carries no send time), so a
    // block's corrected time range is its lines' device time range.
    if (block.meta.max_time_unix_micros() < min_time ||
        block.meta.min_time_unix_micros() > max_time) {
      continue;
    }
    absl::StatusOr<store::BlockReader> lines = reader.ReadBlock(app, device_id, block.first_seq);
    if (absl::IsDataLoss(lines.status())) {
      // A corrupt block cannot be compared with; failing here would refuse
      // every export of the device for good. At worst a retry of lines in it
      // is stored again.
      continue;
    }
    if (!lines.ok()) return lines.status();
    for (size_t row = 0; row < lines->size(); ++row) {
      const int64_t time = lines->device_time_us(row);
      if (time < min_time || time > max_time) continue;
      ++counts[Key(lines->Row(row, &attributes))];
    }
  }
  if (counts.empty()) return stored;
  for (size_t i = 0; i < records.size(); ++i) {
    auto it = counts.find(LineKey(records[i]));
    if (it != counts.end() && it->second > 0) {
      --it->second;
      stored[i] = true;
    }
  }
  return stored;
}

}  // namespace fieldlog::collector::otlp
