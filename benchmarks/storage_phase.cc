#include "benchmarks/storage_phase.h"

#include "absl/time/clock.h"
#include "benchmarks/proc_stats.h"
#include "store/store.h"

namespace fieldlog::bench {

absl::StatusOr<StorageResult> CompactAndMeasure(const std::string& db_path) {
  store::StoreOptions options;
  options.path = db_path;
  absl::StatusOr<std::unique_ptr<store::Store>> opened = store::Store::Open(options);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<store::Store> store = *std::move(opened);
  rocksdb::DB* db = store->db();

  StorageResult result;
  const absl::Time start = absl::Now();
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (int f = 0; f < static_cast<int>(store::Family::kCount); ++f) {
    rocksdb::ColumnFamilyHandle* family = store->family(static_cast<store::Family>(f));
    db->Flush(rocksdb::FlushOptions(), family);
    // Twice: RocksDB may move a file down a level without rewriting it, and a
    // moved file skips the compaction filter that settles blocks (one pass
    // left 30% of the blocks of 100,000 light devices unsettled).
    for (int pass = 0; pass < 2; ++pass) {
      rocksdb::Status s = db->CompactRange(compact, family, nullptr, nullptr);
      if (!s.ok()) return store::FromRocksStatus(s, "compacting");
    }
    uint64_t bytes = 0;
    db->GetIntProperty(family, "rocksdb.total-sst-files-size", &bytes);
    result.total_bytes += bytes;
    switch (static_cast<store::Family>(f)) {
      case store::Family::kBlocks:
        result.blocks_bytes += bytes;
        break;
      case store::Family::kBlockMeta:
        result.meta_bytes += bytes;
        break;
      default:
        result.index_bytes += bytes;
        break;
    }
  }
  result.compaction_time = absl::Now() - start;
  store.reset();
  result.directory_bytes = DirectoryBytes(db_path);
  return result;
}

}  // namespace fieldlog::bench
