// Retention: lines older than their app's retention are deleted by RocksDB's
// compactions, through compaction filters, and never shown by queries.
//
// Why compaction filters: blocks hold a device's lines in seq order, so one
// block can hold lines from several days, and apps have different retention.
// Column families per time period would need one family per app and period;
// RocksDB's TTL is per database and counts from write time, not log time. A
// filter decides per value from the time it carries (a block's newest line, a
// device's or user's last-seen time), costs nothing on the write path, and
// periodic compaction (daily) makes sure old files are visited even when no
// new data pushes them to compact. Queries apply the same cutoff, so expired
// lines disappear at once from results and from disk within a day.
//
// A block is deleted when its newest line is expired, so a block straddling
// the cutoff lives until its last line expires (at most one block per device).
// The audit trail is kept whatever the retention.
//
// The blocks' filter also settles the blocks it keeps (see SettleBlock in
// block.h): RocksDB takes one compaction filter per column family, so the
// same pass that drops expired blocks re-compresses those written cheaply at
// ingest, once, at the first compaction that sees them.
#ifndef FIELDLOG_STORE_RETENTION_H_
#define FIELDLOG_STORE_RETENTION_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "rocksdb/compaction_filter.h"
#include "store/catalog.h"
#include "store/dictionaries.h"
#include "store/keys.h"

namespace fieldlog::store {

class Retention {
 public:
  // `default_days`: for apps whose retention is 0; 0 here keeps forever.
  // `settle_zstd_level`: the zstd level unsettled blocks are re-compressed
  // at; 0 leaves them as written.
  explicit Retention(uint32_t default_days, int settle_zstd_level = 0);
  ~Retention();

  // The oldest time (Unix micros) an app's lines may have at `now_us`;
  // INT64_MIN when the app keeps lines forever, or while the catalog that
  // says how long is not loaded yet (compactions may start before).
  int64_t CutoffMicros(AppId app, int64_t now_us) const;

  // Compaction filters for the families that hold per-app data. They live as
  // long as this object, which must outlive the database.
  const rocksdb::CompactionFilter* block_filter() const { return block_filter_.get(); }
  const rocksdb::CompactionFilter* block_meta_filter() const { return meta_filter_.get(); }
  const rocksdb::CompactionFilter* device_filter() const { return device_filter_.get(); }
  const rocksdb::CompactionFilter* user_filter() const { return user_filter_.get(); }
  const rocksdb::CompactionFilter* issue_filter() const { return issue_filter_.get(); }
  // A key of the blocks' time index goes once its whole hour is expired.
  const rocksdb::CompactionFilter* block_times_filter() const { return block_times_filter_.get(); }

  // Set once the catalog is loaded (after the database opens).
  void set_catalog(const Catalog* catalog) { catalog_.store(catalog); }
  // Set when blocks settled by compaction use the apps' dictionaries.
  void set_dictionaries(const Dictionaries* dictionaries) { dictionaries_.store(dictionaries); }
  const Dictionaries* dictionaries() const { return dictionaries_.load(); }

 private:
  std::atomic<const Catalog*> catalog_{nullptr};
  std::atomic<const Dictionaries*> dictionaries_{nullptr};
  const uint32_t default_days_;
  std::unique_ptr<rocksdb::CompactionFilter> block_filter_, meta_filter_, device_filter_,
      user_filter_, issue_filter_, block_times_filter_;
};

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_RETENTION_H_
