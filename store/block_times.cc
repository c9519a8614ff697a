#include "store/block_times.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <memory>
#include <string>

#include "store/block.h"
#include "store/store.h"
#include "store/time_buckets.h"

namespace fieldlog::store {
namespace {

// Keys of one write batch while a store is indexed.
constexpr size_t kIndexBatchKeys = 10'000;

// Hours indexed at most for a block whose payload cannot be read: ten years.
constexpr size_t kMaxHoursOfUnreadableBlock = 10 * 366 * 24;

// A block gets hour keys while they are at most one per this many lines...
constexpr uint64_t kLinesPerHourKey = 4;
// ...and at most this many per day it has lines in.
constexpr size_t kHourKeysPerDay = 6;

// Sorts `slots` and keeps each once.
void SortUnique(std::vector<int64_t>* slots) {
  std::sort(slots->begin(), slots->end());
  slots->erase(std::unique(slots->begin(), slots->end()), slots->end());
}

}  // namespace

int64_t SlotWidth(char level) { return level == kDayLevel ? kDayMicros : kHourMicros; }

int64_t SlotOf(int64_t time_us, int64_t width_us) {
  // The lowest slot that can be written without overflow; earlier times
  // share it (the mapping only has to keep times in order).
  const int64_t lowest = std::numeric_limits<int64_t>::min() / width_us * width_us;
  if (time_us < lowest) return lowest;
  int64_t slot = time_us / width_us;
  if (time_us % width_us < 0) --slot;  // round down, not toward zero
  return slot * width_us;
}

int64_t PartWidth(char level) { return level == kDayLevel ? kHourMicros : kPartMicros; }

uint32_t AllParts(char level) {
  return (uint32_t{1} << (SlotWidth(level) / PartWidth(level))) - 1;
}

std::vector<BlockTimeSlot> ChooseBlockTimeSlots(const std::vector<int64_t>& parts,
                                                uint64_t lines) {
  // The hours and the days, each with its parts (parts are in order).
  std::vector<BlockTimeSlot> hours, days;
  for (int64_t part : parts) {
    const int64_t hour = SlotOf(part, kHourMicros);
    if (hours.empty() || hours.back().slot_us != hour) hours.push_back({kHourLevel, hour, 0});
    hours.back().parts |= uint32_t{1} << ((part - hour) / kPartMicros);
    const int64_t day = SlotOf(part, kDayMicros);
    if (days.empty() || days.back().slot_us != day) days.push_back({kDayLevel, day, 0});
    days.back().parts |= uint32_t{1} << ((hour - day) / kHourMicros);
  }
  if (hours.size() <= std::max<uint64_t>(1, lines / kLinesPerHourKey) &&
      hours.size() <= kHourKeysPerDay * days.size()) {
    return hours;
  }
  return days;
}

std::string EncodeParts(char level, uint32_t parts) {
  std::string value{static_cast<char>(parts & 0xFF), static_cast<char>(parts >> 8 & 0xFF)};
  if (level == kDayLevel) value.push_back(static_cast<char>(parts >> 16 & 0xFF));
  return value;
}

uint32_t DecodeParts(char level, absl::string_view value) {
  if (value.size() != (level == kDayLevel ? 3u : 2u)) return AllParts(level);
  uint32_t parts = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    parts |= static_cast<uint32_t>(static_cast<uint8_t>(value[i])) << (8 * i);
  }
  return parts & AllParts(level);
}

uint32_t PartsTouched(char level, int64_t slot_us, int64_t from_us, int64_t to_us) {
  const int64_t width = PartWidth(level);
  const int count = static_cast<int>(SlotWidth(level) / width);
  // [part, part + width) meets [from, to) when part is in (from - width, to).
  const int64_t after = from_us < std::numeric_limits<int64_t>::min() + width
                            ? std::numeric_limits<int64_t>::min()
                            : from_us - width;
  uint32_t touched = 0;
  for (int p = 0; p < count; ++p) {
    if (slot_us > std::numeric_limits<int64_t>::max() - p * width) break;
    const int64_t part = slot_us + p * width;
    if (part > after && part < to_us) touched |= uint32_t{1} << p;
  }
  return touched;
}

bool HoursOfMeta(const BlockMeta& meta, size_t limit, std::vector<int64_t>* hours) {
  hours->clear();
  const int64_t min_us = meta.min_time_unix_micros(), max_us = meta.max_time_unix_micros();
  if (max_us < min_us) return true;
  // Each range of times that may hold lines, in order, inclusive: a bucket
  // holding lines, or [min, max] for a meta without buckets.
  const auto add_range = [&](int64_t from_us, int64_t to_us) {
    const int64_t last = SlotOf(to_us, kHourMicros);
    for (int64_t hour = SlotOf(from_us, kHourMicros);; hour += kHourMicros) {
      if (hours->empty() || hours->back() < hour) {
        if (hours->size() == limit) return false;
        hours->push_back(hour);
      }
      if (hour >= last) return true;
    }
  };
  const uint64_t buckets = meta.time_buckets();
  if (buckets == 0) return add_range(min_us, max_us);
  // Unsigned, as time_buckets.h computes the buckets.
  const uint64_t width =
      (static_cast<uint64_t>(max_us) - static_cast<uint64_t>(min_us)) / kTimeBuckets + 1;
  for (int b = 0; b < kTimeBuckets; ++b) {
    if ((buckets >> b & 1) == 0) continue;
    const uint64_t from = static_cast<uint64_t>(min_us) + b * width;
    const uint64_t room = static_cast<uint64_t>(max_us) - from;
    const uint64_t to = room < width ? static_cast<uint64_t>(max_us) : from + width - 1;
    if (!add_range(static_cast<int64_t>(from), static_cast<int64_t>(to))) return false;
  }
  return true;
}

void BlockTimesUpdate::AddKeys(uint64_t first_seq, std::vector<int64_t>* parts, uint64_t lines,
                               std::vector<Key>* out) {
  SortUnique(parts);
  for (const BlockTimeSlot& slot : ChooseBlockTimeSlots(*parts, lines)) {
    out->emplace_back(first_seq, slot);
  }
}

void BlockTimesUpdate::AddPart(int64_t time_us) {
  const int64_t part = SlotOf(time_us, kPartMicros);
  // A block's times mostly rise: most rows repeat the part before.
  if (parts_.empty() || parts_.back() != part) parts_.push_back(part);
}

void BlockTimesUpdate::Remove(uint64_t first_seq, const BlockReader& block) {
  parts_.clear();
  for (size_t row = 0; row < block.size(); ++row) AddPart(block.time_us(row));
  AddKeys(first_seq, &parts_, block.size(), &removed_);
}

void BlockTimesUpdate::Add(uint64_t first_seq, std::span<const int64_t> times_us) {
  parts_.clear();
  for (int64_t time_us : times_us) AddPart(time_us);
  AddKeys(first_seq, &parts_, times_us.size(), &added_);
}

void BlockTimesUpdate::WriteTo(AppId app, absl::string_view device_id,
                               rocksdb::ColumnFamilyHandle* family, rocksdb::WriteBatch* batch) {
  for (std::vector<Key>* keys : {&removed_, &added_}) {
    std::sort(keys->begin(), keys->end());
    keys->erase(std::unique(keys->begin(), keys->end()), keys->end());
  }
  // A key whose value changes (its parts) is in both: deleted, then put
  // again, and in a WriteBatch the later write of a key wins.
  std::vector<Key> changed;
  std::set_difference(removed_.begin(), removed_.end(), added_.begin(), added_.end(),
                      std::back_inserter(changed));
  for (const auto& [first_seq, slot] : changed) {
    batch->Delete(family, BlockTimeKey(app, slot.level, slot.slot_us, device_id, first_seq));
  }
  changed.clear();
  std::set_difference(added_.begin(), added_.end(), removed_.begin(), removed_.end(),
                      std::back_inserter(changed));
  for (const auto& [first_seq, slot] : changed) {
    batch->Put(family, BlockTimeKey(app, slot.level, slot.slot_us, device_id, first_seq),
               EncodeParts(slot.level, slot.parts));
  }
  removed_.clear();
  added_.clear();
}

absl::Status IndexBlockTimes(const Store& store) {
  rocksdb::DB* db = store.db();
  rocksdb::ColumnFamilyHandle* apps = store.family(Family::kApps);
  rocksdb::ColumnFamilyHandle* times_family = store.family(Family::kBlockTimes);
  std::string marker;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), apps, kBlockTimesIndexedKey, &marker);
  if (s.ok()) return absl::OkStatus();
  if (!s.IsNotFound()) return FromRocksStatus(s, "reading the block index's state");

  BlockReadOptions read_options;
  read_options.dictionaries = &store.dictionaries();
  rocksdb::WriteBatch batch;
  size_t keys = 0;
  std::vector<int64_t> hours, parts;
  const auto every_part_of = [&parts](const std::vector<int64_t>& of_hours) {
    for (int64_t hour : of_hours) {
      for (int64_t part = hour; part < hour + kHourMicros; part += kPartMicros) {
        parts.push_back(part);
      }
    }
  };
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions(), store.family(Family::kBlockMeta)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    std::optional<ParsedBlockKey> parsed = ParseBlockKey(key);
    BlockMeta meta;
    // What cannot be read is not indexed; queries report it where they did.
    if (!parsed || !meta.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      continue;
    }
    // The parts of the hours the meta's buckets give (every part of each),
    // or, when those are more hours than lines, the parts of its lines.
    parts.clear();
    if (HoursOfMeta(meta, std::max<uint64_t>(meta.count(), 1), &hours)) {
      every_part_of(hours);
    } else {
      std::string payload;
      absl::StatusOr<BlockReader> block =
          db->Get(rocksdb::ReadOptions(), store.family(Family::kBlocks), it->key(), &payload).ok()
              ? BlockReader::Open(payload, read_options)
              : absl::NotFoundError("");
      if (block.ok()) {
        for (size_t row = 0; row < block->size(); ++row) {
          parts.push_back(SlotOf(block->time_us(row), kPartMicros));
        }
        SortUnique(&parts);
      } else {
        // Unreadable: indexed from the meta all the same, so that queries
        // meet the block and report it. The collector keeps times within
        // days of its clock; the bound is for a store written otherwise.
        (void)HoursOfMeta(meta, kMaxHoursOfUnreadableBlock, &hours);
        every_part_of(hours);
      }
    }
    const std::vector<BlockTimeSlot> chosen = ChooseBlockTimeSlots(parts, meta.count());
    for (const BlockTimeSlot& slot : chosen) {
      batch.Put(times_family,
                BlockTimeKey(parsed->app, slot.level, slot.slot_us, parsed->device_id,
                             parsed->first_seq),
                EncodeParts(slot.level, slot.parts));
    }
    if ((keys += chosen.size()) >= kIndexBatchKeys) {
      if (s = db->Write(rocksdb::WriteOptions(), &batch); !s.ok()) {
        return FromRocksStatus(s, "indexing the blocks by time");
      }
      batch.Clear();
      keys = 0;
    }
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "indexing the blocks by time");
  // Last, with the last keys: a store indexed halfway is indexed again.
  batch.Put(apps, kBlockTimesIndexedKey, "1");
  rocksdb::WriteOptions sync;
  sync.sync = true;
  return FromRocksStatus(db->Write(sync, &batch), "indexing the blocks by time");
}

}  // namespace fieldlog::store
