#include "absl/strings/string_view.h"
#include "store/reader.h"

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

absl::StatusOr<std::vector<UserDevice>> Reader::ListUserDevices(AppId app,
                                                                absl::string_view user_id) {
  const std::string prefix = UserPrefix(app, user_id);
  const std::string upper = PrefixSuccessor(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions options = options_;
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(
      store_.db()->NewIterator(options, store_.family(Family::kUsers)));
  std::vector<UserDevice> devices;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    std::optional<ParsedUserDeviceKey> key =
        ParseUserDeviceKey(absl::string_view(it->key().data(), it->key().size()));
    if (!key) return absl::DataLossError("corrupt key in the users index");
    UserDevice device;
    device.device_id = std::string(key->device_id);
    if (!device.record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("corrupt record in the users index");
    }
    devices.push_back(std::move(device));
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "listing a user's devices");
  return devices;
}

absl::StatusOr<std::vector<BlockRef>> Reader::ListBlocks(AppId app, absl::string_view device_id) {
  const std::string prefix = DeviceKey(app, device_id);
  const std::string upper = PrefixSuccessor(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions options = options_;
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(
      store_.db()->NewIterator(options, store_.family(Family::kBlockMeta)));
  std::vector<BlockRef> blocks;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    std::optional<ParsedBlockKey> key =
        ParseBlockKey(absl::string_view(it->key().data(), it->key().size()));
    // Another device whose id extends this one cannot match: the id is
    // length-prefixed, so its keys differ inside the prefix.
    if (!key) return absl::DataLossError("corrupt block key");
    BlockRef ref;
    ref.first_seq = key->first_seq;
    if (!ref.meta.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("corrupt block meta");
    }
    blocks.push_back(std::move(ref));
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "listing a device's blocks");
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
