// Fuzz target over the collector's decode and validate path: arbitrary bytes
// as an IngestRequest, decoded from the wire as the stream does
// (collector/wire_batch.h) and cross-checked against protobuf's parser and
// the message path (wire_oracle.h: the same verdict, the same fields, the
// same accepted entries and rejections), as a request and as a batch on its
// own; its batch (plain or zstd-compressed by the client) decoded and
// validated entry by entry, the accepted entries encoded as a block and
// decoded back; and the same bytes as a block payload (the store's reader
// must refuse garbage, not crash).
//
// With clang it links against libFuzzer (scripts/fuzz.sh); with g++ the
// smoke driver in smoke_main.cc runs it over seeds and mutations under ctest.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "collector/batch_decoder.h"
#include "collector/compressed_batch.h"
#include "collector/validation.h"
#include "collector/wire_batch.h"
#include "fieldlog/v1/ingest.pb.h"
#include "store/block.h"
#include "tests/fuzz/wire_oracle.h"

namespace {

// A fixed clock keeps runs reproducible.
constexpr int64_t kNowUs = fieldlog::testing::kOracleNowUs;

void Check(bool condition) {
  if (!condition) std::abort();
}

// The wire decoder and its oracle agree, or the difference is printed.
void CheckSame(const std::string& difference) {
  if (difference.empty()) return;
  std::fprintf(stderr, "wire decoder and protobuf disagree: %s\n", difference.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fieldlog;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);

  // The reader never trusts a payload: opened whole, or as an hour's search
  // opens it (format 4 then picks chunks by their times and rules blocks out
  // by their templates), with every message asked for afterwards.
  if (absl::StatusOr<store::BlockReader> reader = store::BlockReader::Open(bytes); reader.ok()) {
    std::vector<store::AttributeView> attributes;
    for (size_t row = 0; row < reader->size(); ++row) reader->Row(row, &attributes);
  }
  if (absl::StatusOr<store::BlockReader> reader = store::BlockReader::Open(
          bytes, store::BlockReadOptions{.messages_from_us = kNowUs - 3'600'000'000,
                                         .messages_to_us = kNowUs,
                                         .messages_containing = "took",
                                         .skip_blocks_ruled_out = true});
      reader.ok()) {
    (void)reader->RebuildMessages([](size_t) { return true; });
    for (size_t row = 0; row < reader->size(); ++row) (void)reader->message(row);
  }

  CheckSame(testing::CompareRequestBytes(bytes));
  CheckSame(testing::CompareBatchBytes(bytes));

  // The request as the stream handles it.
  collector::WireRequest request;
  if (!collector::ReadIngestRequest(bytes, &request)) return 0;
  collector::OwnedWireBatch owned;
  const collector::WireBatch* wire = nullptr;
  switch (request.kind) {
    case collector::WireRequest::Kind::kNotSet:
      return 0;
    case collector::WireRequest::Kind::kBatch:
      wire = &request.batch;
      break;
    case collector::WireRequest::Kind::kCompressedBatch:
      if (!collector::DecompressBatch(request.codec, request.compressed_data, &owned).ok()) {
        return 0;
      }
      wire = &owned.batch;
      break;
    case collector::WireRequest::Kind::kUseProtobuf: {
      v1::IngestRequest parsed;
      if (!parsed.ParseFromArray(data, static_cast<int>(size))) return 0;
      if (parsed.has_hello()) (void)collector::ValidateDevice(parsed.hello().device());
      if (parsed.has_batch()) {
        Check(collector::ReencodeBatch(parsed.batch(), &owned));
      } else if (!parsed.has_compressed_batch() ||
                 !collector::DecompressBatch(parsed.compressed_batch().codec(),
                                             parsed.compressed_batch().data(), &owned)
                      .ok()) {
        return 0;
      }
      wire = &owned.batch;
      break;
    }
  }
  const collector::WireBatch& batch = *wire;
  if (!collector::ValidateBatch(batch).ok()) return 0;

  collector::DecodedBatch decoded;
  const std::optional<int64_t> offset =
      batch.sent_at_unix_micros > 0 ? std::optional<int64_t>(kNowUs - batch.sent_at_unix_micros)
                                    : std::nullopt;
  collector::DecodeBatch(batch, kNowUs, offset, &decoded);
  Check(decoded.entries.size() + decoded.rejected.size() == batch.entry_count);

  // Whatever validation accepts, the store encodes and reads back exactly.
  std::vector<store::EntryView> entries = decoded.entries;
  std::sort(entries.begin(), entries.end(),
            [](const store::EntryView& a, const store::EntryView& b) { return a.seq < b.seq; });
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const auto& a, const auto& b) { return a.seq == b.seq; }),
                entries.end());
  if (entries.empty()) return 0;
  store::BlockBuilder builder(1);
  for (store::EntryView& e : entries) {
    e.time_us = e.device_time_us;
    builder.Add(e);
  }
  std::string payload;
  store::BlockMeta meta;
  builder.Finish(&payload, &meta);
  absl::StatusOr<store::BlockReader> reader = store::BlockReader::Open(payload);
  Check(reader.ok());
  Check(reader->size() == entries.size());
  std::vector<store::AttributeView> attributes;
  for (size_t row = 0; row < entries.size(); ++row) {
    Check(reader->seq(row) == entries[row].seq);
    Check(reader->message(row) == entries[row].message);
    Check(reader->tag(row) == entries[row].tag);
    reader->Attributes(row, &attributes);
    Check(attributes.size() == entries[row].attributes.size());
  }
  return 0;
}
