// Reader: a consistent, read-only view of the store for one query.
//
// A Reader holds a RocksDB snapshot, so a query sees each block together with
// the meta and device records written in the same batch, even while the
// collector keeps writing (a tail block may be rewritten larger at any time).
// Not thread-safe; make one per query.
#ifndef FIELDLOG_STORE_READER_H_
#define FIELDLOG_STORE_READER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "store/block.h"
#include "store/keys.h"
#include "store/records.pb.h"
#include "store/store.h"

namespace fieldlog::store {

struct BlockRef {
  uint64_t first_seq = 0;
  BlockMeta meta;
};

struct UserDevice {
  std::string device_id;
  UserDeviceRecord record;
};

class Reader {
 public:
  explicit Reader(const Store& store);
  ~Reader();

  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // nullopt for a device the store has never seen.
  absl::StatusOr<std::optional<DeviceRecord>> GetDevice(AppId app, absl::string_view device_id);

  // The devices `user_id` has logged from, in device id order.
  absl::StatusOr<std::vector<UserDevice>> ListUserDevices(AppId app, absl::string_view user_id);

  // Every block of a device, in seq order, with its meta.
  absl::StatusOr<std::vector<BlockRef>> ListBlocks(AppId app, absl::string_view device_id);

  absl::StatusOr<BlockReader> ReadBlock(AppId app, absl::string_view device_id,
                                        uint64_t first_seq);

 private:

  // Calls `visit` for every key of `family` that starts with `prefix`, in
  // key order, until it returns an error.
  absl::Status ScanPrefix(
      Family family, const std::string& prefix, absl::string_view what,
      const std::function<absl::Status(absl::string_view key, absl::string_view value)>& visit);

  const Store& store_;
  const rocksdb::Snapshot* snapshot_;
  rocksdb::ReadOptions options_;
};

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_READER_H_
