// The collector's wire decoder (collector/wire_batch.h) against its oracle,
// protobuf's parser followed by the message path (tests/fuzz/wire_oracle.h).
//
// First differentially, on many encodings: batches built with the protobuf
// API; batches written field by field the way an unusual or hostile client
// may (any field order, repeated singular fields, repeated Attribute.value,
// unknown fields of every wire type with nested groups, over-long varints,
// enum numbers the proto does not name, values cut to 32 bits); and
// mutations of both (truncations, bit flips, random and spliced bytes, huge
// lengths), each as a batch on its own and inside an IngestRequest (plain,
// split over several fields, zstd-compressed, mixed with a hello). Then the
// wire rules one at a time, each with the verdict it must have, so that a
// failure names the rule.
#include "collector/wire_batch.h"

#include <zstd.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "collector/batch_decoder.h"
#include "collector/validation.h"
#include "common/limits.h"
#include "gtest/gtest.h"
#include "tests/fuzz/wire_oracle.h"

namespace fieldlog {
namespace {

using collector::kWireDepthLimit;
using collector::MergeBatchFromWire;
using collector::WireBatch;
using testing::CompareBatchBytes;
using testing::CompareRequestBytes;
using testing::kOracleNowUs;

// --- Writing the wire by hand ---------------------------------------------

enum WireType : uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kBytes = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// `value` as a varint, made `padding` bytes longer than it needs (a legal,
// over-long encoding while the total stays within protobuf's limits).
void PutVarint(std::string* out, uint64_t value, int padding = 0) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  if (padding == 0) {
    out->push_back(static_cast<char>(value));
    return;
  }
  out->push_back(static_cast<char>(value | 0x80));
  for (int i = 1; i < padding; ++i) out->push_back(static_cast<char>(0x80));
  out->push_back(0);
}

void PutTag(std::string* out, uint32_t field, uint32_t wire_type, int padding = 0) {
  PutVarint(out, uint64_t{field} << 3 | wire_type, padding);
}

void PutBytes(std::string* out, uint32_t field, absl::string_view bytes, int padding = 0) {
  PutTag(out, field, kBytes);
  PutVarint(out, bytes.size(), padding);
  out->append(bytes.data(), bytes.size());
}

void PutVarintField(std::string* out, uint32_t field, uint64_t value, int padding = 0) {
  PutTag(out, field, kVarint);
  PutVarint(out, value, padding);
}

void PutFixed64(std::string* out, uint32_t field, uint64_t value) {
  PutTag(out, field, kFixed64);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(value >> (8 * i)));
}

std::string Zstd(absl::string_view bytes) {
  std::string frame(ZSTD_compressBound(bytes.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), bytes.data(), bytes.size(), 1));
  return frame;
}

// --- Random encodings -------------------------------------------------------

class Generator {
 public:
  explicit Generator(uint64_t seed) : random_(seed) {}

  uint64_t Next() { return random_(); }
  bool OneIn(uint64_t n) { return random_() % n == 0; }
  size_t Below(size_t n) { return static_cast<size_t>(random_() % n); }
  template <typename T>
  T Pick(std::initializer_list<T> values) {
    return *(values.begin() + Below(values.size()));
  }

  // Mostly canonical; now and then over-long, sometimes past the limit.
  int Padding() { return OneIn(8) ? static_cast<int>(Below(OneIn(4) ? 9 : 4)) : 0; }
  int LengthPadding() { return OneIn(10) ? static_cast<int>(Below(OneIn(4) ? 6 : 4)) : 0; }

  // Valid UTF-8 within every limit most of the time, or one of the ways
  // text goes wrong.
  std::string Text() {
    if (!OneIn(4)) return Pick<std::string>({"Checkout", "request took 42ms \xC3\xA9", "", "x"});
    switch (Below(14)) {
      case 0:
        return "";
      case 1:
        return "Checkout";
      case 2:
        return "request took 42ms \xC3\xA9";
      case 3:
        return "bad \xC3\x28 utf8";
      case 4:
        return "tab\there";
      case 5:
        return "del\x7F";
      case 6:
        return std::string(Pick<size_t>({127, 128, 129, 255, 256, 257, 513}), 't');
      case 7:
        return OneIn(4) ? std::string(Pick<size_t>({4096, 4097, 16384, 16385}), 'm') : "m";
      case 8:
        return "\xF4\x90\x80\x80";  // above U+10FFFF
      case 9:
        return "\xED\xA0\x80";  // a surrogate
      case 10:
        return "trunc\xE2\x82";
      default: {
        std::string text(Below(24), '\0');
        for (char& c : text) c = static_cast<char>(OneIn(3) ? Next() : 'a' + Below(26));
        return text;
      }
    }
  }

  uint64_t Seq() {
    if (!OneIn(5)) return 1 + Below(1'000'000);
    return Pick<uint64_t>(
        {0, 1, 2, 1000, Next() % 1000000, kMaxSeq - 1, kMaxSeq, ~uint64_t{0}, Next()});
  }
  uint64_t Time() {
    const int64_t now = kOracleNowUs;
    if (!OneIn(5)) return static_cast<uint64_t>(now - static_cast<int64_t>(Below(1'000'000'000)));
    const int64_t t = Pick<int64_t>({0, -1, now - static_cast<int64_t>(Below(1'000'000'000)), now,
                                     now + 3'500'000'000, now + 3'700'000'000,
                                     now - int64_t{31} * 24 * 3'600'000'000, now - 86'400'000'000,
                                     INT64_MAX, INT64_MIN, static_cast<int64_t>(Next())});
    return static_cast<uint64_t>(t);
  }
  // Enum numbers: named, unnamed, negative (ten bytes on the wire) and wider
  // than 32 bits (protobuf keeps the low 32).
  uint64_t EnumNumber(int named) {
    if (!OneIn(5)) return Below(named);
    return Pick<uint64_t>({Below(named), Below(named), static_cast<uint64_t>(named), 100,
                           static_cast<uint64_t>(int64_t{-1}), (uint64_t{1} << 32) + Below(named),
                           static_cast<uint64_t>(int64_t{INT32_MIN}), Next()});
  }

  // A field none of the messages has, or a known number with a wire type it
  // does not have (protobuf keeps both as unknown fields).
  void PutUnknown(std::string* out, int nesting = 0) {
    const uint32_t field = static_cast<uint32_t>(OneIn(6)   ? 1 + Below(10)
                                                 : OneIn(2) ? 11 + Below(100)
                                                            : 1 + Below((1u << 29) - 1));
    switch (Below(nesting < 3 ? 5 : 4)) {
      case 0:
        PutVarintField(out, field, Next() >> Below(64), Padding());
        break;
      case 1:
        PutFixed64(out, field, Next());
        break;
      case 2:
        PutBytes(out, field, Text());
        break;
      case 3:
        PutTag(out, field, kFixed32);
        for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(Next()));
        break;
      case 4: {
        PutTag(out, field, kStartGroup);
        const size_t fields = Below(4);
        for (size_t i = 0; i < fields; ++i) PutUnknown(out, nesting + 1);
        PutTag(out, field, kEndGroup);
        break;
      }
    }
  }

  // Writes the fields in a random order, each of `emitters` maybe twice or
  // left out, with unknown fields in between.
  std::string Message(std::vector<std::function<void(std::string*)>> emitters) {
    std::vector<std::function<void(std::string*)>> chosen;
    for (auto& emit : emitters) {
      if (OneIn(16)) continue;
      chosen.push_back(emit);
      if (OneIn(10)) chosen.push_back(emit);
    }
    if (OneIn(2)) {
      std::shuffle(chosen.begin(), chosen.end(), random_);
    }
    std::string out;
    for (auto& emit : chosen) {
      if (OneIn(12)) PutUnknown(&out);
      emit(&out);
    }
    if (OneIn(12)) PutUnknown(&out);
    return out;
  }

  std::string Value() {
    std::string out;
    const size_t members = Below(4);
    for (size_t i = 0; i < members; ++i) {
      switch (Below(5)) {
        case 0:
          PutBytes(&out, 1, Text(), LengthPadding());
          break;
        case 1:
          PutVarintField(&out, 2, Next() >> Below(64), Padding());
          break;
        case 2:
          PutFixed64(&out, 3, OneIn(4) ? 0x7FF8000000000001 : Next());
          break;
        case 3:
          PutVarintField(&out, 4, Pick<uint64_t>({0, 1, 2, uint64_t{1} << 40}), Padding());
          break;
        case 4:
          PutUnknown(&out);
          break;
      }
    }
    return out;
  }

  std::string Attribute() {
    static const std::vector<std::string> kKeys = {
        "k", "k", "screen", "user.tier",           "a",       "b", "c", "d", "e", "f", "g",
        "h", "",  "a\x01",  std::string(129, 'k'), "\xC3\x28"};
    return Message({
        [&](std::string* out) {
          PutBytes(out, 1, kKeys[Below(OneIn(6) ? kKeys.size() : kKeys.size() - 4)]);
        },
        [&](std::string* out) { PutBytes(out, 2, Value(), LengthPadding()); },
        [&](std::string* out) { PutBytes(out, 2, Value()); },
    });
  }

  std::string Entry() {
    const size_t attributes = OneIn(20) ? Pick<size_t>({63, 64, 65, 66}) : OneIn(2) ? Below(5) : 0;
    return Message({
        [&](std::string* out) { PutVarintField(out, 1, Seq(), Padding()); },
        [&](std::string* out) { PutVarintField(out, 2, Time(), Padding()); },
        [&](std::string* out) { PutVarintField(out, 3, EnumNumber(7), Padding()); },
        [&](std::string* out) { PutBytes(out, 4, Text(), LengthPadding()); },
        [&](std::string* out) { PutBytes(out, 5, Text(), LengthPadding()); },
        [&](std::string* out) { PutBytes(out, 6, Text()); },
        [&](std::string* out) {
          PutVarintField(out, 7,
                         Pick<uint64_t>({0, 42, 0xFFFFFFFF, (uint64_t{1} << 32) + 5, Next()}),
                         Padding());
        },
        [&](std::string* out) { PutBytes(out, 8, Text()); },
        [&](std::string* out) {
          for (size_t i = 0; i < attributes; ++i) PutBytes(out, 9, Attribute(), LengthPadding());
        },
        [&](std::string* out) { PutVarintField(out, 10, EnumNumber(5), Padding()); },
    });
  }

  std::string Batch() {
    const size_t entries = OneIn(10) ? 0 : 1 + Below(OneIn(5) ? 40 : 8);
    return Message({
        [&](std::string* out) { PutVarintField(out, 1, Next() >> Below(64), Padding()); },
        [&](std::string* out) { PutBytes(out, 2, OneIn(8) ? Text() : "session-1"); },
        [&](std::string* out) { PutBytes(out, 3, OneIn(8) ? Text() : "alice@example.com"); },
        [&](std::string* out) {
          PutVarintField(out, 4,
                         Pick<uint64_t>({0, static_cast<uint64_t>(kOracleNowUs),
                                         static_cast<uint64_t>(kOracleNowUs - 7'200'000'000),
                                         static_cast<uint64_t>(int64_t{-5}), Time()}),
                         Padding());
        },
        [&](std::string* out) {
          for (size_t i = 0; i < entries; ++i) {
            PutBytes(out, 5, Entry(), LengthPadding());
            if (OneIn(20)) PutUnknown(out);
          }
        },
    });
  }

  // A batch built with the protobuf API (canonical encoding), unknown fields
  // added through reflection.
  std::string ProtobufBatch() {
    v1::Batch batch;
    batch.set_batch_id(Next() % 1000);
    batch.set_user_id(OneIn(8) ? Text() : "alice@example.com");
    batch.set_session_id("s1");
    if (!OneIn(4)) batch.set_sent_at_unix_micros(kOracleNowUs - static_cast<int64_t>(Below(1000)));
    const size_t entries = Below(12);
    for (size_t i = 0; i < entries; ++i) {
      v1::Entry* e = batch.add_entries();
      e->set_seq(OneIn(6) ? Seq() : i + 1);
      e->set_time_unix_micros(OneIn(6) ? static_cast<int64_t>(Time())
                                       : kOracleNowUs - static_cast<int64_t>(Below(1'000'000)));
      e->set_level(static_cast<v1::Level>(EnumNumber(7)));
      e->set_kind(static_cast<v1::EntryKind>(OneIn(4) ? EnumNumber(5) : 0));
      e->set_tag(OneIn(4) ? Text() : "Net");
      e->set_message(Text());
      if (OneIn(3)) e->set_file(Text());
      e->set_line(static_cast<uint32_t>(Next()));
      if (OneIn(3)) e->set_function(Text());
      const size_t attributes = OneIn(15) ? 65 : Below(4);
      for (size_t a = 0; a < attributes; ++a) {
        v1::Attribute* attribute = e->add_attributes();
        attribute->set_key(OneIn(3) ? "k" : Text());
        switch (Below(5)) {
          case 0:
            attribute->mutable_value()->set_string_value(Text());
            break;
          case 1:
            attribute->mutable_value()->set_int_value(static_cast<int64_t>(Next()));
            break;
          case 2:
            attribute->mutable_value()->set_double_value(-1.5);
            break;
          case 3:
            attribute->mutable_value()->set_bool_value(OneIn(2));
            break;
          case 4:
            break;  // no value
        }
      }
      if (OneIn(5)) {
        google::protobuf::UnknownFieldSet* unknown = e->GetReflection()->MutableUnknownFields(e);
        unknown->AddVarint(11 + static_cast<int>(Below(50)), Next());
        unknown->AddLengthDelimited(3, "level as bytes: unknown");
        unknown->AddGroup(12)->AddFixed32(1, 7);
      }
    }
    return batch.SerializeAsString();
  }

  std::string Mutate(std::string bytes) {
    const size_t steps = 1 + Below(3);
    for (size_t s = 0; s < steps; ++s) {
      const size_t at = bytes.empty() ? 0 : Below(bytes.size());
      switch (Below(8)) {
        case 0:
          if (!bytes.empty()) bytes[at] ^= static_cast<char>(1 << Below(8));
          break;
        case 1:
          if (!bytes.empty()) bytes[at] = static_cast<char>(Next());
          break;
        case 2:
          bytes.resize(at);
          break;
        case 3:
          bytes.insert(at, std::string(1 + Below(4), static_cast<char>(Next())));
          break;
        case 4:
          if (bytes.size() > 2) {  // a run of bytes again, elsewhere
            const size_t from = Below(bytes.size());
            const std::string run = bytes.substr(from, Below(bytes.size() - from));
            bytes.insert(Below(bytes.size()), run);
          }
          break;
        case 5:
          if (!bytes.empty()) bytes.erase(at, 1 + Below(8));
          break;
        case 6:  // a huge or far-reaching length
          bytes.insert(
              at, Pick<std::string>(
                      {std::string("\xFF\xFF\xFF\xFF\x07"), std::string("\x80\x80\x80\x80\x08"),
                       std::string("\xFF\xFF\xFF\xFF\x0F"), std::string("\xFF\x7F")}));
          break;
        case 7:  // a continuation bit where a varint ended
          if (!bytes.empty()) bytes[at] |= static_cast<char>(0x80);
          break;
      }
    }
    return bytes;
  }

  // `batch` inside an IngestRequest, in one of the ways a request can hold
  // one; unknown top-level fields around it.
  std::string Request(const std::string& batch) {
    std::string out;
    if (OneIn(10)) PutUnknown(&out);
    switch (Below(10)) {
      case 0:
      case 1:
      case 2:
      case 3:
        PutBytes(&out, 2, batch, LengthPadding());
        break;
      case 4:  // split over two fields: protobuf merges them
        PutBytes(&out, 2, batch);
        if (OneIn(3)) PutUnknown(&out);
        PutBytes(&out, 2, Batch());
        break;
      case 5:
      case 6: {
        std::string compressed;
        if (OneIn(10)) PutVarintField(&compressed, 1, EnumNumber(2));
        std::string frame = Zstd(batch);
        if (OneIn(10)) frame = Mutate(frame);
        PutBytes(&compressed, 2, OneIn(10) ? "not zstd" : frame);
        if (!OneIn(10)) PutVarintField(&compressed, 1, 1);
        if (OneIn(10)) PutUnknown(&compressed);
        PutBytes(&out, 3, compressed);
        break;
      }
      case 7: {  // mixed with a hello: the oneof's last member wins
        std::string hello;
        std::string device;
        PutBytes(&device, 1, "device-1");
        PutBytes(&hello, 1, device);
        if (OneIn(2)) {
          PutBytes(&out, 1, hello);
          PutBytes(&out, 2, batch);
        } else {
          PutBytes(&out, 2, batch);
          PutBytes(&out, 1, hello);
        }
        break;
      }
      case 8: {  // a batch and a compressed batch
        std::string compressed;
        PutVarintField(&compressed, 1, 1);
        PutBytes(&compressed, 2, Zstd(Batch()));
        if (OneIn(2)) {
          PutBytes(&out, 3, compressed);
          PutBytes(&out, 2, batch);
        } else {
          PutBytes(&out, 2, batch);
          PutBytes(&out, 3, compressed);
        }
        break;
      }
      case 9:
        break;  // nothing but unknown fields, or nothing at all
    }
    if (OneIn(10)) PutUnknown(&out);
    return out;
  }

 private:
  std::mt19937_64 random_;
};

// How the oracle classified a corpus, so a test can insist it covered both
// verdicts and both outcomes.
struct Coverage {
  int refused = 0;
  int parsed = 0;
  int accepted_entries = 0;
  int rejected_entries = 0;
  int batches_refused_by_validation = 0;

  void Add(const std::string& bytes) {
    v1::Batch batch;
    if (!batch.ParseFromString(bytes)) {
      ++refused;
      return;
    }
    ++parsed;
    if (!collector::ValidateBatch(batch).ok()) {
      ++batches_refused_by_validation;
      return;
    }
    collector::DecodedBatch decoded;
    collector::DecodeBatch(batch, kOracleNowUs, std::nullopt, &decoded);
    accepted_entries += static_cast<int>(decoded.entries.size());
    rejected_entries += static_cast<int>(decoded.rejected.size());
  }
};

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

TEST(WireBatchTest, AgreesWithProtobufOnGeneratedAndMutatedBatches) {
  Generator generate(20240611);
  Coverage coverage;
  // Requests by how ReadIngestRequest took them: not set, batch,
  // compressed batch, left to protobuf, refused.
  int request_kinds[5] = {};
  constexpr int kCases = 40000;
  for (int i = 0; i < kCases; ++i) {
    std::string bytes = i % 4 == 0 ? generate.ProtobufBatch() : generate.Batch();
    if (i % 2 == 1) bytes = generate.Mutate(bytes);
    coverage.Add(bytes);
    ASSERT_EQ(CompareBatchBytes(bytes), "") << "case " << i << ": " << Hex(bytes);
    std::string request = generate.Request(bytes);
    if (generate.OneIn(8)) request = generate.Mutate(request);
    ASSERT_EQ(CompareRequestBytes(request), "") << "case " << i << ": " << Hex(request);
    collector::WireRequest read;
    ++request_kinds[collector::ReadIngestRequest(request, &read) ? static_cast<int>(read.kind) : 4];
  }
  // The corpus reached every outcome, often.
  std::cerr << "batches refused by protobuf " << coverage.refused << ", parsed " << coverage.parsed
            << " (refused by validation " << coverage.batches_refused_by_validation
            << "); entries accepted " << coverage.accepted_entries << ", rejected "
            << coverage.rejected_entries << "\n";
  std::cerr << "requests: no batch " << request_kinds[0] << ", batch " << request_kinds[1]
            << ", compressed " << request_kinds[2] << ", left to protobuf " << request_kinds[3]
            << ", refused " << request_kinds[4] << "\n";
  for (int kind : request_kinds) EXPECT_GT(kind, kCases / 100);
  EXPECT_GT(coverage.refused, kCases / 4);
  EXPECT_GT(coverage.parsed, kCases / 3);
  EXPECT_GT(coverage.batches_refused_by_validation, kCases / 100);
  EXPECT_GT(coverage.accepted_entries, kCases / 2);
  EXPECT_GT(coverage.rejected_entries, kCases / 2);
}

// --- The rules one by one -----------------------------------------------------

// An entry that passes validation, with `extra` appended to its fields.
std::string GoodEntry(absl::string_view extra = "") {
  std::string entry;
  PutVarintField(&entry, 1, 7);
  PutVarintField(&entry, 2, kOracleNowUs - 1000);
  PutBytes(&entry, 5, "hello");
  entry.append(extra.data(), extra.size());
  return entry;
}

std::string BatchOf(absl::string_view entry, absl::string_view extra = "") {
  std::string batch;
  PutBytes(&batch, 5, entry);
  batch.append(extra.data(), extra.size());
  return batch;
}

// Decodes `bytes` as a batch, insisting the oracle agrees; nullopt when
// refused. The batch views a copy of `bytes` kept to the end of the test.
std::optional<WireBatch> Decode(const std::string& input) {
  static std::deque<std::string> kept;
  const std::string& bytes = kept.emplace_back(input);
  EXPECT_EQ(CompareBatchBytes(bytes), "") << Hex(bytes);
  std::string request;
  PutBytes(&request, 2, bytes);
  EXPECT_EQ(CompareRequestBytes(request), "") << Hex(request);
  WireBatch batch;
  if (!MergeBatchFromWire(bytes, kWireDepthLimit, &batch)) return std::nullopt;
  return batch;
}

TEST(WireBatchTest, RepeatedSingularFieldsKeepTheLastValue) {
  std::string extra;
  PutBytes(&extra, 5, "second");
  PutVarintField(&extra, 1, 9);
  std::string batch_extra;
  PutBytes(&batch_extra, 3, "bob");
  PutBytes(&batch_extra, 3, "carol");
  std::optional<WireBatch> batch = Decode(BatchOf(GoodEntry(extra), batch_extra));
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->entries.size(), 1u);
  EXPECT_EQ(batch->entries[0].message, "second");
  EXPECT_EQ(batch->entries[0].seq, 9u);
  EXPECT_EQ(batch->user_id, "carol");
}

TEST(WireBatchTest, ARepeatedAttributeValueMerges) {
  using Type = store::AttributeView::Type;
  const auto attribute = [](std::vector<std::string> values) {
    std::string a;
    PutBytes(&a, 1, "k");
    for (const std::string& v : values) PutBytes(&a, 2, v);
    return a;
  };
  std::string as_string, as_int, empty;
  PutBytes(&as_string, 1, "text");
  PutVarintField(&as_int, 2, 5);
  std::string extra;
  PutBytes(&extra, 9, attribute({as_string, as_int}));  // int, the last set
  PutBytes(&extra, 9, attribute({as_int, empty}));      // an empty Value changes nothing
  PutBytes(&extra, 9, attribute({as_int, as_string}));  // string
  std::optional<WireBatch> batch = Decode(BatchOf(GoodEntry(extra)));
  ASSERT_TRUE(batch);
  const auto attributes = batch->AttributesOf(batch->entries[0]);
  ASSERT_EQ(attributes.size(), 3u);
  EXPECT_EQ(attributes[0].type, Type::kInt);
  EXPECT_EQ(attributes[0].int_value, 5);
  EXPECT_EQ(attributes[0].string_value, "");
  EXPECT_EQ(attributes[1].type, Type::kInt);
  EXPECT_EQ(attributes[2].type, Type::kString);
  EXPECT_EQ(attributes[2].string_value, "text");
  EXPECT_EQ(attributes[2].int_value, 0);
}

TEST(WireBatchTest, UnknownEnumNumbersAreKeptAndRejectedByValidation) {
  std::string extra;
  PutVarintField(&extra, 3, 9);                         // level 9
  PutVarintField(&extra, 10, (uint64_t{1} << 32) + 2);  // kind 2 once cut to 32 bits
  PutVarintField(&extra, 7, (uint64_t{1} << 32) + 5);   // line 5, likewise
  std::optional<WireBatch> batch = Decode(BatchOf(GoodEntry(extra)));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->entries[0].level, 9);
  EXPECT_EQ(batch->entries[0].kind, 2);
  EXPECT_EQ(batch->entries[0].line, 5u);
  collector::DecodedBatch decoded;
  collector::DecodeBatch(*batch, kOracleNowUs, std::nullopt, &decoded);
  ASSERT_EQ(decoded.rejected.size(), 1u);
  EXPECT_EQ(decoded.rejected[0].reason(), "entry 0 (seq 7): level 9 is not a known level");

  std::string negative;
  PutVarintField(&negative, 3, static_cast<uint64_t>(int64_t{-3}));  // ten bytes
  batch = Decode(BatchOf(GoodEntry(negative)));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->entries[0].level, -3);
}

TEST(WireBatchTest, AKnownFieldWithAnotherWireTypeIsAnUnknownField) {
  std::string extra;
  PutFixed64(&extra, 1, 99);     // seq as fixed64: skipped, seq stays 7
  PutBytes(&extra, 2, "later");  // time as bytes: skipped
  PutVarintField(&extra, 5, 1);  // message as varint: skipped
  std::optional<WireBatch> batch = Decode(BatchOf(GoodEntry(extra)));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->entries[0].seq, 7u);
  EXPECT_EQ(batch->entries[0].message, "hello");
}

TEST(WireBatchTest, VarintsTagsAndLengthsHaveProtobufsLimits) {
  // A value of ten bytes whose last one holds bits past 64: accepted, cut.
  std::string ten_bytes;
  PutTag(&ten_bytes, 1, kVarint);
  ten_bytes.append(9, static_cast<char>(0xFF));
  ten_bytes.push_back(0x7F);
  std::optional<WireBatch> batch = Decode(BatchOf(GoodEntry(ten_bytes)));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->entries[0].seq, ~uint64_t{0});
  // Eleven bytes: refused.
  std::string eleven_bytes;
  PutVarintField(&eleven_bytes, 1, 7, /*padding=*/10);
  EXPECT_FALSE(Decode(BatchOf(GoodEntry(eleven_bytes))));
  std::string ten_padded;
  PutVarintField(&ten_padded, 1, 7, /*padding=*/9);
  EXPECT_TRUE(Decode(BatchOf(GoodEntry(ten_padded))));

  // Tags of five bytes are fine, six are not.
  std::string tag5, tag6;
  PutTag(&tag5, 4, kBytes, /*padding=*/4);
  PutVarint(&tag5, 1);
  tag5.push_back('T');
  PutTag(&tag6, 4, kBytes, /*padding=*/5);
  PutVarint(&tag6, 1);
  tag6.push_back('T');
  batch = Decode(BatchOf(GoodEntry(tag5)));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->entries[0].tag, "T");
  EXPECT_FALSE(Decode(BatchOf(GoodEntry(tag6))));
  // A five-byte tag whose top bits fall past 32 bits: they are dropped.
  std::string wide_tag;
  wide_tag.append("\xA2\x80\x80\x80\x70", 5);  // field 4, bytes, plus bits 32-34
  PutVarint(&wide_tag, 1);
  wide_tag.push_back('W');
  batch = Decode(BatchOf(GoodEntry(wide_tag)));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->entries[0].tag, "W");

  // Lengths: five bytes at most, and never past the end of their message.
  std::string length5, length6;
  PutTag(&length5, 4, kBytes);
  PutVarint(&length5, 1, /*padding=*/4);
  length5.push_back('L');
  PutTag(&length6, 4, kBytes);
  PutVarint(&length6, 1, /*padding=*/5);
  length6.push_back('L');
  EXPECT_TRUE(Decode(BatchOf(GoodEntry(length5))));
  EXPECT_FALSE(Decode(BatchOf(GoodEntry(length6))));
  std::string past_end;
  PutTag(&past_end, 4, kBytes);
  PutVarint(&past_end, 2);
  past_end.push_back('x');
  EXPECT_FALSE(Decode(BatchOf(GoodEntry(past_end))));
  // An entry whose tag claims bytes that lie in the next entry.
  std::string reaching = GoodEntry();
  PutTag(&reaching, 4, kBytes);
  PutVarint(&reaching, 4);
  std::string two = BatchOf(reaching);
  PutBytes(&two, 5, "abcdefgh");
  EXPECT_FALSE(Decode(two));
  for (const char* huge :
       {"\xFF\xFF\xFF\xFF\x07", "\xFF\xFF\xFF\xFF\x0F", "\x80\x80\x80\x80\x10"}) {
    std::string bytes;
    PutTag(&bytes, 5, kBytes);
    bytes.append(huge);
    bytes.append("abc");
    EXPECT_FALSE(Decode(bytes)) << Hex(huge);
  }
}

TEST(WireBatchTest, MalformedFieldsAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"wire type 6", std::string("\x0E\x01", 2)},
      {"wire type 7", std::string("\x0F\x01", 2)},
      {"tag 0", std::string("\x00\x01", 2)},
      {"field 0 as a varint", std::string("\x00", 1) + "\x01"},
      {"field 0, wire type 2", std::string("\x02\x00", 2)},
      {"end-group without a start", std::string("\x5C", 1)},
      {"group without an end", std::string("\x5B\x08\x01", 3)},
      {"group ended by another number", std::string("\x5B\x08\x01\x64", 4)},
      {"truncated varint", std::string("\x08\xFF", 2)},
      {"truncated fixed64", std::string("\x19\x01\x02\x03", 4)},
      {"truncated fixed32", std::string("\x1D\x01\x02", 3)},
      {"truncated length", std::string("\x22\x80", 2)},
  };
  for (const auto& [what, field] : cases) {
    EXPECT_FALSE(Decode(BatchOf(GoodEntry(field)))) << what;
    EXPECT_FALSE(Decode(field)) << what << " at the batch's level";
  }
  // Groups of unknown fields are skipped, nested ones too.
  std::string groups("\x5B\x08\x01\x63\x10\x02\x64\x5C", 8);  // 11{ 1:1 12{ 2:2 } }
  std::optional<WireBatch> batch = Decode(BatchOf(GoodEntry(groups)));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->entries[0].message, "hello");
}

// Protobuf allows 100 levels of nesting from the message it parses; a batch
// inside an IngestRequest has one level less. Groups of unknown fields count.
TEST(WireBatchTest, NestingStopsWhereProtobufsDoes) {
  const auto nested_groups = [](int levels) {
    std::string bytes;
    for (int i = 0; i < levels; ++i) PutTag(&bytes, 20, kStartGroup);
    for (int i = 0; i < levels; ++i) PutTag(&bytes, 20, kEndGroup);
    return bytes;
  };
  // Where the groups sit: in the batch, an entry, an attribute, a value.
  const std::vector<std::function<std::string(const std::string&)>> places = {
      [](const std::string& groups) { return groups; },
      [](const std::string& groups) { return BatchOf(GoodEntry(groups)); },
      [](const std::string& groups) {
        std::string attribute, extra;
        PutBytes(&attribute, 1, "k");
        attribute.append(groups);
        PutBytes(&extra, 9, attribute);
        return BatchOf(GoodEntry(extra));
      },
      [](const std::string& groups) {
        std::string value, attribute, extra;
        value.append(groups);
        PutBytes(&attribute, 1, "k");
        PutBytes(&attribute, 2, value);
        PutBytes(&extra, 9, attribute);
        return BatchOf(GoodEntry(extra));
      },
  };
  for (size_t place = 0; place < places.size(); ++place) {
    // Batch on its own: its groups may nest 100 deep, an entry's 99...
    const int deepest = kWireDepthLimit - static_cast<int>(place);
    for (int levels = deepest - 2; levels <= deepest + 2; ++levels) {
      const std::string bytes = places[place](nested_groups(levels));
      EXPECT_EQ(CompareBatchBytes(bytes), "") << "place " << place << ", " << levels << " levels";
      std::string request;
      PutBytes(&request, 2, bytes);
      EXPECT_EQ(CompareRequestBytes(request), "")
          << "in a request: place " << place << ", " << levels << " levels";
      WireBatch batch;
      EXPECT_EQ(MergeBatchFromWire(bytes, kWireDepthLimit, &batch), levels <= deepest)
          << "place " << place << ", " << levels << " levels";
      EXPECT_EQ(MergeBatchFromWire(bytes, kWireDepthLimit - 1, &batch), levels < deepest)
          << "in a request: place " << place << ", " << levels << " levels";
    }
  }
}

TEST(WireBatchTest, TooManyEntriesOrAttributesAreCountedNotKept) {
  std::string bytes;
  PutVarintField(&bytes, 1, 77);
  for (size_t i = 0; i < kMaxEntriesPerBatch + 5; ++i) PutBytes(&bytes, 5, "");
  std::optional<WireBatch> batch = Decode(bytes);
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->entry_count, kMaxEntriesPerBatch + 5);
  EXPECT_EQ(batch->entries.size(), kMaxEntriesPerBatch);
  EXPECT_EQ(collector::ValidateBatch(*batch).message(),
            "batch 77 has 10005 entries; at most 10000");

  std::string attributes;
  for (size_t i = 0; i < 100'000; ++i) PutBytes(&attributes, 9, "");
  batch = Decode(BatchOf(GoodEntry(attributes)));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->entries[0].attribute_count, 100'000u);
  EXPECT_EQ(batch->attributes.size(), kMaxAttributes);
  collector::DecodedBatch decoded;
  collector::DecodeBatch(*batch, kOracleNowUs, std::nullopt, &decoded);
  ASSERT_EQ(decoded.rejected.size(), 1u);
  EXPECT_EQ(decoded.rejected[0].reason(), "entry 0 (seq 7): has 100000 attributes; at most 64");
}

TEST(WireBatchTest, ARequestLeavesHellosAndMixedKindsToProtobuf) {
  using Kind = collector::WireRequest::Kind;
  const std::string batch = BatchOf(GoodEntry());
  std::string hello, device;
  PutBytes(&device, 1, "device-1");
  PutBytes(&hello, 1, device);
  std::string compressed;
  PutVarintField(&compressed, 1, 1);
  PutBytes(&compressed, 2, Zstd(batch));

  const auto read = [](const std::string& bytes) {
    EXPECT_EQ(CompareRequestBytes(bytes), "") << Hex(bytes);
    collector::WireRequest request;
    return collector::ReadIngestRequest(bytes, &request) ? request.kind : Kind::kNotSet;
  };
  std::string plain, split, packed, with_hello, mixed;
  PutBytes(&plain, 2, batch);
  PutBytes(&split, 2, batch);
  PutBytes(&split, 2, batch);
  PutBytes(&packed, 3, compressed);
  PutBytes(&with_hello, 1, hello);
  PutBytes(&with_hello, 2, batch);
  PutBytes(&mixed, 2, batch);
  PutBytes(&mixed, 3, compressed);
  EXPECT_EQ(read(plain), Kind::kBatch);
  EXPECT_EQ(read(split), Kind::kBatch);
  EXPECT_EQ(read(packed), Kind::kCompressedBatch);
  EXPECT_EQ(read(with_hello), Kind::kUseProtobuf);
  EXPECT_EQ(read(mixed), Kind::kUseProtobuf);
  collector::WireRequest request;
  ASSERT_TRUE(collector::ReadIngestRequest(split, &request));
  EXPECT_EQ(request.batch.entries.size(), 2u);  // merged, as protobuf does
}

}  // namespace
}  // namespace fieldlog
