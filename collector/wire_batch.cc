#include "collector/wire_batch.h"

#include <algorithm>
#include <cstring>

#include "common/limits.h"

namespace fieldlog::collector {
namespace {

// Wire types (google/protobuf/wire_format_lite.h).
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t kStartGroup = 3;
constexpr uint32_t kEndGroup = 4;
constexpr uint32_t kFixed32 = 5;

constexpr uint32_t Tag(uint32_t field, uint32_t wire_type) { return field << 3 | wire_type; }

// A cursor over one message's bytes. Every read checks that what it reads
// lies before `end`: a field that runs past the end of its message makes
// protobuf refuse the whole input, and so it does here.
struct Reader {
  const char* p;
  const char* end;

  bool done() const { return p >= end; }

  // A varint of at most `max_bytes` bytes, as protobuf reads one: the last
  // byte allowed may only end it, and bits beyond 64 are dropped.
  bool VarintUpTo(int max_bytes, uint64_t* out) {
    if (p < end && static_cast<uint8_t>(*p) < 0x80) {
      *out = static_cast<uint8_t>(*p++);
      return true;
    }
    uint64_t value = 0;
    const ptrdiff_t available = end - p;
    for (int i = 0; i < max_bytes && i < available; ++i) {
      const uint64_t byte = static_cast<uint8_t>(p[i]);
      value |= (byte & 0x7F) << (7 * i);
      if (byte < 0x80) {
        p += i + 1;
        *out = value;
        return true;
      }
    }
    return false;
  }

  // A varint field's value: up to 10 bytes (protobuf's VarintParse).
  bool Varint(uint64_t* out) { return VarintUpTo(10, out); }

  // A tag: at most 5 bytes, bits beyond 32 dropped (protobuf's ReadTag).
  bool ReadTag(uint32_t* out) {
    uint64_t value;
    if (!VarintUpTo(5, &value)) return false;
    *out = static_cast<uint32_t>(value);
    return true;
  }

  // A length-delimited field's bytes: a length of at most 5 bytes (protobuf's
  // ReadSize), then that many bytes, all before `end`.
  bool Bytes(absl::string_view* out) {
    uint64_t size;
    if (!VarintUpTo(5, &size) || size > static_cast<uint64_t>(end - p)) return false;
    *out = absl::string_view(p, size);
    p += size;
    return true;
  }

  bool Fixed64(uint64_t* out) {
    if (end - p < 8) return false;
    std::memcpy(out, p, 8);  // the wire is little-endian, like the hosts fieldlog runs on
    p += 8;
    return true;
  }

  bool Skip(size_t bytes) {
    if (static_cast<size_t>(end - p) < bytes) return false;
    p += bytes;
    return true;
  }

  // Skips the field whose tag was just read (a field this decoder does not
  // know, or a known field number with another wire type, which protobuf
  // also keeps as unknown). `depth` is the nesting still allowed here.
  bool SkipField(uint32_t tag, int depth);

  // Skips a group up to its end-group tag (protobuf parses unknown groups,
  // and refuses a group that does not end, or ends with another number).
  bool SkipGroup(uint32_t start_tag, int depth) {
    if (--depth < 0) return false;
    while (!done()) {
      uint32_t tag;
      if (!ReadTag(&tag)) return false;
      if ((tag & 7) == kEndGroup) return tag == start_tag + 1;
      if (!SkipField(tag, depth)) return false;
    }
    return false;
  }
};

bool Reader::SkipField(uint32_t tag, int depth) {
  if ((tag >> 3) == 0) return false;  // field number 0 (tag 0 included)
  switch (tag & 7) {
    case kVarint: {
      uint64_t ignored;
      return Varint(&ignored);
    }
    case kFixed64:
      return Skip(8);
    case kLengthDelimited: {
      absl::string_view ignored;
      return Bytes(&ignored);
    }
    case kStartGroup:
      return SkipGroup(tag, depth);
    case kFixed32:
      return Skip(4);
    default:
      // An end-group outside its group, or wire type 6 or 7.
      return false;
  }
}

// A Value's fields, merged into `attribute` (protobuf merges a repeated
// message field; each oneof member read replaces the one before).
bool MergeValue(absl::string_view bytes, int depth, store::AttributeView* attribute) {
  using Type = store::AttributeView::Type;
  Reader in{bytes.data(), bytes.data() + bytes.size()};
  while (!in.done()) {
    uint32_t tag;
    if (!in.ReadTag(&tag)) return false;
    store::AttributeView value;  // the other members back to their defaults
    value.key = attribute->key;
    switch (tag) {
      case Tag(1, kLengthDelimited):
        if (!in.Bytes(&value.string_value)) return false;
        value.type = Type::kString;
        break;
      case Tag(2, kVarint): {
        uint64_t v;
        if (!in.Varint(&v)) return false;
        value.type = Type::kInt;
        value.int_value = static_cast<int64_t>(v);
        break;
      }
      case Tag(3, kFixed64): {
        uint64_t bits;
        if (!in.Fixed64(&bits)) return false;
        value.type = Type::kDouble;
        std::memcpy(&value.double_value, &bits, sizeof(double));
        break;
      }
      case Tag(4, kVarint): {
        uint64_t v;
        if (!in.Varint(&v)) return false;
        value.type = Type::kBool;
        value.bool_value = v != 0;
        break;
      }
      default:
        if (!in.SkipField(tag, depth)) return false;
        continue;
    }
    *attribute = value;
  }
  return true;
}

bool DecodeAttribute(absl::string_view bytes, int depth, store::AttributeView* attribute) {
  Reader in{bytes.data(), bytes.data() + bytes.size()};
  while (!in.done()) {
    uint32_t tag;
    if (!in.ReadTag(&tag)) return false;
    switch (tag) {
      case Tag(1, kLengthDelimited):
        if (!in.Bytes(&attribute->key)) return false;
        break;
      case Tag(2, kLengthDelimited): {
        absl::string_view value;
        if (!in.Bytes(&value) || depth < 1 || !MergeValue(value, depth - 1, attribute)) {
          return false;
        }
        break;
      }
      default:
        if (!in.SkipField(tag, depth)) return false;
    }
  }
  return true;
}

// One Entry into `*entry`; its attributes (the first kMaxAttributes) are
// appended to `*attributes`.
bool DecodeEntry(absl::string_view bytes, int depth, WireEntry* entry,
                 std::vector<store::AttributeView>* attributes) {
  Reader in{bytes.data(), bytes.data() + bytes.size()};
  entry->first_attribute = static_cast<uint32_t>(attributes->size());
  uint64_t v;
  while (!in.done()) {
    uint32_t tag;
    if (!in.ReadTag(&tag)) return false;
    switch (tag) {
      case Tag(1, kVarint):
        if (!in.Varint(&entry->seq)) return false;
        break;
      case Tag(2, kVarint):
        if (!in.Varint(&v)) return false;
        entry->time_unix_micros = static_cast<int64_t>(v);
        break;
      case Tag(3, kVarint):
        // An open enum keeps any number, cut to 32 bits as protobuf casts it.
        if (!in.Varint(&v)) return false;
        entry->level = static_cast<int32_t>(static_cast<uint32_t>(v));
        break;
      case Tag(4, kLengthDelimited):
        if (!in.Bytes(&entry->tag)) return false;
        break;
      case Tag(5, kLengthDelimited):
        if (!in.Bytes(&entry->message)) return false;
        break;
      case Tag(6, kLengthDelimited):
        if (!in.Bytes(&entry->file)) return false;
        break;
      case Tag(7, kVarint):
        if (!in.Varint(&v)) return false;
        entry->line = static_cast<uint32_t>(v);
        break;
      case Tag(8, kLengthDelimited):
        if (!in.Bytes(&entry->function)) return false;
        break;
      case Tag(9, kLengthDelimited): {
        absl::string_view bytes;
        store::AttributeView attribute;
        if (!in.Bytes(&bytes) || depth < 1 || !DecodeAttribute(bytes, depth - 1, &attribute)) {
          return false;
        }
        // Past the limit the entry is refused for the count alone.
        if (entry->attribute_count++ < kMaxAttributes) attributes->push_back(attribute);
        break;
      }
      case Tag(10, kVarint):
        if (!in.Varint(&v)) return false;
        entry->kind = static_cast<int32_t>(static_cast<uint32_t>(v));
        break;
      default:
        if (!in.SkipField(tag, depth)) return false;
    }
  }
  return true;
}

bool DecodeCompressedBatch(absl::string_view bytes, int depth, WireRequest* request) {
  Reader in{bytes.data(), bytes.data() + bytes.size()};
  while (!in.done()) {
    uint32_t tag;
    if (!in.ReadTag(&tag)) return false;
    switch (tag) {
      case Tag(1, kVarint): {
        uint64_t v;
        if (!in.Varint(&v)) return false;
        request->codec = static_cast<int32_t>(static_cast<uint32_t>(v));
        break;
      }
      case Tag(2, kLengthDelimited):
        if (!in.Bytes(&request->compressed_data)) return false;
        break;
      default:
        if (!in.SkipField(tag, depth)) return false;
    }
  }
  return true;
}

}  // namespace

void WireBatch::Clear() {
  batch_id = 0;
  session_id = user_id = absl::string_view();
  sent_at_unix_micros = 0;
  entry_count = 0;
  entries.clear();
  attributes.clear();
}

bool MergeBatchFromWire(absl::string_view bytes, int depth, WireBatch* batch) {
  Reader in{bytes.data(), bytes.data() + bytes.size()};
  uint64_t v;
  while (!in.done()) {
    uint32_t tag;
    if (!in.ReadTag(&tag)) return false;
    switch (tag) {
      case Tag(1, kVarint):
        if (!in.Varint(&batch->batch_id)) return false;
        break;
      case Tag(2, kLengthDelimited):
        if (!in.Bytes(&batch->session_id)) return false;
        break;
      case Tag(3, kLengthDelimited):
        if (!in.Bytes(&batch->user_id)) return false;
        break;
      case Tag(4, kVarint):
        if (!in.Varint(&v)) return false;
        batch->sent_at_unix_micros = static_cast<int64_t>(v);
        break;
      case Tag(5, kLengthDelimited): {
        absl::string_view bytes;
        if (!in.Bytes(&bytes) || depth < 1) return false;
        // Past the limit the batch is refused for the count alone, but
        // every entry must still be well-formed for the request to be.
        if (batch->entries.size() < kMaxEntriesPerBatch) {
          if (!DecodeEntry(bytes, depth - 1, &batch->entries.emplace_back(), &batch->attributes)) {
            return false;
          }
        } else {
          WireEntry ignored;
          const size_t attributes = batch->attributes.size();
          if (!DecodeEntry(bytes, depth - 1, &ignored, &batch->attributes)) return false;
          batch->attributes.resize(attributes);
        }
        ++batch->entry_count;
        break;
      }
      default:
        if (!in.SkipField(tag, depth)) return false;
    }
  }
  return true;
}

bool ReadIngestRequest(absl::string_view bytes, WireRequest* request) {
  using Kind = WireRequest::Kind;
  request->kind = Kind::kNotSet;
  request->batch.Clear();
  request->codec = 0;
  request->compressed_data = absl::string_view();
  const int depth = kWireDepthLimit;
  Reader in{bytes.data(), bytes.data() + bytes.size()};
  while (!in.done()) {
    uint32_t tag;
    if (!in.ReadTag(&tag)) return false;
    switch (tag) {
      case Tag(1, kLengthDelimited):
        request->kind = Kind::kUseProtobuf;
        return true;
      case Tag(2, kLengthDelimited): {
        if (request->kind == Kind::kCompressedBatch) {
          request->kind = Kind::kUseProtobuf;
          return true;
        }
        absl::string_view batch;
        if (!in.Bytes(&batch) || !MergeBatchFromWire(batch, depth - 1, &request->batch)) {
          return false;
        }
        request->kind = Kind::kBatch;
        break;
      }
      case Tag(3, kLengthDelimited): {
        if (request->kind == Kind::kBatch) {
          request->kind = Kind::kUseProtobuf;
          return true;
        }
        absl::string_view compressed;
        if (!in.Bytes(&compressed) || !DecodeCompressedBatch(compressed, depth - 1, request)) {
          return false;
        }
        request->kind = Kind::kCompressedBatch;
        break;
      }
      default:
        if (!in.SkipField(tag, depth)) return false;
    }
  }
  return true;
}

bool ReencodeBatch(const v1::Batch& batch, OwnedWireBatch* out) {
  out->size = batch.ByteSizeLong();
  out->bytes = std::make_unique_for_overwrite<char[]>(out->size);
  batch.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out->bytes.get()));
  out->batch.Clear();
  return MergeBatchFromWire(absl::string_view(out->bytes.get(), out->size), kWireDepthLimit - 1,
                            &out->batch);
}

WireEntry EntryFromProto(const v1::Entry& entry, std::vector<store::AttributeView>* attributes) {
  WireEntry out;
  out.seq = entry.seq();
  out.time_unix_micros = entry.time_unix_micros();
  out.level = entry.level();
  out.kind = entry.kind();
  out.line = entry.line();
  out.tag = entry.tag();
  out.message = entry.message();
  out.file = entry.file();
  out.function = entry.function();
  out.attribute_count = static_cast<uint32_t>(entry.attributes_size());
  out.first_attribute = static_cast<uint32_t>(attributes->size());
  const int kept = std::min(entry.attributes_size(), static_cast<int>(kMaxAttributes));
  for (int i = 0; i < kept; ++i) {
    attributes->push_back(store::AttributeFromProto(entry.attributes(i)));
  }
  return out;
}

void BatchFromProto(const v1::Batch& batch, WireBatch* out) {
  out->Clear();
  out->batch_id = batch.batch_id();
  out->session_id = batch.session_id();
  out->user_id = batch.user_id();
  out->sent_at_unix_micros = batch.sent_at_unix_micros();
  out->entry_count = static_cast<size_t>(batch.entries_size());
  const int kept = std::min(batch.entries_size(), static_cast<int>(kMaxEntriesPerBatch));
  out->entries.reserve(kept);
  for (int i = 0; i < kept; ++i) {
    out->entries.push_back(EntryFromProto(batch.entries(i), &out->attributes));
  }
}

}  // namespace fieldlog::collector
