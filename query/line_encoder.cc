#include "query/line_encoder.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/base/macros.h"

namespace fieldlog::query {
namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2 };

size_t VarintSize(uint64_t value) {
  return value < 0x80 ? 1 : static_cast<size_t>(std::bit_width(value) + 6) / 7;
}

// Fields 1-15 take a one-byte tag, 16 and up (to 2047) two.
size_t TagSize(uint32_t field) { return field < 16 ? 1 : 2; }

// proto3 leaves empty strings and zero numbers out (fields outside a oneof).
size_t StringFieldSize(uint32_t field, absl::string_view value) {
  return value.empty() ? 0 : TagSize(field) + VarintSize(value.size()) + value.size();
}
size_t VarintFieldSize(uint32_t field, uint64_t value) {
  return value == 0 ? 0 : TagSize(field) + VarintSize(value);
}

// v1::Value, a oneof: its one member is written even when zero or empty.
size_t ValueSize(const store::AttributeView& a) {
  switch (a.type) {
    case store::AttributeView::Type::kString:
      return 1 + VarintSize(a.string_value.size()) + a.string_value.size();
    case store::AttributeView::Type::kInt:
      return 1 + VarintSize(static_cast<uint64_t>(a.int_value));
    case store::AttributeView::Type::kDouble:
      return 1 + 8;
    case store::AttributeView::Type::kBool:
      return 1 + 1;
  }
  return 0;
}

// v1::Attribute {bytes key = 1; Value value = 2}: the value field is always
// there.
size_t AttributeSize(const store::AttributeView& a, size_t value_size) {
  return StringFieldSize(1, a.key) + 1 + VarintSize(value_size) + value_size;
}

// Writes wire bytes at a position the caller has sized for them.
class WireWriter {
 public:
  explicit WireWriter(char* at) : at_(at) {}
  char* at() const { return at_; }

  void Varint(uint64_t value) {
    while (value >= 0x80) {
      *at_++ = static_cast<char>(value | 0x80);
      value >>= 7;
    }
    *at_++ = static_cast<char>(value);
  }
  void Tag(uint32_t field, WireType type) { Varint((field << 3) | type); }
  void Bytes(absl::string_view bytes) {
    std::memcpy(at_, bytes.data(), bytes.size());
    at_ += bytes.size();
  }
  void LengthDelimited(uint32_t field, absl::string_view bytes) {
    Tag(field, kLengthDelimited);
    Varint(bytes.size());
    Bytes(bytes);
  }
  void StringField(uint32_t field, absl::string_view value) {
    if (!value.empty()) LengthDelimited(field, value);
  }
  void VarintField(uint32_t field, uint64_t value) {
    if (value == 0) return;
    Tag(field, kVarint);
    Varint(value);
  }

 private:
  char* at_;
};

// One row's fields, read once: sized first, then written.
struct RowFields {
  absl::string_view user_id, session_id, tag, message, file, function;
  uint64_t seq, time, device_time, receive_time, level, line, kind;
};

}  // namespace

void AppendLogLineField(const store::BlockReader& b, size_t row, absl::string_view app,
                        absl::string_view device_id, std::string* out) {
  static_assert(std::endian::native == std::endian::little);
  // Scratch, reused: a page encodes thousands of rows.
  thread_local std::vector<store::AttributeView> attributes;
  thread_local std::vector<size_t> value_sizes;
  const RowFields f{
      .user_id = b.user_id(row),
      .session_id = b.session_id(row),
      .tag = b.tag(row),
      .message = b.message(row),
      .file = b.file(row),
      .function = b.function(row),
      .seq = b.seq(row),
      .time = static_cast<uint64_t>(b.time_us(row)),
      .device_time = static_cast<uint64_t>(b.device_time_us(row)),
      .receive_time = static_cast<uint64_t>(b.receive_time_us(row)),
      // Enums go out as int64: negative values as 10-byte varints.
      .level = static_cast<uint64_t>(static_cast<int64_t>(b.level(row))),
      .line = b.line(row),
      .kind = static_cast<uint64_t>(static_cast<int64_t>(b.kind(row))),
  };
  b.Attributes(row, &attributes);
  value_sizes.clear();
  size_t size =
      StringFieldSize(1, app) + StringFieldSize(2, device_id) + StringFieldSize(3, f.user_id) +
      StringFieldSize(4, f.session_id) + VarintFieldSize(5, f.seq) + VarintFieldSize(6, f.time) +
      VarintFieldSize(7, f.device_time) + VarintFieldSize(8, f.receive_time) +
      VarintFieldSize(9, f.level) + StringFieldSize(10, f.tag) + StringFieldSize(11, f.message) +
      StringFieldSize(12, f.file) + VarintFieldSize(13, f.line) + StringFieldSize(14, f.function) +
      VarintFieldSize(16, f.kind);
  for (const store::AttributeView& a : attributes) {
    const size_t attribute = AttributeSize(a, value_sizes.emplace_back(ValueSize(a)));
    size += 1 + VarintSize(attribute) + attribute;
  }

  // Field 1 of a SearchResponse: tag, length, the LogLine, written straight
  // into `out` (grown once, not byte by byte).
  const size_t start = out->size();
  out->resize(start + 1 + VarintSize(size) + size);
  WireWriter w(out->data() + start);
  w.Tag(1, kLengthDelimited);
  w.Varint(size);
  w.StringField(1, app);
  w.StringField(2, device_id);
  w.StringField(3, f.user_id);
  w.StringField(4, f.session_id);
  w.VarintField(5, f.seq);
  w.VarintField(6, f.time);
  w.VarintField(7, f.device_time);
  w.VarintField(8, f.receive_time);
  w.VarintField(9, f.level);
  w.StringField(10, f.tag);
  w.StringField(11, f.message);
  w.StringField(12, f.file);
  w.VarintField(13, f.line);
  w.StringField(14, f.function);
  for (size_t i = 0; i < attributes.size(); ++i) {
    const store::AttributeView& a = attributes[i];
    w.Tag(15, kLengthDelimited);
    w.Varint(AttributeSize(a, value_sizes[i]));
    w.StringField(1, a.key);
    w.Tag(2, kLengthDelimited);
    w.Varint(value_sizes[i]);
    switch (a.type) {
      case store::AttributeView::Type::kString:
        w.LengthDelimited(1, a.string_value);
        break;
      case store::AttributeView::Type::kInt:
        w.Tag(2, kVarint);
        w.Varint(static_cast<uint64_t>(a.int_value));
        break;
      case store::AttributeView::Type::kDouble: {
        w.Tag(3, kFixed64);
        char bits[8];
        std::memcpy(bits, &a.double_value, 8);  // little-endian, as the wire wants
        w.Bytes(absl::string_view(bits, 8));
        break;
      }
      case store::AttributeView::Type::kBool:
        w.Tag(4, kVarint);
        w.Varint(a.bool_value ? 1 : 0);
        break;
    }
  }
  w.VarintField(16, f.kind);
  ABSL_ASSERT(w.at() == out->data() + out->size());  // sized exactly
}

void AppendNextCursorField(absl::string_view cursor, std::string* out) {
  if (cursor.empty()) return;
  const size_t start = out->size();
  out->resize(start + StringFieldSize(2, cursor));
  WireWriter(out->data() + start).LengthDelimited(2, cursor);
}

}  // namespace fieldlog::query
