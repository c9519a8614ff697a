// Writer: the store's write path, and the place exactly-once is kept.
//
// Append() stores a batch of one device's entries in a single RocksDB
// WriteBatch: the new or extended block (payload and meta), the device record
// with its updated seq ranges, and the (user, device) index records. Because
// the seq ranges change in the same atomic write as the block, an entry is
// stored exactly once however often, and in whatever order, it is sent: an
// entry whose seq is already in the ranges is counted as a duplicate and
// skipped. When Append returns OK the batch is in the WAL, fsynced for
// SyncPolicy::kEveryBatch; under kInterval it is durable once
// Store::WhenDurable(result.sequence) says so. On error nothing was written.
//
// Appends for one device are serialised by a per-device lock; different
// devices proceed in parallel and RocksDB groups their WAL writes.
//
// Blocks: a batch becomes one block, except that a small tail block (fewer
// than kSmallBlockLines lines, typical of a device trickling a line at a time)
// is extended in place, so slow devices do not leave thousands of tiny blocks.
// Those blocks are written cheaply and unsettled (block.h; uncompressed by
// default). Once a device's run of such blocks holds StoreOptions::merge_lines
// lines, a background thread merges them into blocks of up to kMaxBlockLines
// lines compressed for keeps: compression sees more similar lines at once (on
// fieldlog-bench's lines 4,096-line blocks take about two thirds of the bytes
// of 512-line ones), and each line is compressed once. The merge takes the
// device's lock and writes its blocks and device record in one WriteBatch,
// like an append; it runs at a lower CPU priority, off the path that
// acknowledges batches (merging inline made 1,000 devices reaching the
// threshold together hold their acks for seconds). No block exceeds
// kMaxBlockLines lines or kMaxBlockRawBytes of raw columns.
//
// Clock correction: an entry's corrected time is its device time plus the
// batch's clock offset. Estimates jitter by network latency, so an estimate
// within kClockTolerance of the device's previous offset keeps the previous
// offset: a well-synced device gets exactly 0, and a device days off keeps one
// steady offset, so its timeline never shuffles at batch boundaries.
#ifndef FIELDLOG_STORE_WRITER_H_
#define FIELDLOG_STORE_WRITER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "rocksdb/write_batch.h"
#include "store/block.h"
#include "store/keys.h"
#include "store/records.pb.h"
#include "store/seq_ranges.h"

namespace fieldlog::store {

class Store;

struct AppendRequest {
  AppId app = 0;
  absl::string_view device_id;
  // When not null, replaces the device's stored attributes.
  const google::protobuf::RepeatedPtrField<v1::Attribute>* device_attributes = nullptr;
  int64_t receive_time_us = 0;
  // The batch's estimated clock offset (server minus device clock); nullopt
  // when the client gave no send time to estimate it from (no correction).
  std::optional<int64_t> clock_offset_estimate_us;
  // Validated entries in any order; repeats are fine. Append sets each
  // entry's time_us (corrected time) from device_time_us and the offset.
  std::span<EntryView> entries;
};

struct AppendResult {
  uint32_t stored = 0;
  uint32_t duplicates = 0;
  uint64_t watermark = 0;
  // The offset applied to this batch's times.
  int64_t clock_offset_us = 0;
  // A RocksDB sequence number at or after this batch's write: pass it to
  // Store::WhenDurable before acknowledging the batch.
  uint64_t sequence = 0;
};

// What an Append stored, for observers (live tail).
struct AppendEvent {
  AppId app;
  absl::string_view device_id;
  std::vector<absl::string_view> user_ids;  // the users of the new lines
};

struct EraseResult {
  uint32_t devices = 0;
  uint64_t lines = 0;
};

class Writer {
 public:
  static constexpr size_t kSmallBlockLines = 256;
  static constexpr size_t kMaxBlockLines = 4096;
  static constexpr size_t kMaxBlockRawBytes = 1 << 20;
  // Device states kept in memory; idle ones beyond this are dropped (they are
  // reloaded from the devices column family when next needed).
  static constexpr size_t kMaxCachedDevices = 20000;
  static constexpr int64_t kClockToleranceMicros = 2'000'000;
  static constexpr absl::Duration kMergeDrainTime = absl::Seconds(20);
  // The least common text worth a dictionary.
  static constexpr size_t kMinDictionaryBytes = 256;

  explicit Writer(Store* store);
  // Runs the merges already due (for at most kMergeDrainTime), then stops
  // the merge thread.
  ~Writer();

  // Called after every Append that stored lines, on the appending thread,
  // once the lines are readable. Set before any Append; it must be quick.
  void SetObserver(std::function<void(const AppendEvent&)> observer) {
    observer_ = std::move(observer);
  }

  absl::StatusOr<AppendResult> Append(const AppendRequest& request);

  // Waits until every merge and dictionary build scheduled so far has run (for tests and
  // benchmarks).
  void WaitForMerges();
  // Merges run so far.
  uint64_t merges() const { return merges_.load(std::memory_order_relaxed); }

  // The highest seq stored for the device; 0 when it has none.
  absl::StatusOr<uint64_t> Watermark(AppId app, absl::string_view device_id);

  // Deletes every line `user_id` logged, on every device, and the user's
  // index entries, then compacts the affected key ranges so the data is gone
  // from disk, not just hidden. Lines of other users on shared devices stay.
  // The devices' seq ranges are kept, so a late resend of an erased line is
  // treated as a duplicate and not stored again.
  absl::StatusOr<EraseResult> EraseUser(AppId app, absl::string_view user_id);

 private:
  struct DeviceState {
    absl::Mutex mu;
    bool loaded ABSL_GUARDED_BY(mu) = false;
    DeviceRecord record ABSL_GUARDED_BY(mu);
    SeqRanges ranges ABSL_GUARDED_BY(mu);
    // Recently written (user, device) records, to update without a read.
    absl::flat_hash_map<std::string, UserDeviceRecord> users ABSL_GUARDED_BY(mu);
  };

  std::shared_ptr<DeviceState> Acquire(AppId app, absl::string_view device_id);
  absl::Status LoadLocked(AppId app, absl::string_view device_id, DeviceState* state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu);

  // Writes the rows of `rewritten` (blocks read back, deleted from their keys)
  // and `fresh`, merged in seq order, as blocks into `batch`; when `newest`,
  // makes the last one the record's tail. `merging`: settled blocks split
  // evenly, rather than cheap ones. Returns the first block's key (0: none).
  uint64_t WriteBlocks(AppId app, absl::string_view device_id, std::vector<BlockReader>& rewritten,
                       const std::vector<uint64_t>& rewritten_keys,
                       std::span<const EntryView* const> fresh, bool merging, bool newest,
                       DeviceRecord* record, rocksdb::WriteBatch* batch);

  // Queues the device for the merge thread (once), starting it if needed.
  void ScheduleMerge(AppId app, absl::string_view device_id);
  // Queues a new dictionary for the app on the merge thread (dictionaries.h).
  void ScheduleDictionary(AppId app);
  absl::Status BuildDictionary(AppId app);
  // How blocks are read back: with the store's dictionaries.
  BlockReadOptions ReadOptions() const;
  void MergeLoop();
  // Merges the device's run if it still holds merge_lines lines.
  absl::Status MergeRun(AppId app, absl::string_view device_id);

  // Reads the device's blocks from key `first_seq` on (its run of unmerged
  // blocks), with their keys. Unreadable blocks are skipped (left in place).
  // Called with the device's lock held, so no append changes them meanwhile.
  absl::Status ReadRunLocked(AppId app, absl::string_view device_id, uint64_t first_seq,
                             std::vector<BlockReader>* blocks, std::vector<uint64_t>* keys);

  Store* const store_;
  std::function<void(const AppendEvent&)> observer_;
  absl::Mutex merge_mu_;
  std::unique_ptr<std::thread> merge_thread_ ABSL_GUARDED_BY(merge_mu_);
  std::deque<std::string> merge_queue_ ABSL_GUARDED_BY(merge_mu_);  // device keys
  absl::flat_hash_set<std::string> merge_pending_ ABSL_GUARDED_BY(merge_mu_);
  std::vector<AppId> dictionary_queue_ ABSL_GUARDED_BY(merge_mu_);
  bool merge_stop_ ABSL_GUARDED_BY(merge_mu_) = false;
  bool merge_idle_ ABSL_GUARDED_BY(merge_mu_) = true;
  std::atomic<uint64_t> merges_{0};
  absl::Mutex devices_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<DeviceState>> devices_
      ABSL_GUARDED_BY(devices_mu_);
};

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_WRITER_H_
