#include "store/reader.h"

#include <algorithm>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "store/block_times.h"
#include "store/coding.h"
#include "store/time_buckets.h"

namespace fieldlog::store {

Reader::Reader(const Store& store) : store_(store), snapshot_(store.db()->GetSnapshot()) {
  options_.snapshot = snapshot_;
}

Reader::~Reader() { store_.db()->ReleaseSnapshot(snapshot_); }

absl::StatusOr<std::optional<DeviceRecord>> Reader::GetDevice(AppId app,
                                                              absl::string_view device_id) {
  std::string value;
  rocksdb::Status s = store_.db()->Get(options_, store_.family(Family::kDevices),
                                       DeviceKey(app, device_id), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocksStatus(s, "reading a device record");
  DeviceRecord record;
  if (!record.ParseFromString(value)) {
    return absl::DataLossError(absl::StrCat("corrupt device record for ", device_id));
  }
  return record;
}

namespace {

// An iterator over the keys of one family that start with `prefix`: both
// bounds are set, so RocksDB stops at the prefix's end by itself. It owns
// the bounds, which RocksDB needs for the iterator's life.
class PrefixIterator {
 public:
  PrefixIterator(const Store& store, rocksdb::ReadOptions options, Family family,
                 std::string prefix)
      : lower_(std::move(prefix)),
        upper_(PrefixSuccessor(lower_)),
        lower_slice_(lower_),
        upper_slice_(upper_) {
    options.iterate_lower_bound = &lower_slice_;
    if (!upper_.empty()) options.iterate_upper_bound = &upper_slice_;
    it_.reset(store.db()->NewIterator(options, store.family(family)));
  }
  PrefixIterator(const PrefixIterator&) = delete;
  PrefixIterator& operator=(const PrefixIterator&) = delete;

  rocksdb::Iterator* operator->() const { return it_.get(); }

 private:
  const std::string lower_, upper_;
  const rocksdb::Slice lower_slice_, upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace

absl::Status Reader::ScanPrefix(
    Family family, const std::string& prefix, absl::string_view what,
    const std::function<absl::Status(absl::string_view key, absl::string_view value)>& visit) {
  PrefixIterator it(store_, options_, family, prefix);
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    absl::Status status = visit(absl::string_view(it->key().data(), it->key().size()),
                                absl::string_view(it->value().data(), it->value().size()));
    if (!status.ok()) return status;
  }
  return FromRocksStatus(it->status(), what);
}

absl::StatusOr<std::vector<UserDevice>> Reader::ListUserDevices(AppId app,
                                                                absl::string_view user_id) {
  std::vector<UserDevice> devices;
  absl::Status status =
      ScanPrefix(Family::kUsers, UserPrefix(app, user_id), "listing a user's devices",
                 [&](absl::string_view key, absl::string_view value) {
                   std::optional<ParsedUserDeviceKey> parsed = ParseUserDeviceKey(key);
                   UserDevice& device = devices.emplace_back();
                   if (!parsed || !device.record.ParseFromArray(value.data(),
                                                                static_cast<int>(value.size()))) {
                     return absl::DataLossError("corrupt entry in the users index");
                   }
                   device.device_id = std::string(parsed->device_id);
                   return absl::OkStatus();
                 });
  if (!status.ok()) return status;
  return devices;
}

absl::StatusOr<std::vector<BlockRef>> Reader::ListBlocks(AppId app, absl::string_view device_id) {
  // A device whose id extends this one's cannot match: ids are length-prefixed,
  // so its keys differ inside the prefix.
  std::vector<BlockRef> blocks;
  absl::Status status = ScanPrefix(
      Family::kBlockMeta, DeviceKey(app, device_id), "listing a device's blocks",
      [&](absl::string_view key, absl::string_view value) {
        std::optional<ParsedBlockKey> parsed = ParseBlockKey(key);
        BlockRef& ref = blocks.emplace_back();
        if (!parsed || !ref.meta.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          return absl::DataLossError("corrupt block meta");
        }
        ref.first_seq = parsed->first_seq;
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return blocks;
}

absl::StatusOr<std::vector<BlockRef>> Reader::ListBlocksAfter(AppId app,
                                                              absl::string_view device_id,
                                                              uint64_t seq) {
  PrefixIterator it(store_, options_, Family::kBlockMeta, DeviceKey(app, device_id));
  std::vector<BlockRef> blocks;
  for (it->SeekToLast(); it->Valid(); it->Prev()) {
    std::optional<ParsedBlockKey> parsed =
        ParseBlockKey(absl::string_view(it->key().data(), it->key().size()));
    BlockRef ref;
    if (!parsed ||
        !ref.meta.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("corrupt block meta");
    }
    if (ref.meta.last_seq() <= seq) break;
    ref.first_seq = parsed->first_seq;
    blocks.push_back(std::move(ref));
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "listing new blocks");
  std::reverse(blocks.begin(), blocks.end());
  return blocks;
}

absl::StatusOr<BlockReader> Reader::ReadBlock(AppId app, absl::string_view device_id,
                                              uint64_t first_seq,
                                              const BlockReadOptions& options) const {
  rocksdb::PinnableSlice payload;
  rocksdb::Status s = store_.db()->Get(options_, store_.family(Family::kBlocks),
                                       BlockKey(app, device_id, first_seq), &payload);
  if (!s.ok()) return FromRocksStatus(s, "reading a block");
  BlockReadOptions with_dictionaries = options;
  with_dictionaries.dictionaries = &store_.dictionaries();
  return BlockReader::Open(absl::string_view(payload.data(), payload.size()), with_dictionaries);
}

namespace {

absl::Status BlockNotFound(const AppBlockRef& ref) {
  return absl::NotFoundError(
      absl::StrCat("block ", ref.block.first_seq, " of device ", ref.device_id, " not found"));
}

}  // namespace

absl::Status Reader::ReadBlocks(AppId app, std::span<const AppBlockRef> refs, BlockSpread spread,
                                const BlockReadOptions& options, const BlockVisitor& visit) {
  BlockReadOptions with_dictionaries = options;
  with_dictionaries.dictionaries = &store_.dictionaries();
  return spread == BlockSpread::kScattered
             ? ReadScatteredBlocks(app, refs, with_dictionaries, visit)
             : ReadNeighbourBlocks(app, refs, with_dictionaries, visit);
}

absl::Status Reader::ReadScatteredBlocks(AppId app, std::span<const AppBlockRef> refs,
                                         const BlockReadOptions& options,
                                         const BlockVisitor& visit) {
  // Keys a MultiGet: enough to share its per-call work, few blocks pinned.
  constexpr size_t kBatch = 32;
  std::vector<std::string> keys;
  std::vector<rocksdb::Slice> slices;
  std::vector<rocksdb::PinnableSlice> values(kBatch);
  std::vector<rocksdb::Status> statuses(kBatch);
  for (size_t first = 0; first < refs.size(); first += kBatch) {
    const std::span<const AppBlockRef> batch =
        refs.subspan(first, std::min(kBatch, refs.size() - first));
    keys.clear();
    slices.clear();
    for (const AppBlockRef& ref : batch) {
      keys.push_back(BlockKey(app, ref.device_id, ref.block.first_seq));
    }
    for (const std::string& key : keys) slices.emplace_back(key);
    store_.db()->MultiGet(options_, store_.family(Family::kBlocks), batch.size(), slices.data(),
                          values.data(), statuses.data());
    for (size_t j = 0; j < batch.size(); ++j) {
      absl::StatusOr<BlockReader> block =
          statuses[j].ok()
              ? BlockReader::Open(absl::string_view(values[j].data(), values[j].size()), options)
          : statuses[j].IsNotFound() ? BlockNotFound(batch[j])
                                     : FromRocksStatus(statuses[j], "reading blocks");
      absl::Status status = visit(first + j, std::move(block));
      values[j].Reset();  // unpinned once visited
      if (!status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadNeighbourBlocks(AppId app, std::span<const AppBlockRef> refs,
                                         const BlockReadOptions& options,
                                         const BlockVisitor& visit) {
  if (refs.empty()) return absl::OkStatus();
  PrefixIterator it(store_, options_, Family::kBlocks, AppPrefix(app));
  bool on_last_read = false;  // the iterator is at the block read last
  for (size_t i = 0; i < refs.size(); ++i) {
    const std::string key = BlockKey(app, refs[i].device_id, refs[i].block.first_seq);
    const rocksdb::Slice wanted(key);
    // Consecutive refs are mostly consecutive keys: one step forward finds
    // the next; a seek only after a gap.
    if (on_last_read) it->Next();
    if (!it->Valid() || it->key().compare(wanted) < 0) it->Seek(wanted);
    if (!it->status().ok()) return FromRocksStatus(it->status(), "reading blocks");
    on_last_read = it->Valid() && it->key() == wanted;
    absl::StatusOr<BlockReader> block =
        on_last_read
            ? BlockReader::Open(absl::string_view(it->value().data(), it->value().size()), options)
            : BlockNotFound(refs[i]);
    if (absl::Status s = visit(i, std::move(block)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DeviceUser>> Reader::ListDeviceUsers(AppId app,
                                                                absl::string_view device_id) {
  std::vector<DeviceUser> users;
  absl::Status status = ScanPrefix(
      Family::kDeviceUsers, DeviceKey(app, device_id), "listing a device's users",
      [&](absl::string_view key, absl::string_view value) {
        std::optional<ParsedDeviceUserKey> parsed = ParseDeviceUserKey(key);
        DeviceUser& user = users.emplace_back();
        if (!parsed || !user.record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          return absl::DataLossError("corrupt entry in the device-users index");
        }
        user.user_id = std::string(parsed->user_id);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return users;
}

absl::StatusOr<std::vector<UserSummary>> Reader::FindUsers(AppId app, absl::string_view prefix,
                                                           size_t limit) {
  std::vector<UserSummary> users;
  absl::Status stop_early = absl::CancelledError("enough users");
  absl::Status status = ScanPrefix(
      Family::kUsers, UserSearchPrefix(app, prefix), "finding users",
      [&](absl::string_view key, absl::string_view value) {
        std::optional<ParsedUserDeviceKey> parsed = ParseUserDeviceKey(key);
        UserDeviceRecord record;
        if (!parsed || !record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          return absl::DataLossError("corrupt entry in the users index");
        }
        if (parsed->user_id.empty()) return absl::OkStatus();  // lines with no user
        if (users.empty() || users.back().user_id != parsed->user_id) {
          if (users.size() == limit) return stop_early;
          users.emplace_back().user_id = std::string(parsed->user_id);
        }
        UserSummary& user = users.back();
        ++user.devices;
        user.lines += record.lines();
        if (user.first_seen_us == 0 || record.first_seen_unix_micros() < user.first_seen_us) {
          user.first_seen_us = record.first_seen_unix_micros();
        }
        user.last_seen_us = std::max(user.last_seen_us, record.last_seen_unix_micros());
        return absl::OkStatus();
      });
  if (!status.ok() && status != stop_early) return status;
  return users;
}

namespace {

// Whether a serialized BlockMeta may hold a line of [from_us, to_us), by its
// time fields (min_time 4, max_time 5, time_buckets 11) read off the
// protobuf wire format without parsing the message: an app-wide hour's
// question lists every meta of the app and keeps a few percent, and parsing
// each (users' strings included) was most of the listing. Fields come in
// number order, so most metas (whose [min, max] misses the range) are turned
// down once past field 5. True, too, when the bytes are not well-formed wire
// format (the caller's parse reports it).
bool MetaMayMeetRange(absl::string_view in, int64_t from_us, int64_t to_us) {
  int64_t min_us = 0, max_us = 0;
  bool times_known = false;
  while (!in.empty()) {
    uint64_t tag, value;
    if (!GetVarint64(&in, &tag)) return true;
    if (!times_known && tag >> 3 > 5) {
      times_known = true;
      // Every bucket counts as holding lines: the [min, max] test alone.
      if (!BlockTimesMeetRange(min_us, max_us, 0, from_us, to_us)) return false;
    }
    switch (tag & 7) {
      case 0:  // varint
        if (!GetVarint64(&in, &value)) return true;
        if (tag >> 3 == 4) min_us = static_cast<int64_t>(value);
        if (tag >> 3 == 5) max_us = static_cast<int64_t>(value);
        break;
      case 1:  // 64-bit
        if (in.size() < 8) return true;
        if (tag >> 3 == 11) {
          uint64_t buckets = 0;
          for (int i = 7; i >= 0; --i) buckets = buckets << 8 | static_cast<uint8_t>(in[i]);
          return BlockTimesMeetRange(min_us, max_us, buckets, from_us, to_us);
        }
        in.remove_prefix(8);
        break;
      case 2:  // length-delimited
        if (!GetVarint64(&in, &value) || value > in.size()) return true;
        in.remove_prefix(value);
        break;
      case 5:  // 32-bit
        if (in.size() < 4) return true;
        in.remove_prefix(4);
        break;
      default:
        return true;
    }
  }
  return BlockTimesMeetRange(min_us, max_us, 0, from_us, to_us);
}

}  // namespace

absl::StatusOr<std::vector<AppBlockRef>> Reader::ListAppBlocks(AppId app, int64_t from_us,
                                                               int64_t to_us) {
  std::vector<AppBlockRef> blocks;
  absl::Status status = ForEachAppBlock(app, from_us, to_us, [&](AppBlockRef ref) {
    blocks.push_back(std::move(ref));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return blocks;
}

namespace {

// Hands the block of meta `value` under block key `key` to `visit` when it
// may hold lines in [from_us, to_us).
absl::Status VisitAppBlock(absl::string_view key, absl::string_view value, int64_t from_us,
                           int64_t to_us, BlockListing listing,
                           const std::function<absl::Status(AppBlockRef ref)>& visit) {
  if (!MetaMayMeetRange(value, from_us, to_us)) return absl::OkStatus();
  AppBlockRef ref;
  std::optional<ParsedBlockKey> parsed = ParseBlockKey(key);
  if (!parsed) return absl::DataLossError("corrupt block meta key");
  if (listing == BlockListing::kKeys) {
    // MetaMayMeetRange read the times: the whole meta is not needed. (A meta
    // it cannot read passes; its block is read and judged by its rows.)
    ref.has_meta = false;
  } else {
    if (!ref.block.meta.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return absl::DataLossError("corrupt block meta");
    }
    if (!BlockMetaMeetsRange(ref.block.meta, from_us, to_us)) return absl::OkStatus();
  }
  ref.device_id = std::string(parsed->device_id);
  ref.block.first_seq = parsed->first_seq;
  return visit(std::move(ref));
}

}  // namespace

bool ListsThroughTimeIndex(int64_t from_us, int64_t to_us) {
  return to_us > from_us &&
         static_cast<uint64_t>(to_us) - static_cast<uint64_t>(from_us) <= kIndexedRangeMicros;
}

absl::Status Reader::ForEachAppBlock(AppId app, int64_t from_us, int64_t to_us,
                                     const std::function<absl::Status(AppBlockRef ref)>& visit,
                                     BlockListing listing) {
  if (ListsThroughTimeIndex(from_us, to_us))
    return ForEachIndexedAppBlock(app, from_us, to_us, listing, visit);
  return ScanPrefix(Family::kBlockMeta, AppPrefix(app), "listing the app's blocks",
                    [&](absl::string_view key, absl::string_view value) {
                      return VisitAppBlock(key, value, from_us, to_us, listing, visit);
                    });
}

absl::Status Reader::ForEachIndexedAppBlock(
    AppId app, int64_t from_us, int64_t to_us, BlockListing listing,
    const std::function<absl::Status(AppBlockRef ref)>& visit) {
  // The blocks the range's hours and days name, as block keys in key order,
  // once each (a block with lines in two hours is named twice).
  std::vector<std::string> keys;
  for (const char level : {kHourLevel, kDayLevel}) {
    const int64_t width = SlotWidth(level);
    const int64_t last_slot = SlotOf(to_us - 1, width);
    // Bounded to the level's keys, so that damage under one level does not
    // fail questions that only read the other.
    PrefixIterator it(store_, options_, Family::kBlockTimes, AppPrefix(app) + level);
    for (it->Seek(BlockTimePrefix(app, level, SlotOf(from_us, width))); it->Valid(); it->Next()) {
      std::optional<ParsedBlockTimeKey> parsed =
          ParseBlockTimeKey(absl::string_view(it->key().data(), it->key().size()));
      if (!parsed) return absl::DataLossError("corrupt key in the blocks' time index");
      if (parsed->slot_us > last_slot) break;
      // A block whose parts of the slot (5 minutes of an hour, hours of a
      // day) miss the range: not a read.
      if ((DecodeParts(level, absl::string_view(it->value().data(), it->value().size())) &
           PartsTouched(level, parsed->slot_us, from_us, to_us)) == 0) {
        continue;
      }
      keys.push_back(BlockKey(app, parsed->device_id, parsed->first_seq));
    }
    if (!it->status().ok()) return FromRocksStatus(it->status(), "reading the blocks' time index");
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());

  if (listing == BlockListing::kKeys) {
    for (const std::string& key : keys) {
      const std::optional<ParsedBlockKey> parsed = ParseBlockKey(key);
      if (!parsed) return absl::InternalError("a block key built from the time index");
      AppBlockRef ref;
      ref.device_id = std::string(parsed->device_id);
      ref.block.first_seq = parsed->first_seq;
      ref.has_meta = false;
      ref.may_be_gone = true;
      if (absl::Status status = visit(std::move(ref)); !status.ok()) return status;
    }
    return absl::OkStatus();
  }

  // Their metas, by seeks of one iterator in key order: for the thousands
  // of blocks of an hour, a third cheaper than point reads (MultiGet), as
  // the keys are near one another. A key whose block is gone (merged,
  // erased, expired since) finds another key or none.
  PrefixIterator it(store_, options_, Family::kBlockMeta, AppPrefix(app));
  for (const std::string& key : keys) {
    it->Seek(key);
    if (!it->Valid()) break;
    if (it->key() != rocksdb::Slice(key)) continue;
    absl::Status status =
        VisitAppBlock(key, absl::string_view(it->value().data(), it->value().size()), from_us,
                      to_us, BlockListing::kMetas, visit);
    if (!status.ok()) return status;
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "listing the app's blocks");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IssueEntry>> Reader::ListIssues(AppId app, int64_t from_us,
                                                           int64_t to_us, absl::string_view user_id,
                                                           size_t limit) {
  std::vector<IssueEntry> issues;
  const std::string start = TimePrefix(app, from_us);
  const std::string end = TimePrefix(app, to_us);
  PrefixIterator it(store_, options_, Family::kIssues, AppPrefix(app));
  for (it->Seek(start); it->Valid() && issues.size() < limit; it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    if (key >= end) break;
    std::optional<ParsedTimeKey> parsed = ParseTimeKey(key);
    IssueRecord record;
    if (!parsed ||
        !record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("corrupt entry in the issues index");
    }
    if (!user_id.empty() && record.user_id() != user_id) continue;
    IssueEntry& issue = issues.emplace_back();
    issue.time_us = parsed->time_us;
    issue.device_id = std::string(parsed->device_id);
    issue.seq = parsed->seq;
    issue.record = std::move(record);
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "listing issues");
  return issues;
}

absl::StatusOr<std::vector<AuditRecord>> Reader::ListAudit(AppId app, int64_t from_us,
                                                           int64_t to_us, size_t limit) {
  std::vector<AuditRecord> records;
  const std::string start = TimePrefix(app, from_us);
  const std::string end = TimePrefix(app, to_us);
  PrefixIterator it(store_, options_, Family::kAudit, AppPrefix(app));
  for (it->Seek(start); it->Valid() && records.size() < limit; it->Next()) {
    if (absl::string_view(it->key().data(), it->key().size()) >= end) break;
    AuditRecord& record = records.emplace_back();
    if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("corrupt audit record");
    }
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "reading the audit trail");
  return records;
}

}  // namespace fieldlog::store
