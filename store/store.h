// Store: the RocksDB database that holds everything fieldlog keeps, opened with
// its column families. The collector writes through store::Writer, the query
// service reads through store::Reader; this class owns the database they share.
//
// Column families (store/README.md has the key layouts):
//   apps        the catalog: apps and hashed credentials
//   devices     one DeviceRecord per device: attributes, seq ranges, tail block
//   users       one UserDeviceRecord per (user, device) pair
//   block_meta  one BlockMeta per block, small, scanned to plan a query
//   blocks      block payloads (already zstd-compressed, so RocksDB does not
//               compress them again; its compaction filter settles them)
//   device_users  the reverse of users: one record per (device, user) pair
//   issues      issues and feedback users sent, in time order
//   audit       who read whose logs, in time order
#ifndef FIELDLOG_STORE_STORE_H_
#define FIELDLOG_STORE_STORE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "rocksdb/db.h"
#include "rocksdb/listener.h"
#include "store/catalog.h"
#include "store/dictionaries.h"
#include "store/retention.h"
#include "store/template_sampler.h"

namespace fieldlog::store {

class GroupCommitter;
class Writer;

// When a write counts as durable, i.e. when the collector may acknowledge it.
enum class SyncPolicy {
  // Once in the WAL in the OS page cache: survives a crash or kill -9 of the
  // server, not a power cut.
  kNone,
  // Once the WAL is fsynced for this write (concurrent writers share an
  // fsync through RocksDB's own group commit).
  kEveryBatch,
  // Once a background fsync that runs every `sync_interval` has covered the
  // write: survives a power cut, and one fsync serves every write of the
  // interval (see GroupCommitter).
  kInterval,
};

struct StoreOptions {
  std::string path;
  SyncPolicy sync = SyncPolicy::kNone;
  absl::Duration sync_interval = absl::Milliseconds(5);
  // Block compression is tiered (see block.h). `zstd_level` is what the
  // collector writes a block with (0: uncompressed); `settled_zstd_level` is
  // what merges and compactions compress it with, once (0: never). Measured
  // with store_bench BM_WriterAppendDay/512 (process CPU per line, merges,
  // flushes and compactions included; bytes after a full compaction; two
  // runs): level 1 at ingest and 3 when settled, 0.84-0.92 us and 25.5 B;
  // 0 and 3 (the default: the ingest-time zstd and the merge's decompression
  // both go), 0.62-0.68 us and 25.5 B; no merging (1 and 3), 0.53-0.61 us and
  // 30.2 B. Block format 3 (settled blocks split their messages into templates
  // and numbers) took the default to 0.69-0.71 us and 17.4 B (two runs each,
  // alternating with format 2's 0.61-0.68 us and 25.5 B).
  int zstd_level = 0;
  int settled_zstd_level = 3;
  // Once a device's newest blocks written at ingest hold this many lines,
  // the next append merges them into large settled blocks (see writer.h);
  // 0 never merges.
  size_t merge_lines = 2048;
  // RocksDB block cache shared by all column families.
  size_t block_cache_bytes = 256 << 20;
  // Days to keep lines of apps that do not set their own; 0 keeps forever.
  uint32_t default_retention_days = 30;
  // Build per-app compression dictionaries from a sample of the lines and
  // compress settled blocks with them (dictionaries.h): small blocks, those
  // of devices that log little, take a fraction of the bytes.
  bool compression_dictionaries = true;
  // Distinct users (or devices without a user) that must have logged a text
  // for it to enter a dictionary (template_sampler.h).
  uint32_t dictionary_min_people = 8;
};

enum class Family {
  kDefault = 0,
  kApps,
  kDevices,
  kUsers,
  kBlockMeta,
  kBlocks,
  kDeviceUsers,
  kIssues,
  kAudit,
  kBlockTimes,  // the time index of blocks (block_times.h)
  kCount
};

class Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* family(Family f) const { return handles_[static_cast<int>(f)]; }
  const StoreOptions& options() const { return options_; }
  const rocksdb::WriteOptions& write_options() const { return write_options_; }

  // Runs `done` once the write that reached `sequence` (see
  // AppendResult::sequence) is durable under the sync policy: at once for
  // kNone and kEveryBatch, after the next group fsync for kInterval.
  void WhenDurable(uint64_t sequence, absl::AnyInvocable<void(absl::Status)> done);

  // Appends a record to the app's audit trail, then runs `done` once the
  // record is durable (the trail must not miss a read that happened) or its
  // write failed: after the write itself under kNone and kEveryBatch (which
  // syncs it), under kInterval after a group fsync started at once (not at
  // the interval's end: a reader waits), on the group committer's thread.
  // The read can go on while its record waits, and writes of other callers
  // share the fsync.
  void AppendAudit(AppId app, const AuditRecord& record,
                   absl::AnyInvocable<void(absl::Status)> done);

  // Under kInterval: syncs the WAL on the calling thread now, then runs the
  // callbacks of every write that sync covered (the caller's own among them,
  // on this thread: call it holding no lock they take). For a reader whose
  // answer is ready before its audit record is durable: on a busy machine the
  // group committer's thread may wait milliseconds for a core, longer than
  // the fsync takes. Does nothing under the other policies (their writes are
  // durable once written).
  void SyncNow();

  // WAL fsyncs done by the group committer (0 unless SyncPolicy::kInterval).
  uint64_t group_syncs() const;
  // How many times RocksDB started delaying or stopping writes (its write
  // stalls: compaction cannot keep up).
  uint64_t write_stalls() const;
  // Sum of a numeric RocksDB property over the column families, e.g.
  // "rocksdb.estimate-pending-compaction-bytes".
  uint64_t SumProperty(const std::string& property) const;

  Catalog& catalog() { return *catalog_; }
  const Catalog& catalog() const { return *catalog_; }
  const Retention& retention() const { return *retention_; }
  Writer& writer() { return *writer_; }
  const Dictionaries& dictionaries() const { return *dictionaries_; }
  Dictionaries& dictionaries() { return *dictionaries_; }
  // Null when StoreOptions::compression_dictionaries is off.
  TemplateSampler* sampler() { return sampler_.get(); }

 private:
  explicit Store(const StoreOptions& options);

  StoreOptions options_;
  rocksdb::WriteOptions write_options_;
  // Declared before db_: its compaction filters must outlive the database.
  std::unique_ptr<Retention> retention_;
  // Declared before db_ as well: compactions use them until it closes.
  std::unique_ptr<Dictionaries> dictionaries_;
  std::unique_ptr<TemplateSampler> sampler_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<GroupCommitter> group_committer_;
  std::shared_ptr<rocksdb::EventListener> stall_listener_;
  std::atomic<uint64_t> audit_counter_{0};
};

// RocksDB status to absl::Status: I/O trouble is UNAVAILABLE (a client may
// retry), corruption is DATA_LOSS.
absl::Status FromRocksStatus(const rocksdb::Status& status, absl::string_view context);

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_STORE_H_
