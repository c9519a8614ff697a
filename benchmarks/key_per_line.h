// The same-run ceiling: the fleet's entries written by a plain RocksDB loop,
// one key per line, in the bench process itself, so fieldlog's ingest rate
// can be stated as a ratio of what this machine does at this moment.
//
// The loop is the design fieldlog's blocks replace, given every advantage: a
// 36-byte key per line ("app1|device-<13 digits>|<10 digits>"), the entry's
// protobuf as the value (serialized before the clock starts), WriteBatches of
// 1,000 lines taken from the devices in turns of 512 (as batches arrive from
// agents), WAL on without sync, zstd, one writer thread, and nothing else:
// no parsing, validation, exactly-once bookkeeping or network.
#ifndef FIELDLOG_BENCHMARKS_KEY_PER_LINE_H_
#define FIELDLOG_BENCHMARKS_KEY_PER_LINE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "benchmarks/fleet.h"

namespace fieldlog::bench {

struct KeyPerLineResult {
  uint64_t lines = 0;
  absl::Duration write_time;              // the WriteBatch loop alone
  absl::Duration write_and_settle_time;   // plus flushing and background compactions
  double cpu_seconds = 0;                 // this process, loop and settling
  uint64_t disk_bytes = 0;                // SST files after a full compaction
};

// Writes at most `max_lines` lines of `fleet` (whole devices, in order) into a
// fresh RocksDB under `dir`, which is removed afterwards.
absl::StatusOr<KeyPerLineResult> RunKeyPerLine(const Fleet& fleet, const std::string& dir,
                                               uint64_t max_lines, bool progress);

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_KEY_PER_LINE_H_
