// Fuzz target over the collector's decode and validate path: arbitrary bytes
// as an IngestRequest, its batch (plain or zstd-compressed by the client)
// decompressed, decoded and validated entry by entry, the
// accepted entries encoded as a block and decoded back; and the same bytes
// as a block payload (the store's reader must refuse garbage, not crash).
//
// With clang it links against libFuzzer (scripts/fuzz.sh); with g++ the
// smoke driver in smoke_main.cc runs it over seeds and mutations under ctest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "collector/batch_decoder.h"
#include "collector/compressed_batch.h"
#include "collector/validation.h"
#include "fieldlog/v1/ingest.pb.h"
#include "store/block.h"

namespace {

// A fixed clock keeps runs reproducible.
constexpr int64_t kNowUs = 1'795'000'000'000'000;

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fieldlog;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);

  // The reader never trusts a payload.
  if (absl::StatusOr<store::BlockReader> reader = store::BlockReader::Open(bytes); reader.ok()) {
    std::vector<store::AttributeView> attributes;
    for (size_t row = 0; row < reader->size(); ++row) reader->Row(row, &attributes);
  }

  v1::IngestRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (request.has_hello()) (void)collector::ValidateDevice(request.hello().device());
  v1::Batch decompressed;
  if (request.has_compressed_batch()) {
    if (!collector::DecompressBatch(request.compressed_batch(), &decompressed).ok()) return 0;
  } else if (!request.has_batch()) {
    return 0;
  }
  const v1::Batch& batch = request.has_batch() ? request.batch() : decompressed;
  if (!collector::ValidateBatch(batch).ok()) return 0;

  collector::DecodedBatch decoded;
  const std::optional<int64_t> offset =
      batch.sent_at_unix_micros() > 0 ? std::optional<int64_t>(kNowUs - batch.sent_at_unix_micros())
                                      : std::nullopt;
  collector::DecodeBatch(batch, kNowUs, offset, &decoded);
  Check(decoded.entries.size() + decoded.rejected.size() ==
        static_cast<size_t>(batch.entries_size()));

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
