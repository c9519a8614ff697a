#include "benchmarks/key_per_line.h"

#include <sys/resource.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "benchmarks/progress.h"
#include "benchmarks/report.h"
#include "fieldlog/v1/ingest.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace fieldlog::bench {
namespace {

constexpr size_t kBatchLines = 1000;
constexpr int kTurnLines = 512;

double CpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Every device's serialized entries, back to back, with offsets.
struct Values {
  std::string arena;
  std::vector<uint64_t> offsets;       // per line, plus one past the end
  std::vector<uint64_t> device_first;  // index of each device's first line
};

Values Serialize(const Fleet& fleet, int devices) {
  Values values;
  v1::Entry entry;
  for (int d = 0; d < devices; ++d) {
    values.device_first.push_back(values.offsets.size());
    const GeneratedLines lines = fleet.Lines(d);
    for (size_t i = 0; i < lines.size(); ++i) {
      FillEntry(lines[i], i + 1, &entry);
      values.offsets.push_back(values.arena.size());
      entry.AppendToString(&values.arena);
    }
  }
  values.device_first.push_back(values.offsets.size());
  values.offsets.push_back(values.arena.size());
  return values;
}

bool CompactionsPending(rocksdb::DB* db) {
  uint64_t pending = 0, running = 0, flushes = 0;
  db->GetIntProperty("rocksdb.compaction-pending", &pending);
  db->GetIntProperty("rocksdb.num-running-compactions", &running);
  db->GetIntProperty("rocksdb.num-running-flushes", &flushes);
  return pending != 0 || running != 0 || flushes != 0;
}

}  // namespace

absl::StatusOr<KeyPerLineResult> RunKeyPerLine(const Fleet& fleet, const std::string& dir,
                                               uint64_t max_lines, bool progress) {
  const uint64_t per_device = static_cast<uint64_t>(fleet.spec().lines_per_device);
  const int devices = static_cast<int>(std::min<uint64_t>(
      fleet.devices(), std::max<uint64_t>(1, per_device == 0 ? 1 : max_lines / per_device)));
  const Values values = Serialize(fleet, devices);
  const uint64_t total = values.offsets.size() - 1;

  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.compression = rocksdb::kZSTD;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("key-per-line RocksDB: ", s.ToString()));
  std::unique_ptr<rocksdb::DB> db(raw);

  KeyPerLineResult result;
  ProgressBar bar("ceiling", total, progress);
  std::vector<uint64_t> next(static_cast<size_t>(devices), 0);
  rocksdb::WriteBatch batch;
  char key[64];
  const double cpu_start = CpuSeconds();
  const absl::Time start = absl::Now();
  uint64_t written = 0;
  for (bool any = true; any;) {
    any = false;
    for (int d = 0; d < devices; ++d) {
      const uint64_t first = values.device_first[d];
      const uint64_t count = values.device_first[d + 1] - first;
      for (int k = 0; k < kTurnLines && next[d] < count; ++k, ++next[d]) {
        const uint64_t line = first + next[d];
        std::snprintf(key, sizeof(key), "app1|device-%013d|%010llu", d,
                      static_cast<unsigned long long>(next[d] + 1));
        batch.Put(rocksdb::Slice(key, 36),
                  rocksdb::Slice(values.arena.data() + values.offsets[line],
                                 values.offsets[line + 1] - values.offsets[line]));
        if (batch.Count() == kBatchLines) {
          s = db->Write(rocksdb::WriteOptions(), &batch);
          if (!s.ok()) return absl::UnavailableError(s.ToString());
          batch.Clear();
          written += kBatchLines;
          if (written % (kBatchLines * 64) == 0) bar.Update(written);
        }
        any = true;
      }
    }
  }
  if (batch.Count() > 0) {
    s = db->Write(rocksdb::WriteOptions(), &batch);
    if (!s.ok()) return absl::UnavailableError(s.ToString());
  }
  result.write_time = absl::Now() - start;
  // Count what a steady state would pay too: the memtable flushed and the
  // compactions it triggers finished.
  db->Flush(rocksdb::FlushOptions());
  for (absl::Time deadline = absl::Now() + absl::Minutes(10);
       CompactionsPending(db.get()) && absl::Now() < deadline;) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  result.write_and_settle_time = absl::Now() - start;
  result.cpu_seconds = CpuSeconds() - cpu_start;
  result.lines = total;
  bar.Finish(absl::StrFormat("%s lines, %s lines/s", HumanNumber(total),
                             HumanNumber(total / absl::ToDoubleSeconds(result.write_time))));

  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  db->CompactRange(compact, nullptr, nullptr);
  db->GetIntProperty("rocksdb.total-sst-files-size", &result.disk_bytes);
  db->Close();
  db.reset();
  std::filesystem::remove_all(dir, ignored);
  return result;
}

}  // namespace fieldlog::bench
