#include "absl/strings/string_view.h"
#include "store/reader.h"

#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"

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

absl::Status Reader::ScanPrefix(
    Family family, const std::string& prefix, absl::string_view what,
    const std::function<absl::Status(absl::string_view key, absl::string_view value)>& visit) {
  const std::string upper = PrefixSuccessor(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions options = options_;
  if (!upper.empty()) options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(store_.db()->NewIterator(options, store_.family(family)));
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
  absl::Status status = ScanPrefix(
      Family::kUsers, UserPrefix(app, user_id), "listing a user's devices",
      [&](absl::string_view key, absl::string_view value) {
        std::optional<ParsedUserDeviceKey> parsed = ParseUserDeviceKey(key);
        UserDevice& device = devices.emplace_back();
        if (!parsed || !device.record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
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

absl::StatusOr<BlockReader> Reader::ReadBlock(AppId app, absl::string_view device_id,
                                              uint64_t first_seq) {
  rocksdb::PinnableSlice payload;
  rocksdb::Status s = store_.db()->Get(options_, store_.family(Family::kBlocks),
                                       BlockKey(app, device_id, first_seq), &payload);
  if (!s.ok()) return FromRocksStatus(s, "reading a block");
  return BlockReader::Open(absl::string_view(payload.data(), payload.size()));
}

}  // namespace fieldlog::store
