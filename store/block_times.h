// The time index of blocks (column family `block_times`): keys that name
// each block under the hours, or the days, it holds lines in, so that an
// app-wide question about a few hours finds its blocks without walking every
// block meta of the app.
//
// Why: `affected` over one hour, and every other app-wide scan, used to list
// all of the app's block metas and keep those whose time buckets meet the
// range (store/time_buckets.h). That walk grows with everything the app
// keeps, not with the range asked: on query-scale's store of 108,000 blocks
// over a week it was a third of an hour's question, and a month of
// retention would make it four times that.
//
// Key: BlockTimeKey(app, level, slot start, device id, block's first seq)
// (store/keys.h). A block gets one key per hour it holds lines in (level
// 'h') while that is few keys for its lines: at most one per 4 lines and at
// most 6 per day it has lines in (ChooseBlockTimeSlots). Otherwise it gets
// one key per day it holds lines in (level 'd'). A key's value holds the
// parts of its slot the block has lines in (5-minute parts of an hour, hours
// of a day), so that a reader skips the block for other parts without
// reading its meta. Without the day level a fleet
// of devices that log a line an hour would store a key per line (22.7 B/line
// on fieldlog-bench's 100,000 devices of 20 lines); such blocks are read by
// most hours' questions anyway.
//
// The index is kept in the same WriteBatch as the blocks it names: a block
// written, extended, merged or cut by an erasure gets its keys and the
// blocks it replaces lose theirs (BlockTimesUpdate). It may name more than
// the blocks hold (a store indexed from its metas' time buckets when it was
// first opened with this family, see IndexBlockTimes), never less: readers
// check each named block's meta as before, so a stale key costs a read, not a
// wrong answer. Retention drops a key once its whole slot is past the app's
// cutoff.
#ifndef FIELDLOG_STORE_BLOCK_TIMES_H_
#define FIELDLOG_STORE_BLOCK_TIMES_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rocksdb/write_batch.h"
#include "store/keys.h"
#include "store/records.pb.h"

namespace fieldlog::store {

class BlockReader;
class Store;

inline constexpr char kHourLevel = 'h';
inline constexpr char kDayLevel = 'd';
inline constexpr int64_t kHourMicros = int64_t{3600} * 1'000'000;
inline constexpr int64_t kDayMicros = 24 * kHourMicros;

// The width of a level's slots (kHourMicros or kDayMicros).
int64_t SlotWidth(char level);

// The start of the slot of `width_us` that holds `time_us`; rounds down,
// negative times included, and keeps times in order at the int64 extremes.
int64_t SlotOf(int64_t time_us, int64_t width_us);

// A slot's parts: an hour's twelve 5 minutes, a day's 24 hours.
inline constexpr int64_t kPartMicros = 5 * 60 * 1'000'000;
int64_t PartWidth(char level);
// All the parts of a slot of `level`, as a mask.
uint32_t AllParts(char level);

// One key of a block: its level, its slot, and the parts of the slot the
// block has lines in (bit p: [slot + p parts, slot + (p + 1) parts)), which
// are the key's value. A reader skips a block whose parts miss its range
// without reading the block's meta: an hour's question whose range cuts two
// hour slots reads only the blocks with a line near it.
struct BlockTimeSlot {
  char level = kHourLevel;
  int64_t slot_us = 0;
  uint32_t parts = 0;

  auto operator<=>(const BlockTimeSlot&) const = default;
};

// The keys of a block of `lines` lines whose lines fall in `parts` (5-minute
// part starts, sorted, each once), in order: one per hour, unless that makes
// more than max(1, lines / 4) keys or more than 6 per day the block has
// lines in; then one per day.
std::vector<BlockTimeSlot> ChooseBlockTimeSlots(const std::vector<int64_t>& parts, uint64_t lines);

// A key's value: the parts' mask, little-endian, in 2 bytes for an hour and
// 3 for a day.
std::string EncodeParts(char level, uint32_t parts);
// The parts of a key's value; all of them for a value of another size (a
// key written without them).
uint32_t DecodeParts(char level, absl::string_view value);
// The parts of the slot of `level` starting at `slot_us` that
// [from_us, to_us) touches.
uint32_t PartsTouched(char level, int64_t slot_us, int64_t from_us, int64_t to_us);

// Sets `hours` to those a meta's time buckets say the block may hold lines
// in, in order: every hour that a bucket holding lines meets (every hour of
// [min, max] for a meta without buckets). False, with `hours` incomplete,
// when there are more than `limit`.
bool HoursOfMeta(const BlockMeta& meta, size_t limit, std::vector<int64_t>* hours);

// The index changes of one device's write: the keys of the blocks it
// replaces and of those it writes. WriteTo deletes the keys removed and not
// added again and puts those added and not there before, so a tail block
// extended within the hours it already has costs no index write at all.
class BlockTimesUpdate {
 public:
  // A block about to be rewritten or deleted, under key `first_seq`.
  void Remove(uint64_t first_seq, const BlockReader& block);
  // A block written under key `first_seq` whose lines have `times_us`.
  void Add(uint64_t first_seq, std::span<const int64_t> times_us);

  void WriteTo(AppId app, absl::string_view device_id, rocksdb::ColumnFamilyHandle* family,
               rocksdb::WriteBatch* batch);

 private:
  using Key = std::pair<uint64_t, BlockTimeSlot>;  // (first seq, key)
  void AddPart(int64_t time_us);
  static void AddKeys(uint64_t first_seq, std::vector<int64_t>* parts, uint64_t lines,
                      std::vector<Key>* out);

  std::vector<int64_t> parts_;  // scratch
  std::vector<Key> removed_, added_;
};

// The key, in the apps family, whose presence says every block of the store
// is indexed.
inline constexpr char kBlockTimesIndexedKey[] = "meta/block_times_indexed";

// Indexes every block of the store from its meta, unless the apps family
// says it was done. Store::Open calls it, so a store written before the index
// existed gets it once, before anything is written. A meta whose buckets
// would name more hours than the block has lines (a block whose lines are
// months apart) has its payload read for its lines' own hours instead.
absl::Status IndexBlockTimes(const Store& store);

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_BLOCK_TIMES_H_
