// Hand-written protobuf wire encoding of the ingest messages the agent sends
// in bulk (Entry, Batch, IngestRequest): a line goes from its thread's buffer
// to the spool, and from the spool to the socket, without building protobuf
// objects. Field numbers follow proto/fieldlog/v1/ingest.proto and
// common.proto; tests/agent_core_test.cc parses the output with the generated
// classes to keep the two in step.
//
// The spool keeps an entry's body without its seq (field 1): the seq is
// prepended when the entry is framed into a batch, so a device whose seq base
// is learned late (see identity.h) never rewrites its spool.
#ifndef FIELDLOG_AGENT_SRC_WIRE_H_
#define FIELDLOG_AGENT_SRC_WIRE_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace fieldlog::agent::wire {

// Entry fields (ingest.proto).
inline constexpr int kEntryTime = 2, kEntryLevel = 3, kEntryTag = 4, kEntryMessage = 5,
                     kEntryFile = 6, kEntryLine = 7, kEntryFunction = 8, kEntryAttributes = 9,
                     kEntryKind = 10;

inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline void PutVarint(std::string* out, uint64_t v) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

// Reads a varint at *pos; false when `data` ends first or it is too long.
bool GetVarint(std::string_view data, size_t* pos, uint64_t* value);

inline void PutTag(std::string* out, int field, int wire_type) {
  PutVarint(out, static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type));
}
inline void PutVarintField(std::string* out, int field, uint64_t value) {
  PutTag(out, field, 0);
  PutVarint(out, value);
}
inline void PutBytesField(std::string* out, int field, std::string_view bytes) {
  PutTag(out, field, 2);
  PutVarint(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}
void PutDoubleField(std::string* out, int field, double value);

// One element of Batch.entries: tag, length, the seq field, then `body`.
void AppendBatchEntry(std::string* out, uint64_t seq, std::string_view body);

// A Batch's fields other than its entries: batch_id, session_id, user_id,
// sent_at_unix_micros. A serialized Batch is this followed by the entries.
std::string BatchHeader(uint64_t batch_id, std::string_view session_id, std::string_view user_id,
                        int64_t sent_at_unix_micros);

// The serialized IngestRequest{batch: {batch_id, session_id, user_id,
// sent_at_unix_micros, entries}}, where `entries` holds AppendBatchEntry's
// output.
std::string BatchRequest(uint64_t batch_id, std::string_view session_id, std::string_view user_id,
                         int64_t sent_at_unix_micros, std::string_view entries);
// The same from BatchHeader's output.
std::string BatchRequest(std::string_view header, std::string_view entries);

// The serialized IngestRequest{compressed_batch: {CODEC_ZSTD, zstd_frame}},
// where `zstd_frame` is a serialized Batch compressed by BatchCompressor.
std::string CompressedBatchRequest(std::string_view zstd_frame);

}  // namespace fieldlog::agent::wire

#endif  // FIELDLOG_AGENT_SRC_WIRE_H_
