// Reader: a consistent, read-only view of the store for one query.
//
// A Reader holds a RocksDB snapshot, so a query sees each block together with
// the meta and device records written in the same batch, even while the
// collector keeps writing (a tail block may be rewritten larger at any time).
// Not thread-safe (but for ReadBlock); make one per query.
#ifndef FIELDLOG_STORE_READER_H_
#define FIELDLOG_STORE_READER_H_

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

struct DeviceUser {
  std::string user_id;
  UserDeviceRecord record;
};

// A user found by prefix: her (user, device) records folded together.
struct UserSummary {
  std::string user_id;
  uint32_t devices = 0;
  uint64_t lines = 0;
  int64_t first_seen_us = 0;
  int64_t last_seen_us = 0;
};

struct IssueEntry {
  int64_t time_us = 0;
  std::string device_id;
  uint64_t seq = 0;
  IssueRecord record;
};

// A block anywhere in the app, for app-wide scans.
struct AppBlockRef {
  std::string device_id;
  BlockRef block;
  // False when listed by its key alone (BlockListing::kKeys): block.meta is
  // empty.
  bool has_meta = true;
  // True when named by the time index without its meta read (kKeys): the
  // block may be gone since (merged, erased, expired), which reading it
  // finds. A block listed with its meta, or walking the metas, is there in
  // the listing's snapshot.
  bool may_be_gone = false;
};

// What Reader::ForEachAppBlock reads of each block besides its key.
enum class BlockListing {
  // Its meta; only blocks whose meta meets the range are listed.
  kMetas,
  // The keys alone (AppBlockRef::has_meta false), for scans that read each
  // block listed and ask nothing of its meta. Through the time index
  // (ListsThroughTimeIndex), the blocks it names, their metas unread: on
  // query-scale's store an hour's index named about 1,950 blocks, of which
  // the metas' time buckets ruled out 4%, and seeking and parsing the metas
  // took a seventh of an hour's `affected` (server CPU per question 28-31 ms
  // without them, 33-35 with). Walking the metas of longer ranges, those
  // that meet the range, read for their times only, not parsed whole.
  kKeys,
};

// App-wide listings of ranges up to this long go through the blocks' time
// index (block_times.h); longer ones walk every meta of the app. The index
// costs per hour of the range (its keys, then a seek of each named block's
// meta) and the walk per block the app keeps. On query-scale's store, a week
// of 100,000 devices in 108,000 blocks, listing one hour took 4-5 ms through
// the index against 22-24 ms for the walk, six hours 13 against 21 (one
// thread, December 6, 2026); a store keeping the default 30 days makes the
// walk four times longer and the index no slower.
inline constexpr int64_t kIndexedRangeMicros = int64_t{6} * 3600 * 1'000'000;

// True when ForEachAppBlock lists [from_us, to_us) through the time index.
bool ListsThroughTimeIndex(int64_t from_us, int64_t to_us);

// How the blocks handed to Reader::ReadBlocks lie in the key space, which
// decides how it fetches them.
enum class BlockSpread {
  // Mostly next to one another: a device's blocks, a user's devices', or a
  // walk of every meta of the app. One iterator steps from each to the next.
  kNeighbours,
  // Far apart: the blocks the time index names for a few hours, a few in
  // every thirty of the app's. Point reads, a batch at a time (MultiGet). On
  // query-scale's store (December 2026, a scratch tool), reaching a
  // scattered block took an iterator's seek 2.6 us of CPU against 1.9 for a
  // point read, and a neighbour 0.3-0.4 us by the iterator's step against
  // 0.5 for a point read.
  kScattered,
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

  // The device's newest blocks that hold seqs above `seq`, in seq order:
  // read backwards from the newest block until one ends at or below `seq`.
  // (A late batch that filled an old gap is not found this way; searches
  // find it.)
  absl::StatusOr<std::vector<BlockRef>> ListBlocksAfter(AppId app, absl::string_view device_id,
                                                        uint64_t seq);

  // Const, and safe to call from several threads at once: a search reads
  // its next block on another thread while it sends the rows before it.
  absl::StatusOr<BlockReader> ReadBlock(AppId app, absl::string_view device_id, uint64_t first_seq,
                                        const BlockReadOptions& options = {}) const;

  // Reads the blocks `refs` names, which must be in key order (device by
  // device in id order, each device's by seq, as ListAppBlocks gives them),
  // and calls visit(i, block) for refs[i], in order, where block is NotFound
  // for a block the snapshot does not have. `spread` says how far apart they
  // lie (BlockSpread): neighbours are walked by one iterator, much cheaper
  // than a point read each; scattered blocks are read by points. Stops at
  // the first error `visit` returns, and returns it.
  using BlockVisitor = std::function<absl::Status(size_t i, absl::StatusOr<BlockReader> block)>;
  absl::Status ReadBlocks(AppId app, std::span<const AppBlockRef> refs, BlockSpread spread,
                          const BlockReadOptions& options, const BlockVisitor& visit);

  // The users who logged on a device, in user id order.
  absl::StatusOr<std::vector<DeviceUser>> ListDeviceUsers(AppId app, absl::string_view device_id);

  // Users whose id starts with `prefix` (at most `limit`), in id order.
  absl::StatusOr<std::vector<UserSummary>> FindUsers(AppId app, absl::string_view prefix,
                                                     size_t limit);

  // Every block of the app that may hold lines in [from_us, to_us)
  // (BlockMetaMeetsRange: its time buckets), by device. Reads only the small
  // metas: for a range of at most kIndexedRangeMicros, those of the blocks
  // the time index (block_times.h) names for its hours; for a longer one,
  // every meta of the app.
  absl::StatusOr<std::vector<AppBlockRef>> ListAppBlocks(AppId app, int64_t from_us, int64_t to_us);
  // The same blocks, handed to `visit` one by one as they are listed, until it
  // returns an error (returned); with kKeys, by key alone, as that says.
  absl::Status ForEachAppBlock(AppId app, int64_t from_us, int64_t to_us,
                               const std::function<absl::Status(AppBlockRef ref)>& visit,
                               BlockListing listing = BlockListing::kMetas);

  // Issues and feedback in [from_us, to_us), oldest first, at most `limit`;
  // only `user_id`'s when it is not empty.
  absl::StatusOr<std::vector<IssueEntry>> ListIssues(AppId app, int64_t from_us, int64_t to_us,
                                                     absl::string_view user_id, size_t limit);

  // The audit trail in [from_us, to_us), oldest first, at most `limit`.
  absl::StatusOr<std::vector<AuditRecord>> ListAudit(AppId app, int64_t from_us, int64_t to_us,
                                                     size_t limit);

 private:
  // ForEachAppBlock through the time index.
  absl::Status ForEachIndexedAppBlock(AppId app, int64_t from_us, int64_t to_us,
                                      BlockListing listing,
                                      const std::function<absl::Status(AppBlockRef ref)>& visit);

  // ReadBlocks of kScattered and of kNeighbours refs.
  absl::Status ReadScatteredBlocks(AppId app, std::span<const AppBlockRef> refs,
                                   const BlockReadOptions& options, const BlockVisitor& visit);
  absl::Status ReadNeighbourBlocks(AppId app, std::span<const AppBlockRef> refs,
                                   const BlockReadOptions& options, const BlockVisitor& visit);

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
