// The in-memory record Log() writes into its thread's RingBuffer, and the
// view the background thread reads it back through.
//
// Contract: WriteLine copies at most the ingest limits of each field (the
// background thread cuts and marks what is longer, knowing the original
// sizes), never allocates and never makes a system call; it returns false
// when the ring has no room. A record never exceeds kMaxRecordBytes, so a
// ring of twice that always accepts one when empty.
//
// Layout (native byte order, in-process only): RecordHeader, then the tag,
// message, file and function bytes, then per attribute an AttributeHeader
// followed by its key and string value bytes.
#ifndef FIELDLOG_AGENT_SRC_RECORD_H_
#define FIELDLOG_AGENT_SRC_RECORD_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

#include "agent/src/ring_buffer.h"
#include "common/limits.h"
#include "fieldlog/agent.h"

namespace fieldlog::agent {

enum class RecordType : uint8_t {
  kLine = 1,   // a log line or a marker entry
  kDrops = 2,  // lines this thread could not buffer; `message_size` holds the count
};

struct RecordHeader {
  uint32_t size;  // the whole record, a multiple of RingBuffer::kAlign
  RecordType type;
  uint8_t level;
  uint8_t kind;  // v1::EntryKind
  uint8_t attribute_count;
  int64_t time_us;
  uint32_t line;
  uint32_t user_version;
  uint32_t tag_size;      // original sizes, before any cut
  uint32_t message_size;  // kDrops: the number of lines dropped
  uint16_t tag_copied;
  uint16_t file_copied;
  uint16_t function_copied;
  uint16_t file_size;  // original, saturated
  uint32_t message_copied;
  uint32_t reserved;
};
static_assert(sizeof(RecordHeader) == 48);
// WriteLine builds the header in place, at a record's start in the ring.
static_assert(alignof(RecordHeader) <= RingBuffer::kAlign);

struct AttributeHeader {
  uint8_t type;        // Attribute::Type
  uint8_t key_copied;  // at most kMaxAttributeKeyBytes
  uint16_t reserved;
  uint32_t value_copied;
  int64_t number;  // int, double bits or bool; a string: its original size
};
static_assert(sizeof(AttributeHeader) == 16);
static_assert(kMaxAttributeKeyBytes <= UINT8_MAX);

// Everything a record may copy, whatever the caller passes: the message is
// cut at its limit first, then attribute strings share what is left.
inline constexpr size_t kMaxRecordBytes = 32 * 1024;

// The fields of one line, as Log() received them.
struct LineFields {
  uint8_t level;
  uint8_t kind;
  int64_t time_us;
  uint32_t user_version;
  std::string_view tag;
  std::string_view message;
  const char* file;  // may be null
  uint32_t line;
  const char* function;  // may be null
  const Attribute* attributes;
  size_t attribute_count;
};

// Copies `n` bytes to `dst` and returns the end. The short strings of a line
// (tag, keys, values, a typical message) move as a few fixed-size, possibly
// overlapping loads and stores rather than a call into the C library, which
// costs more than the copy itself at these sizes.
inline char* CopyBytes(char* dst, const char* src, size_t n) {
  if (n <= 16) {
    if (n >= 8) {
      std::memcpy(dst, src, 8);
      std::memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n >= 4) {
      std::memcpy(dst, src, 4);
      std::memcpy(dst + n - 4, src + n - 4, 4);
    } else if (n > 0) {
      dst[0] = src[0];
      dst[n / 2] = src[n / 2];
      dst[n - 1] = src[n - 1];
    }
  } else if (n <= 32) {
    std::memcpy(dst, src, 16);
    std::memcpy(dst + n - 16, src + n - 16, 16);
  } else if (n <= 64) {
    std::memcpy(dst, src, 32);
    std::memcpy(dst + n - 32, src + n - 32, 32);
  } else if (n <= 128) {
    std::memcpy(dst, src, 64);
    std::memcpy(dst + n - 64, src + n - 64, 64);
  } else {
    std::memcpy(dst, src, n);
  }
  return dst + n;
}

// Stores one field of a record header at `record + offset`.
template <typename T>
inline void PutField(char* record, size_t offset, T value) {
  std::memcpy(record + offset, &value, sizeof(value));
}

// Copies `f` into `ring`; false when it has no room.
inline bool WriteLine(RingBuffer* ring, const LineFields& f) {
  const size_t tag_copied = std::min(f.tag.size(), kMaxTagBytes);
  const size_t message_copied = std::min(f.message.size(), kMaxMessageBytes);
  // A long path keeps its end: the file name is the useful part.
  std::string_view file = f.file != nullptr ? std::string_view(f.file) : std::string_view();
  const size_t file_size = file.size();
  if (file.size() > kMaxFileBytes) file.remove_prefix(file.size() - kMaxFileBytes);
  std::string_view function =
      f.function != nullptr ? std::string_view(f.function) : std::string_view();
  const size_t function_copied = std::min(function.size(), kMaxFunctionBytes);
  const size_t attribute_count = std::min(f.attribute_count, kMaxAttributes);

  const size_t fixed = sizeof(RecordHeader) + tag_copied + message_copied + file.size() +
                       function_copied + attribute_count * sizeof(AttributeHeader);
  const size_t budget = kMaxRecordBytes > fixed ? kMaxRecordBytes - fixed : 0;
  // The common case: every key and value within its limit and all of them
  // within the record's budget, so each is copied whole. (A number's
  // string_value() is empty, so no type test is needed here.)
  size_t raw = 0, longest_key = 0, longest_value = 0;
  for (size_t i = 0; i < attribute_count; ++i) {
    const Attribute& a = f.attributes[i];
    raw += a.key().size() + a.string_value().size();
    longest_key = std::max(longest_key, a.key().size());
    longest_value = std::max(longest_value, a.string_value().size());
  }
  const bool whole = longest_key <= kMaxAttributeKeyBytes &&
                     longest_value <= kMaxAttributeValueBytes && raw <= budget;
  // Otherwise keys are cut to their limit and string values share what is
  // left of the budget, in order.
  const auto copied = [&](const Attribute& a, size_t* left, size_t* key, size_t* value) {
    *key = std::min(a.key().size(), kMaxAttributeKeyBytes);
    *value = std::min({a.string_value().size(), kMaxAttributeValueBytes, *left});
    *left -= std::min<size_t>(*left, *key + *value);
  };
  size_t size = fixed;
  if (whole) {
    size += raw;
  } else {
    size_t left = budget;
    for (size_t i = 0; i < attribute_count; ++i) {
      size_t key, value;
      copied(f.attributes[i], &left, &key, &value);
      size += key + value;
    }
  }
  size = RingBuffer::Aligned(size);
  char* out = ring->Reserve(size);
  if (out == nullptr) return false;

  // The header is built in place. Built on the stack and copied, its narrow
  // fields went out as separate small stores that the copy then read back
  // 16 bytes at a time, which the CPU cannot forward from its store buffer:
  // two such stalls were 40% of this function's time (perf annotate).
  RecordHeader* h = ::new (out) RecordHeader;
  h->size = static_cast<uint32_t>(size);
  h->type = RecordType::kLine;
  h->level = f.level;
  h->kind = f.kind;
  h->attribute_count = static_cast<uint8_t>(attribute_count);
  h->time_us = f.time_us;
  h->line = f.line;
  h->user_version = f.user_version;
  h->tag_size = static_cast<uint32_t>(std::min<size_t>(f.tag.size(), UINT32_MAX));
  h->message_size = static_cast<uint32_t>(std::min<size_t>(f.message.size(), UINT32_MAX));
  h->tag_copied = static_cast<uint16_t>(tag_copied);
  h->file_copied = static_cast<uint16_t>(file.size());
  h->function_copied = static_cast<uint16_t>(function_copied);
  h->file_size = static_cast<uint16_t>(std::min<size_t>(file_size, UINT16_MAX));
  h->message_copied = static_cast<uint32_t>(message_copied);
  h->reserved = 0;
  char* p = out + sizeof(RecordHeader);
  p = CopyBytes(p, f.tag.data(), tag_copied);
  p = CopyBytes(p, f.message.data(), message_copied);
  if (!file.empty()) p = CopyBytes(p, file.data(), file.size());
  if (function_copied != 0) p = CopyBytes(p, function.data(), function_copied);
  size_t left = budget;
  for (size_t i = 0; i < attribute_count; ++i) {
    const Attribute& a = f.attributes[i];
    size_t key = a.key().size(), value = a.string_value().size();
    // A string's original size, for the cut marker; a number's value.
    const int64_t number =
        a.type() == Attribute::Type::kString ? static_cast<int64_t>(value) : a.number_bits();
    if (!whole) copied(a, &left, &key, &value);
    // Field by field, for the reason the header is built in place (p is not
    // aligned for an AttributeHeader).
    PutField(p, offsetof(AttributeHeader, type), static_cast<uint8_t>(a.type()));
    PutField(p, offsetof(AttributeHeader, key_copied), static_cast<uint8_t>(key));
    PutField(p, offsetof(AttributeHeader, reserved), uint16_t{0});
    PutField(p, offsetof(AttributeHeader, value_copied), static_cast<uint32_t>(value));
    PutField(p, offsetof(AttributeHeader, number), number);
    p = CopyBytes(p + sizeof(AttributeHeader), a.key().data(), key);
    p = CopyBytes(p, a.string_value().data(), value);
  }
  ring->Commit(size);
  return true;
}

// Records `count` lines lost since the last such record; false when even
// this does not fit.
inline bool WriteDrops(RingBuffer* ring, uint64_t count, int64_t first_drop_us,
                       uint32_t user_version) {
  RecordHeader h{};
  h.size = sizeof(RecordHeader);
  h.type = RecordType::kDrops;
  h.level = static_cast<uint8_t>(Level::kWarn);
  h.time_us = first_drop_us;
  h.user_version = user_version;
  h.message_size = static_cast<uint32_t>(std::min<uint64_t>(count, UINT32_MAX));
  char* out = ring->Reserve(sizeof(h));
  if (out == nullptr) return false;
  std::memcpy(out, &h, sizeof(h));
  ring->Commit(sizeof(h));
  return true;
}

// A record read back by the background thread; views into the ring.
struct AttributeRecord {
  Attribute::Type type;
  std::string_view key;
  std::string_view value;  // copied prefix of a string value
  uint32_t value_size;     // original size of a string value
  int64_t number;
};

struct LineRecord {
  RecordHeader header;
  std::string_view tag, message, file, function;
  std::vector<AttributeRecord> attributes;
};

// Parses the record at `data` (header.type == kLine). `attributes` is reused.
void ReadLine(const char* data, LineRecord* out);

inline RecordHeader ReadHeader(const char* data) {
  RecordHeader h;
  std::memcpy(&h, data, sizeof(h));
  return h;
}

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_RECORD_H_
