// Store micro benchmarks on loghub-shaped lines, each next to its same-run
// baseline: block encoding and decoding, and Writer::Append (blocks with
// exactly-once bookkeeping; full batches and a trickling device's small ones)
// against a plain RocksDB loop writing one key per line in WriteBatches of
// 1,000, the design fieldlog's blocks replace.
//
//   build/bin/store_bench [--benchmark_format=json]
#include <ctime>
#include <filesystem>
#include <thread>

#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"
#include "benchmarks/corpus.h"
#include "fieldlog/v1/ingest.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "store/block.h"
#include "store/store.h"
#include "store/template_sampler.h"
#include "store/writer.h"

namespace fieldlog::bench {
namespace {

constexpr int64_t kBaseTime = 1'795'000'000'000'000;

// A batch of one device's generated lines and the views the store takes.
struct Batch {
  std::vector<CorpusLine> lines;
  std::vector<store::EntryView> views;

  Batch(LineGenerator& generator, size_t n, uint64_t first_seq) {
    lines.reserve(n);
    for (size_t i = 0; i < n; ++i) lines.push_back(generator.Next());
    for (size_t i = 0; i < n; ++i) {
      store::EntryView v;
      v.seq = first_seq + i;
      v.device_time_us = v.time_us = kBaseTime + static_cast<int64_t>(first_seq + i) * 1500;
      v.receive_time_us = v.time_us + 300'000;
      v.level = lines[i].level;
      v.tag = lines[i].tag;
      v.message = lines[i].message;
      v.user_id = "alice@example.com";
      v.session_id = "6f1c2a4e-93b4-4b7e-8f0e-2f3d4c5b6a79";
      views.push_back(v);
    }
  }

  void Renumber(uint64_t first_seq) {
    for (size_t i = 0; i < views.size(); ++i) {
      views[i].seq = first_seq + i;
      views[i].device_time_us = kBaseTime + static_cast<int64_t>(first_seq + i) * 1500;
    }
  }
};

// Eight batches of `lines` generated lines, to cycle through.
std::vector<Batch> MakeBatches(LineGenerator& generator, size_t lines) {
  std::vector<Batch> batches;
  for (int i = 0; i < 8; ++i) batches.emplace_back(generator, lines, 1);
  return batches;
}

std::vector<std::string> DeviceIds(int n) {
  std::vector<std::string> devices;
  for (int d = 0; d < n; ++d) devices.push_back("device-" + std::to_string(d * 7919));
  return devices;
}

std::string TempPath(const char* name) {
  const char* base = std::getenv("TMPDIR");
  std::string path = std::string(base ? base : "/tmp") + "/fieldlog-bench-" + name + "-" +
                     std::to_string(::getpid());
  std::filesystem::remove_all(path);
  return path;
}

uint64_t SstBytes(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family) {
  uint64_t bytes = 0;
  db->GetIntProperty(family, "rocksdb.total-sst-files-size", &bytes);
  return bytes;
}

// Encodes `batch` as one block per iteration; reports lines and bytes per line.
void EncodeEachIteration(benchmark::State& state, store::BlockBuilder& builder,
                         const Batch& batch) {
  std::string payload;
  store::BlockMeta meta;
  for (auto _ : state) {
    for (const store::EntryView& v : batch.views) builder.Add(v);
    builder.Finish(&payload, &meta);
    benchmark::DoNotOptimize(payload.data());
  }
  const auto lines = static_cast<int64_t>(batch.views.size());
  state.SetItemsProcessed(state.iterations() * lines);
  state.counters["bytes_per_line"] =
      static_cast<double>(payload.size()) / static_cast<double>(lines);
}

void BM_BlockEncode(benchmark::State& state) {
  LineGenerator generator(1);
  Batch batch(generator, static_cast<size_t>(state.range(0)), 1);
  store::BlockBuilder builder;
  std::string payload;
  store::BlockMeta meta;
  size_t raw_message_bytes = 0;
  for (const CorpusLine& l : batch.lines) raw_message_bytes += l.message.size() + l.tag.size();
  for (auto _ : state) {
    for (const store::EntryView& v : batch.views) builder.Add(v);
    builder.Finish(&payload, &meta);
    benchmark::DoNotOptimize(payload.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["bytes_per_line"] = static_cast<double>(payload.size()) / state.range(0);
  state.counters["text_bytes_per_line"] = static_cast<double>(raw_message_bytes) / state.range(0);
}
BENCHMARK(BM_BlockEncode)->Arg(512)->Arg(4096);

void BM_BlockDecode(benchmark::State& state) {
  LineGenerator generator(2);
  Batch batch(generator, static_cast<size_t>(state.range(0)), 1);
  store::BlockBuilder builder;
  for (const store::EntryView& v : batch.views) builder.Add(v);
  std::string payload;
  store::BlockMeta meta;
  builder.Finish(&payload, &meta);
  for (auto _ : state) {
    absl::StatusOr<store::BlockReader> reader = store::BlockReader::Open(payload);
    benchmark::DoNotOptimize(reader->message(reader->size() - 1).data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BlockDecode)->Arg(512)->Arg(4096);

// Where a block's bytes go, on fieldlog-bench's fleet shape: a 512-line batch
// of one device whose lines are spread over a day (about 33 s apart) and
// received together. Variants change one column's entropy at a time:
//   0  as fieldlog-bench sends it
//   1  receive time equal to the line's time (the receive column costs ~0)
//   2  lines 1.5 ms apart (dense logging: small time deltas)
//   3  both
void BM_BlockEncodeFleetShape(benchmark::State& state) {
  const int variant = static_cast<int>(state.range(0));
  LineGenerator generator(5);
  Batch batch(generator, 512, 1);
  const int64_t step = (variant & 2) ? 1500 : 33'000'000;
  for (size_t i = 0; i < batch.views.size(); ++i) {
    store::EntryView& v = batch.views[i];
    v.device_time_us = v.time_us = kBaseTime + static_cast<int64_t>(i) * step;
    v.receive_time_us = (variant & 1) ? v.time_us : kBaseTime + 512 * step + 300'000;
  }
  store::BlockBuilder builder;
  EncodeEachIteration(state, builder, batch);
}
BENCHMARK(BM_BlockEncodeFleetShape)->DenseRange(0, 3);

// Bytes per line and encoding cost by block size and zstd level, on the fleet
// shape above (lines 33 s apart, batches of 512 received together): what
// StoreOptions' ingest and settled levels are chosen from. Level 0 stores the
// columns uncompressed.
void BM_BlockCompressionLevel(benchmark::State& state) {
  const auto lines = static_cast<size_t>(state.range(0));
  const int level = static_cast<int>(state.range(1));
  LineGenerator generator(5);
  Batch batch(generator, lines, 1);
  constexpr int64_t kStep = 33'000'000;
  for (size_t i = 0; i < lines; ++i) {
    store::EntryView& v = batch.views[i];
    v.device_time_us = v.time_us = kBaseTime + static_cast<int64_t>(i) * kStep;
    const auto batch_end = static_cast<int64_t>((i / 512 + 1) * 512);
    v.receive_time_us = kBaseTime + batch_end * kStep + 300'000;
  }
  store::BlockBuilder builder(store::BlockEncoding{level, true});
  EncodeEachIteration(state, builder, batch);
}
BENCHMARK(BM_BlockCompressionLevel)
    ->ArgsProduct({{512, 1024, 2048, 4096}, {0, -1, 1, 3, 6, 9, 12, 19}});

// Compaction's share of tiered compression: re-compressing an unsettled
// 512-line block (written at level 1) at the settled level.
void BM_SettleBlock(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  LineGenerator generator(6);
  Batch batch(generator, 512, 1);
  store::BlockBuilder builder(store::BlockEncoding{1, false});
  for (const store::EntryView& v : batch.views) builder.Add(v);
  std::string payload, settled;
  store::BlockMeta meta;
  builder.Finish(&payload, &meta);
  for (auto _ : state) {
    if (!store::SettleBlock(payload, level, nullptr, nullptr, &settled))
      state.SkipWithError("not settled");
    benchmark::DoNotOptimize(settled.data());
  }
  state.SetItemsProcessed(state.iterations() * 512);
  state.counters["bytes_per_line"] = static_cast<double>(settled.size()) / 512;
}
BENCHMARK(BM_SettleBlock)->Arg(3)->Arg(9)->Arg(19);

// BM_SettleBlock at level 3 with a dictionary (store/dictionaries.h) built
// from other devices' lines of the same corpus: the CPU and bytes a
// dictionary changes for a block of range(0) lines.
void BM_SettleBlockWithDictionary(benchmark::State& state) {
  const auto lines = static_cast<size_t>(state.range(0));
  store::TemplateSampler sampler;
  for (int user = 0; user < 64; ++user) {
    LineGenerator others(100 + user);
    const std::string id = "user-" + std::to_string(user);
    for (int i = 0; i < 500; ++i) {
      const CorpusLine line = others.Next();
      sampler.Observe(1, id, id, line.tag, line.message);
    }
  }
  store::DictionaryRecord record;
  uint64_t samples = 0;
  record.set_app_id(1);
  record.set_content(sampler.BuildContent(1, &samples));
  const store::CompressionDictionary dictionary(1, record, 3);
  LineGenerator generator(6);
  Batch batch(generator, lines, 1);
  store::BlockBuilder builder(store::BlockEncoding{0, false});
  for (const store::EntryView& v : batch.views) builder.Add(v);
  std::string payload, settled;
  store::BlockMeta meta;
  builder.Finish(&payload, &meta);
  for (auto _ : state) {
    if (!store::SettleBlock(payload, 3, &dictionary, nullptr, &settled))
      state.SkipWithError("not settled");
    benchmark::DoNotOptimize(settled.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * lines));
  state.counters["bytes_per_line"] = static_cast<double>(settled.size()) / lines;
  state.counters["dictionary_bytes"] = static_cast<double>(record.content().size());
}
BENCHMARK(BM_SettleBlockWithDictionary)->Arg(20)->Arg(512)->Arg(4096);

// fieldlog's write path: batches of 512 lines from 1,000 devices in turn.
void BM_WriterAppend(benchmark::State& state) {
  const std::string path = TempPath("writer");
  store::StoreOptions options;
  options.path = path;
  auto store = *store::Store::Open(options);
  LineGenerator generator(3);
  constexpr size_t kBatch = 512;
  constexpr int kDevices = 1000;
  std::vector<Batch> batches = MakeBatches(generator, kBatch);
  const std::vector<std::string> devices = DeviceIds(kDevices);
  std::vector<uint64_t> next_seq(kDevices, 1);
  uint64_t i = 0;
  for (auto _ : state) {
    const int d = static_cast<int>(i % kDevices);
    Batch& batch = batches[i % batches.size()];
    batch.Renumber(next_seq[d]);
    store::AppendRequest request;
    request.app = 1;
    request.device_id = devices[d];
    request.receive_time_us = kBaseTime;
    request.entries = batch.views;
    absl::StatusOr<store::AppendResult> result = store->writer().Append(request);
    if (!result.ok() || result->stored != kBatch) state.SkipWithError("append failed");
    next_seq[d] += kBatch;
    ++i;
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  store->db()->CompactRange(rocksdb::CompactRangeOptions(), store->family(store::Family::kBlocks),
                            nullptr, nullptr);
  store->db()->CompactRange(rocksdb::CompactRangeOptions(),
                            store->family(store::Family::kBlockMeta), nullptr, nullptr);
  const uint64_t bytes = SstBytes(store->db(), store->family(store::Family::kBlocks)) +
                         SstBytes(store->db(), store->family(store::Family::kBlockMeta));
  state.counters["disk_bytes_per_line"] =
      static_cast<double>(bytes) / static_cast<double>(state.iterations() * kBatch);
  store.reset();
  std::filesystem::remove_all(path);
}
BENCHMARK(BM_WriterAppend)->UseRealTime()->Unit(benchmark::kMicrosecond);

// A device trickling lines (32 per batch, as an app logs slowly and the agent
// sends on batch age): the small tail block is read, extended and rewritten
// until it passes Writer::kSmallBlockLines, so this is the write path's
// read-modify-write case, against the 512-line case above.
void BM_WriterAppendTrickle(benchmark::State& state) {
  const std::string path = TempPath("trickle");
  store::StoreOptions options;
  options.path = path;
  auto store = *store::Store::Open(options);
  LineGenerator generator(4);
  const size_t batch_lines = static_cast<size_t>(state.range(0));
  constexpr int kDevices = 1000;
  std::vector<Batch> batches = MakeBatches(generator, batch_lines);
  const std::vector<std::string> devices = DeviceIds(kDevices);
  std::vector<uint64_t> next_seq(kDevices, 1);
  uint64_t i = 0;
  for (auto _ : state) {
    const int d = static_cast<int>(i % kDevices);
    Batch& batch = batches[i % batches.size()];
    batch.Renumber(next_seq[d]);
    store::AppendRequest request;
    request.app = 1;
    request.device_id = devices[d];
    request.receive_time_us = kBaseTime;
    request.entries = batch.views;
    absl::StatusOr<store::AppendResult> result = store->writer().Append(request);
    if (!result.ok() || result->stored != batch_lines) state.SkipWithError("append failed");
    next_seq[d] += batch_lines;
    ++i;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch_lines));
  store.reset();
  std::filesystem::remove_all(path);
}
BENCHMARK(BM_WriterAppendTrickle)->Arg(32)->UseRealTime()->Unit(benchmark::kMicrosecond);

// A day of 100 devices in batches of range(0) lines, 3,072 lines per device,
// with the compression variant range(1) (kVariants below; 2 is the default):
// the write path's process CPU per line, flushes and compactions included,
// and the bytes on disk after a full compaction.
void BM_WriterAppendDay(benchmark::State& state) {
  const std::string path = TempPath("day");
  store::StoreOptions options;
  options.path = path;
  // Variants: {ingest zstd level, settled level, merge}.
  constexpr struct {
    int ingest, settled;
    bool merge;
  } kVariants[] = {{1, 3, false}, {1, 3, true}, {0, 3, true}, {0, 1, true}, {1, 1, true}};
  const auto& variant = kVariants[state.range(1)];
  options.zstd_level = variant.ingest;
  options.settled_zstd_level = variant.settled;
  if (!variant.merge) options.merge_lines = 0;
  auto store = *store::Store::Open(options);
  LineGenerator generator(7);
  const auto batch_lines = static_cast<size_t>(state.range(0));
  constexpr int kDevices = 100;
  constexpr uint64_t kLinesPerDevice = 3072;
  std::vector<Batch> batches = MakeBatches(generator, batch_lines);
  const std::vector<std::string> devices = DeviceIds(kDevices);
  // Writes every device's day from seq 1, round by round.
  const auto write_day = [&]() {
    std::vector<uint64_t> next_seq(kDevices, 1);
    for (uint64_t round = 0; round * batch_lines < kLinesPerDevice; ++round) {
      for (int d = 0; d < kDevices; ++d) {
        Batch& batch = batches[(round + d) % batches.size()];
        batch.Renumber(next_seq[d]);
        store::AppendRequest request;
        request.app = 1;
        request.device_id = devices[d];
        request.receive_time_us = kBaseTime + static_cast<int64_t>(round) * 1'000'000;
        request.entries = batch.views;
        absl::StatusOr<store::AppendResult> result = store->writer().Append(request);
        if (!result.ok() || result->stored != batch_lines) state.SkipWithError("append failed");
        next_seq[d] += batch_lines;
      }
    }
    store->writer().WaitForMerges();
  };
  // Process CPU, so RocksDB's flushes and compactions (and the settling of
  // blocks in them) count too.
  double cpu_seconds = 0;
  for (auto _ : state) {
    const std::clock_t cpu_start = std::clock();
    write_day();
    // Including the flushes and compactions this day's writes call for.
    store->db()->Flush(rocksdb::FlushOptions());
    for (uint64_t pending = 1, running = 1; pending + running > 0;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      store->db()->GetIntProperty("rocksdb.compaction-pending", &pending);
      store->db()->GetIntProperty("rocksdb.num-running-compactions", &running);
    }
    cpu_seconds += static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    state.PauseTiming();
    // The next iteration writes the same devices again from seq 1: a new app.
    store.reset();
    std::filesystem::remove_all(path);
    store = *store::Store::Open(options);
    state.ResumeTiming();
  }
  const double lines = static_cast<double>(state.iterations() * kDevices * kLinesPerDevice);
  state.SetItemsProcessed(static_cast<int64_t>(lines));
  state.counters["process_cpu_us_per_line"] = cpu_seconds * 1e6 / lines;
  // Bytes on disk of one more day, after a full compaction.
  write_day();
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (store::Family family : {store::Family::kBlocks, store::Family::kBlockMeta}) {
    store->db()->CompactRange(compact, store->family(family), nullptr, nullptr);
  }
  const uint64_t bytes = SstBytes(store->db(), store->family(store::Family::kBlocks)) +
                         SstBytes(store->db(), store->family(store::Family::kBlockMeta));
  state.counters["disk_bytes_per_line"] =
      static_cast<double>(bytes) / static_cast<double>(kDevices * kLinesPerDevice);
  store.reset();
  std::filesystem::remove_all(path);
}
BENCHMARK(BM_WriterAppendDay)
    ->ArgsProduct({{64, 512}, {0, 1, 2, 3, 4}})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

// A fleet of range(0) devices sharing 2,000,000 lines (each device's own
// generated lines, in batches of at most 512: a device of 20 lines sends one
// batch of 20; two devices a user), with compression dictionaries off (range(1) 0) or on (1):
// the bytes on disk per line after a full compaction, blocks and metas, and
// the process CPU per line of the appends, merges and compactions. Small
// devices leave small blocks, which zstd compresses badly on their own; this
// is what the dictionaries are for (store/dictionaries.h).
void BM_WriterLightFleet(benchmark::State& state) {
  const auto devices = static_cast<int>(state.range(0));
  const bool dictionaries = state.range(1) != 0;
  constexpr int64_t kTotalLines = 2'000'000;
  const int64_t lines_per_device = kTotalLines / devices;
  const std::vector<std::string> ids = DeviceIds(devices);
  std::vector<std::string> users;  // two devices a user
  for (int u = 0; u < (devices + 1) / 2; ++u) users.push_back("user-" + std::to_string(u));
  for (auto _ : state) {
    const std::string path = TempPath("fleet");
    store::StoreOptions options;
    options.path = path;
    options.compression_dictionaries = dictionaries;
    auto store = *store::Store::Open(options);
    double cpu_seconds = 0;
    for (int d = 0; d < devices; ++d) {
      LineGenerator generator(1000 + d);
      for (int64_t first = 1; first <= lines_per_device; first += 512) {
        Batch batch(generator, std::min<int64_t>(512, lines_per_device - first + 1), first);
        for (store::EntryView& v : batch.views) v.user_id = users[d / 2];
        store::AppendRequest request;
        request.app = 1;
        request.device_id = ids[d];
        request.receive_time_us = kBaseTime;
        request.entries = batch.views;
        // The process's CPU (background compactions included), not the
        // generator's.
        const std::clock_t start = std::clock();
        if (!store->writer().Append(request).ok()) state.SkipWithError("append failed");
        cpu_seconds += static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
      }
    }
    const std::clock_t start = std::clock();
    store->writer().WaitForMerges();
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (store::Family family : {store::Family::kBlocks, store::Family::kBlockMeta}) {
      // Twice: RocksDB may move a file down a level without rewriting it,
      // and a moved file skips the compaction filter that settles blocks
      // (a single pass left 30% of the blocks of 100,000 devices unsettled).
      store->db()->Flush(rocksdb::FlushOptions(), store->family(family));
      for (int pass = 0; pass < 2; ++pass) {
        store->db()->CompactRange(compact, store->family(family), nullptr, nullptr);
      }
    }
    cpu_seconds += static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
    const uint64_t blocks = SstBytes(store->db(), store->family(store::Family::kBlocks));
    const uint64_t metas = SstBytes(store->db(), store->family(store::Family::kBlockMeta));
    const double lines = static_cast<double>(lines_per_device * devices);
    state.counters["disk_bytes_per_line"] = static_cast<double>(blocks + metas) / lines;
    state.counters["block_bytes_per_line"] = static_cast<double>(blocks) / lines;
    state.counters["process_cpu_us_per_line"] = cpu_seconds * 1e6 / lines;
    // The shares of blocks settled (encoding flag 0x10) and compressed with a
    // dictionary (0x40).
    {
      size_t with = 0, settled = 0, all = 0;
      std::unique_ptr<rocksdb::Iterator> it(
          store->db()->NewIterator(rocksdb::ReadOptions(), store->family(store::Family::kBlocks)));
      for (it->SeekToFirst(); it->Valid(); it->Next(), ++all) {
        const uint8_t encoding = it->value().size() > 1 ? it->value()[1] : 0;
        with += (encoding & 0x40) != 0;
        settled += (encoding & 0x10) != 0;
      }
      state.counters["blocks_with_dictionary"] = all ? static_cast<double>(with) / all : 0;
      state.counters["blocks_settled"] = all ? static_cast<double>(settled) / all : 0;
    }
    const auto dictionary = store->dictionaries().Newest(1);
    state.counters["dictionary_bytes"] =
        dictionary ? static_cast<double>(dictionary->record().content().size()) : 0;
    store.reset();
    std::filesystem::remove_all(path);
  }
}
BENCHMARK(BM_WriterLightFleet)
    ->ArgsProduct({{1000, 10000, 100000}, {0, 1}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// The baseline: one RocksDB key per line (36-byte key, the serialized entry
// as value), WriteBatches of 1,000, WAL on, no sync, zstd.
void BM_KeyPerLineBaseline(benchmark::State& state) {
  const std::string path = TempPath("keyperline");
  rocksdb::Options options;
  options.create_if_missing = true;
  options.compression = rocksdb::kZSTD;
  rocksdb::DB* raw_db = nullptr;
  if (!rocksdb::DB::Open(options, path, &raw_db).ok()) {
    state.SkipWithError("cannot open RocksDB");
    return;
  }
  std::unique_ptr<rocksdb::DB> db(raw_db);
  LineGenerator generator(3);
  std::vector<std::string> values;
  for (int i = 0; i < 4096; ++i) {
    const CorpusLine line = generator.Next();
    v1::Entry entry;
    entry.set_time_unix_micros(kBaseTime + i);
    entry.set_level(line.level);
    entry.set_tag(line.tag);
    entry.set_message(line.message);
    values.push_back(entry.SerializeAsString());
  }
  constexpr size_t kBatch = 1000;
  uint64_t n = 0;
  for (auto _ : state) {
    rocksdb::WriteBatch batch;
    for (size_t k = 0; k < kBatch; ++k, ++n) {
      // 36 bytes: app, device (1,000 of them), seq.
      const std::string key = absl::StrFormat("app1|device-%013d|%010d", n % 1000, n / 1000);
      batch.Put(key, values[n % values.size()]);
    }
    if (!db->Write(rocksdb::WriteOptions(), &batch).ok()) state.SkipWithError("write failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr);
  uint64_t bytes = 0;
  db->GetIntProperty("rocksdb.total-sst-files-size", &bytes);
  state.counters["disk_bytes_per_line"] =
      static_cast<double>(bytes) / static_cast<double>(state.iterations() * kBatch);
  db.reset();
  std::filesystem::remove_all(path);
}
BENCHMARK(BM_KeyPerLineBaseline)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace fieldlog::bench

BENCHMARK_MAIN();
