#include "store/retention.h"

#include <limits>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "store/block.h"
#include "store/block_times.h"
#include "store/coding.h"
#include "store/keys.h"
#include "store/records.pb.h"

namespace fieldlog::store {
namespace {

// Decides on one value from the time it carries. `time_of` returns false for
// a value it cannot read; such values are kept (never delete what we do not
// understand).
class ExpiryFilter final : public rocksdb::CompactionFilter {
 public:
  using TimeOf = bool (*)(const rocksdb::Slice& key, const rocksdb::Slice& value, int64_t* time_us);

  ExpiryFilter(const Retention* retention, const char* name, TimeOf time_of)
      : retention_(retention), name_(name), time_of_(time_of) {}

  bool Filter(int /*level*/, const rocksdb::Slice& key, const rocksdb::Slice& value,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    if (key.size() < 4) return false;
    const AppId app = DecodeFixed32BE(key.data());
    const int64_t cutoff = retention_->CutoffMicros(app, absl::ToUnixMicros(absl::Now()));
    if (cutoff == INT64_MIN) return false;
    int64_t time_us;
    return time_of_(key, value, &time_us) && time_us < cutoff;
  }

  const char* Name() const override { return name_; }

 private:
  const Retention* const retention_;
  const char* const name_;
  const TimeOf time_of_;
};

// The blocks' filter: drops expired blocks like ExpiryFilter, and settles
// the blocks it keeps.
class BlockFilter final : public rocksdb::CompactionFilter {
 public:
  BlockFilter(const Retention* retention, std::unique_ptr<ExpiryFilter> expiry,
              int settle_zstd_level)
      : retention_(retention), expiry_(std::move(expiry)), settle_zstd_level_(settle_zstd_level) {}

  bool Filter(int level, const rocksdb::Slice& key, const rocksdb::Slice& value,
              std::string* new_value, bool* value_changed) const override {
    if (expiry_->Filter(level, key, value, new_value, value_changed)) return true;
    if (settle_zstd_level_ == 0) return false;
    // The block's app's newest dictionary, if it has one.
    std::shared_ptr<const CompressionDictionary> dictionary;
    const Dictionaries* dictionaries = retention_->dictionaries();
    if (dictionaries != nullptr) {
      if (std::optional<ParsedBlockKey> parsed =
              ParseBlockKey(absl::string_view(key.data(), key.size()))) {
        dictionary = dictionaries->Newest(parsed->app);
      }
    }
    if (SettleBlock(absl::string_view(value.data(), value.size()), settle_zstd_level_,
                    dictionary.get(), dictionaries, new_value)) {
      *value_changed = true;
    }
    return false;
  }

  // The expiry filter's name: the one RocksDB has recorded for these files.
  const char* Name() const override { return expiry_->Name(); }

 private:
  const Retention* const retention_;
  const std::unique_ptr<ExpiryFilter> expiry_;
  const int settle_zstd_level_;
};

bool BlockTime(const rocksdb::Slice& /*key*/, const rocksdb::Slice& value, int64_t* time_us) {
  absl::StatusOr<int64_t> t =
      BlockReader::PeekMaxTime(absl::string_view(value.data(), value.size()));
  if (!t.ok()) return false;
  *time_us = *t;
  return true;
}

bool MetaTime(const rocksdb::Slice& /*key*/, const rocksdb::Slice& value, int64_t* time_us) {
  BlockMeta meta;
  if (!meta.ParseFromArray(value.data(), static_cast<int>(value.size()))) return false;
  *time_us = meta.max_time_unix_micros();
  return true;
}

bool DeviceTime(const rocksdb::Slice& /*key*/, const rocksdb::Slice& value, int64_t* time_us) {
  DeviceRecord record;
  if (!record.ParseFromArray(value.data(), static_cast<int>(value.size()))) return false;
  *time_us = record.last_seen_unix_micros();
  return true;
}

bool UserTime(const rocksdb::Slice& /*key*/, const rocksdb::Slice& value, int64_t* time_us) {
  UserDeviceRecord record;
  if (!record.ParseFromArray(value.data(), static_cast<int>(value.size()))) return false;
  *time_us = record.last_seen_unix_micros();
  return true;
}

bool IssueTime(const rocksdb::Slice& key, const rocksdb::Slice& /*value*/, int64_t* time_us) {
  std::optional<ParsedTimeKey> parsed = ParseTimeKey(absl::string_view(key.data(), key.size()));
  if (!parsed) return false;
  *time_us = parsed->time_us;
  return true;
}

// The last microsecond of the key's slot: a block kept for a line late in
// the slot keeps its key.
bool BlockTimesTime(const rocksdb::Slice& key, const rocksdb::Slice& /*value*/, int64_t* time_us) {
  std::optional<ParsedBlockTimeKey> parsed =
      ParseBlockTimeKey(absl::string_view(key.data(), key.size()));
  if (!parsed) return false;
  const int64_t width = SlotWidth(parsed->level);
  *time_us = parsed->slot_us > std::numeric_limits<int64_t>::max() - width
                 ? std::numeric_limits<int64_t>::max()
                 : parsed->slot_us + width - 1;
  return true;
}

}  // namespace

Retention::~Retention() = default;

Retention::Retention(uint32_t default_days, int settle_zstd_level) : default_days_(default_days) {
  block_filter_ = std::make_unique<BlockFilter>(
      this, std::make_unique<ExpiryFilter>(this, "fieldlog.ExpiredBlocks", &BlockTime),
      settle_zstd_level);
  meta_filter_ = std::make_unique<ExpiryFilter>(this, "fieldlog.ExpiredBlockMeta", &MetaTime);
  device_filter_ = std::make_unique<ExpiryFilter>(this, "fieldlog.ExpiredDevices", &DeviceTime);
  user_filter_ = std::make_unique<ExpiryFilter>(this, "fieldlog.ExpiredUsers", &UserTime);
  issue_filter_ = std::make_unique<ExpiryFilter>(this, "fieldlog.ExpiredIssues", &IssueTime);
  block_times_filter_ =
      std::make_unique<ExpiryFilter>(this, "fieldlog.ExpiredBlockTimes", &BlockTimesTime);
}

int64_t Retention::CutoffMicros(AppId app, int64_t now_us) const {
  const Catalog* catalog = catalog_.load();
  if (catalog == nullptr) return INT64_MIN;
  uint32_t days = default_days_;
  if (std::optional<AppRecord> record = catalog->FindApp(app);
      record && record->retention_days() > 0) {
    days = record->retention_days();
  }
  if (days == 0) return INT64_MIN;
  return now_us - int64_t{days} * 24 * 3600 * 1'000'000;
}

}  // namespace fieldlog::store
