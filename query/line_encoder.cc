#include "query/line_encoder.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

#include "store/coding.h"

namespace fieldlog::query {
namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2 };

void PutTag(std::string* out, uint32_t field, WireType type) {
  store::PutVarint64(out, (field << 3) | type);
}

void PutLengthDelimited(std::string* out, uint32_t field, absl::string_view bytes) {
  PutTag(out, field, kLengthDelimited);
  store::PutVarint64(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

// proto3 leaves empty strings and zero numbers out (fields outside a oneof).
void PutStringField(std::string* out, uint32_t field, absl::string_view value) {
  if (!value.empty()) PutLengthDelimited(out, field, value);
}

// int64, uint64, uint32 and enums alike: negative values as 10-byte varints.
void PutVarintField(std::string* out, uint32_t field, uint64_t value) {
  if (value == 0) return;
  PutTag(out, field, kVarint);
  store::PutVarint64(out, value);
}

// v1::Attribute {bytes key = 1; Value value = 2}, Value being a oneof: the
// value field is always there, and its one member even when zero or empty.
void PutAttribute(const store::AttributeView& a, std::string* value, std::string* attribute) {
  value->clear();
  switch (a.type) {
    case store::AttributeView::Type::kString:
      PutLengthDelimited(value, 1, a.string_value);
      break;
    case store::AttributeView::Type::kInt:
      PutTag(value, 2, kVarint);
      store::PutVarint64(value, static_cast<uint64_t>(a.int_value));
      break;
    case store::AttributeView::Type::kDouble: {
      PutTag(value, 3, kFixed64);
      char bits[8];
      std::memcpy(bits, &a.double_value, 8);  // little-endian, as the wire wants
      value->append(bits, 8);
      break;
    }
    case store::AttributeView::Type::kBool:
      PutTag(value, 4, kVarint);
      value->push_back(a.bool_value ? 1 : 0);
      break;
  }
  attribute->clear();
  PutStringField(attribute, 1, a.key);
  PutLengthDelimited(attribute, 2, *value);
}

}  // namespace

void AppendLogLineField(const store::BlockReader& b, size_t row, absl::string_view app,
                        absl::string_view device_id, std::string* out) {
  static_assert(std::endian::native == std::endian::little);
  // Scratch, reused: a page encodes thousands of rows.
  thread_local std::string line, value, attribute;
  thread_local std::vector<store::AttributeView> attributes;
  line.clear();
  PutStringField(&line, 1, app);
  PutStringField(&line, 2, device_id);
  PutStringField(&line, 3, b.user_id(row));
  PutStringField(&line, 4, b.session_id(row));
  PutVarintField(&line, 5, b.seq(row));
  PutVarintField(&line, 6, static_cast<uint64_t>(b.time_us(row)));
  PutVarintField(&line, 7, static_cast<uint64_t>(b.device_time_us(row)));
  PutVarintField(&line, 8, static_cast<uint64_t>(b.receive_time_us(row)));
  PutVarintField(&line, 9, static_cast<uint64_t>(static_cast<int64_t>(b.level(row))));
  PutStringField(&line, 10, b.tag(row));
  PutStringField(&line, 11, b.message(row));
  PutStringField(&line, 12, b.file(row));
  PutVarintField(&line, 13, b.line(row));
  PutStringField(&line, 14, b.function(row));
  b.Attributes(row, &attributes);
  for (const store::AttributeView& a : attributes) {
    PutAttribute(a, &value, &attribute);
    PutLengthDelimited(&line, 15, attribute);
  }
  PutVarintField(&line, 16, static_cast<uint64_t>(static_cast<int64_t>(b.kind(row))));
  PutLengthDelimited(out, 1, line);
}

void AppendNextCursorField(absl::string_view cursor, std::string* out) {
  PutStringField(out, 2, cursor);
}

}  // namespace fieldlog::query
