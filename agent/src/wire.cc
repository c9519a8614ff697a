#include "agent/src/wire.h"

#include <cstring>

namespace fieldlog::agent::wire {
namespace {
constexpr int kBatchId = 1, kBatchSession = 2, kBatchUser = 3, kBatchSentAt = 4, kBatchEntries = 5;
constexpr int kRequestBatch = 2, kRequestCompressedBatch = 3;
constexpr int kCompressedCodec = 1, kCompressedData = 2;
constexpr uint64_t kCodecZstd = 1;
constexpr int kEntrySeq = 1;
}  // namespace

bool GetVarint(std::string_view data, size_t* pos, uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && *pos < data.size(); shift += 7) {
    const auto byte = static_cast<uint8_t>(data[(*pos)++]);
    result |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if (byte < 0x80) {
      *value = result;
      return true;
    }
  }
  return false;
}

void PutDoubleField(std::string* out, int field, double value) {
  PutTag(out, field, 1);
  char bytes[8];
  std::memcpy(bytes, &value, 8);  // little-endian hosts, as protobuf's wire format
  out->append(bytes, 8);
}

void AppendBatchEntry(std::string* out, uint64_t seq, std::string_view body) {
  PutTag(out, kBatchEntries, 2);
  PutVarint(out, 1 + VarintSize(seq) + body.size());
  PutVarintField(out, kEntrySeq, seq);
  out->append(body.data(), body.size());
}

std::string BatchHeader(uint64_t batch_id, std::string_view session_id, std::string_view user_id,
                        int64_t sent_at_unix_micros) {
  std::string header;
  PutVarintField(&header, kBatchId, batch_id);
  PutBytesField(&header, kBatchSession, session_id);
  if (!user_id.empty()) PutBytesField(&header, kBatchUser, user_id);
  PutVarintField(&header, kBatchSentAt, static_cast<uint64_t>(sent_at_unix_micros));
  return header;
}

std::string BatchRequest(uint64_t batch_id, std::string_view session_id, std::string_view user_id,
                         int64_t sent_at_unix_micros, std::string_view entries) {
  return BatchRequest(BatchHeader(batch_id, session_id, user_id, sent_at_unix_micros), entries);
}

std::string BatchRequest(std::string_view header, std::string_view entries) {
  std::string out;
  const size_t batch_size = header.size() + entries.size();
  out.reserve(batch_size + 12);
  PutTag(&out, kRequestBatch, 2);
  PutVarint(&out, batch_size);
  out.append(header.data(), header.size());
  out.append(entries.data(), entries.size());
  return out;
}

std::string CompressedBatchRequest(std::string_view zstd_frame) {
  // IngestRequest{compressed_batch: {codec, data}}, written in one pass: the
  // inner message's size is known ahead (tags are one byte each).
  const size_t inner =
      1 + VarintSize(kCodecZstd) + 1 + VarintSize(zstd_frame.size()) + zstd_frame.size();
  std::string out;
  out.reserve(1 + VarintSize(inner) + inner);
  PutTag(&out, kRequestCompressedBatch, 2);
  PutVarint(&out, inner);
  PutVarintField(&out, kCompressedCodec, kCodecZstd);
  PutBytesField(&out, kCompressedData, zstd_frame);
  return out;
}

}  // namespace fieldlog::agent::wire
