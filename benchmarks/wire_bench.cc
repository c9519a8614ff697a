// Wire micro benchmarks on loghub-shaped lines: encoding a 512-entry batch as
// the agent puts it on the stream (v1::IngestRequest), and the collector's
// side, parsing it back into messages (reused, fresh, on an arena) and
// decoding and validating its entries, next to its same-run baseline, a
// memcpy of the same bytes (what the transport cannot do better than); and
// the collector's whole read of a request both ways, protobuf messages then
// the message path against entries decoded straight from the wire.
//
//   build/bin/wire_bench [--benchmark_format=json]
#include <cstring>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "benchmarks/fleet.h"
#include "collector/batch_decoder.h"
#include "collector/validation.h"
#include "collector/wire_batch.h"
#include "fieldlog/v1/ingest.pb.h"

namespace fieldlog::bench {
namespace {

v1::IngestRequest MakeRequest(size_t entries) {
  FleetSpec spec;
  spec.devices = 1;
  spec.lines_per_device = static_cast<int>(entries);
  spec.start_us = absl::ToUnixMicros(absl::Now()) - spec.span_us;
  const Fleet fleet(spec);
  const GeneratedLines lines = fleet.Lines(0);
  v1::IngestRequest request;
  v1::Batch* batch = request.mutable_batch();
  batch->set_batch_id(1);
  batch->set_user_id(fleet.UserId(0));
  batch->set_session_id("6f1c2a4e-93b4-4b7e-8f0e-2f3d4c5b6a79");
  batch->set_sent_at_unix_micros(spec.start_us + spec.span_us);
  for (size_t i = 0; i < lines.size(); ++i) {
    const LineView line = lines[i];
    v1::Entry* entry = batch->add_entries();
    entry->set_seq(i + 1);
    entry->set_time_unix_micros(line.time_us);
    entry->set_level(line.level);
    entry->set_tag(line.tag.data(), line.tag.size());
    entry->set_message(line.message.data(), line.message.size());
  }
  return request;
}

void BM_WireEncodeBatch(benchmark::State& state) {
  const v1::IngestRequest request = MakeRequest(static_cast<size_t>(state.range(0)));
  std::string bytes;
  for (auto _ : state) {
    bytes.clear();
    request.AppendToString(&bytes);
    benchmark::DoNotOptimize(bytes.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
  state.counters["wire_bytes_per_line"] = static_cast<double>(bytes.size()) / state.range(0);
}
BENCHMARK(BM_WireEncodeBatch)->Arg(512)->Arg(4096);

void BM_WireDecodeBatch(benchmark::State& state) {
  const std::string bytes = MakeRequest(static_cast<size_t>(state.range(0))).SerializeAsString();
  v1::IngestRequest request;
  for (auto _ : state) {
    request.Clear();
    if (!request.ParseFromString(bytes)) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(request.batch().entries_size());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_WireDecodeBatch)->Arg(512)->Arg(4096);

// As the collector parses today: a new message per request, freed after it
// (no reuse of the entries' strings), against parsing on an arena (one block
// of memory per request, freed at once). The gap is what per-entry mallocs
// cost the server: malloc was a fifth of its profile at full speed.
void BM_WireDecodeBatchFresh(benchmark::State& state) {
  const std::string bytes = MakeRequest(static_cast<size_t>(state.range(0))).SerializeAsString();
  const bool arena = state.range(1) != 0;
  for (auto _ : state) {
    if (arena) {
      google::protobuf::ArenaOptions options;
      options.start_block_size = bytes.size() * 2;
      google::protobuf::Arena memory(options);
      auto* request = google::protobuf::Arena::CreateMessage<v1::IngestRequest>(&memory);
      if (!request->ParseFromString(bytes)) state.SkipWithError("parse failed");
      benchmark::DoNotOptimize(request->batch().entries_size());
    } else {
      auto request = std::make_unique<v1::IngestRequest>();
      if (!request->ParseFromString(bytes)) state.SkipWithError("parse failed");
      benchmark::DoNotOptimize(request->batch().entries_size());
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_WireDecodeBatchFresh)->ArgsProduct({{512}, {0, 1}});

// The collector's decode-and-validate pass over a parsed batch
// (collector::DecodeBatch: every entry checked and turned into a store view).
void BM_DecodeAndValidateBatch(benchmark::State& state) {
  const v1::IngestRequest request = MakeRequest(static_cast<size_t>(state.range(0)));
  const int64_t now = request.batch().sent_at_unix_micros();
  collector::DecodedBatch decoded;
  for (auto _ : state) {
    collector::DecodeBatch(request.batch(), now, 0, &decoded);
    if (!decoded.rejected.empty()) state.SkipWithError(decoded.rejected[0].reason().c_str());
    benchmark::DoNotOptimize(decoded.entries.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_DecodeAndValidateBatch)->Arg(512);

// A request's bytes to the store's views, as the collector reads a batch:
// /0 the way it did, parsing messages on an arena sized for the request, then
// validating and decoding them (BM_WireDecodeBatchFresh/512/1 plus
// BM_DecodeAndValidateBatch); /1 decoding the entries straight from the
// bytes (wire_batch.h), then validating and decoding those.
void BM_DecodeAndValidateRequest(benchmark::State& state) {
  const v1::IngestRequest message = MakeRequest(static_cast<size_t>(state.range(0)));
  const std::string bytes = message.SerializeAsString();
  const int64_t now = message.batch().sent_at_unix_micros();
  const bool wire = state.range(1) != 0;
  collector::DecodedBatch decoded;
  for (auto _ : state) {
    if (wire) {
      collector::WireRequest request;
      if (!collector::ReadIngestRequest(bytes, &request)) state.SkipWithError("decode failed");
      if (!collector::ValidateBatch(request.batch).ok()) state.SkipWithError("invalid batch");
      collector::DecodeBatch(request.batch, now, 0, &decoded);
    } else {
      google::protobuf::ArenaOptions options;
      options.start_block_size = bytes.size() * 2;
      options.max_block_size = options.start_block_size;
      google::protobuf::Arena memory(options);
      auto* request = google::protobuf::Arena::CreateMessage<v1::IngestRequest>(&memory);
      if (!request->ParseFromString(bytes)) state.SkipWithError("parse failed");
      if (!collector::ValidateBatch(request->batch()).ok()) state.SkipWithError("invalid batch");
      collector::DecodeBatch(request->batch(), now, 0, &decoded);
    }
    if (!decoded.rejected.empty()) state.SkipWithError(decoded.rejected[0].reason().c_str());
    benchmark::DoNotOptimize(decoded.entries.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_DecodeAndValidateRequest)->ArgsProduct({{512}, {0, 1}});

// The baseline: copying the batch's bytes once.
void BM_WireCopyBaseline(benchmark::State& state) {
  const std::string bytes = MakeRequest(static_cast<size_t>(state.range(0))).SerializeAsString();
  std::string copy(bytes.size(), '\0');
  for (auto _ : state) {
    std::memcpy(copy.data(), bytes.data(), bytes.size());
    benchmark::DoNotOptimize(copy.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_WireCopyBaseline)->Arg(512);

}  // namespace
}  // namespace fieldlog::bench

BENCHMARK_MAIN();
