// The storage phase of fieldlog-bench: with the server stopped, opens its
// store directly, runs a full compaction of every column family (so the
// figure does not depend on when RocksDB last compacted) and reads the size
// of the SST files per family.
#ifndef FIELDLOG_BENCHMARKS_STORAGE_PHASE_H_
#define FIELDLOG_BENCHMARKS_STORAGE_PHASE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fieldlog::bench {

struct StorageResult {
  uint64_t total_bytes = 0;   // SST files of every column family
  uint64_t blocks_bytes = 0;  // the block payloads
  uint64_t meta_bytes = 0;    // block metas
  uint64_t index_bytes = 0;   // devices, users, apps
  uint64_t directory_bytes = 0;  // everything under db/ after compaction (WAL, manifest too)
  absl::Duration compaction_time;
};

// `db_path` is <data-dir>/db of a stopped fieldlog-server.
absl::StatusOr<StorageResult> CompactAndMeasure(const std::string& db_path);

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_STORAGE_PHASE_H_
