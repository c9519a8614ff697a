#include "store/block.h"

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_d_format, for format 4's frames
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <functional>
#include <limits>
#include <random>

#include "absl/functional/function_ref.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/text.h"
#include "gtest/gtest.h"
#include "store/coding.h"
#include "store/message_template.h"
#include "store/store.h"
#include "store/time_buckets.h"
#include "tests/testing/test_util.h"

namespace fieldlog::store {
namespace {

constexpr int64_t kOneHour = int64_t{3600} * 1'000'000;
constexpr int64_t kHourStart = 1'790'002'800'000'000;  // on the hour

// Owns the strings an EntryView points to.
struct OwnedEntry {
  uint64_t seq;
  int64_t time, device_time, receive_time;
  v1::Level level;
  v1::EntryKind kind;
  std::string tag, message, file, function, user, session;
  uint32_t line;
  std::vector<std::string> keys, strings;
  std::vector<AttributeView> attributes;

  EntryView view() const {
    EntryView v;
    v.seq = seq;
    v.time_us = time;
    v.device_time_us = device_time;
    v.receive_time_us = receive_time;
    v.level = level;
    v.kind = kind;
    v.tag = tag;
    v.message = message;
    v.file = file;
    v.line = line;
    v.function = function;
    v.user_id = user;
    v.session_id = session;
    v.attributes = attributes;
    return v;
  }
};

std::vector<std::unique_ptr<OwnedEntry>> RandomEntries(size_t n, uint64_t seed) {
  std::mt19937_64 random(seed);
  const std::vector<std::string> tags = {"Checkout", "Network", "", "UI", "Ünïcödé"};
  std::vector<std::unique_ptr<OwnedEntry>> entries;
  uint64_t seq = 1 + random() % 1000;
  int64_t time = 1'790'000'000'000'000 + static_cast<int64_t>(random() % 1'000'000);
  for (size_t i = 0; i < n; ++i) {
    auto e = std::make_unique<OwnedEntry>();
    seq += 1 + random() % 3;
    // Times mostly rise but sometimes step back (clock adjustments).
    time += static_cast<int64_t>(random() % 5000) - 500;
    e->seq = seq;
    e->time = time;
    e->device_time = time - 172'800'000'000;  // two days slow
    e->receive_time = time + static_cast<int64_t>(random() % 3'000'000);
    e->level = static_cast<v1::Level>(1 + random() % 6);
    e->kind = static_cast<v1::EntryKind>(random() % 5);
    e->tag = tags[random() % tags.size()];
    e->message = "request " + std::to_string(random() % 100000) + " took " +
                 std::to_string(random() % 900) + "ms \xE2\x9C\x93";
    if (random() % 50 == 0) e->message.assign(15000, 'x');
    if (random() % 20 == 0) e->message.clear();
    e->file = random() % 2 ? "src/checkout/payment.cc" : "";
    e->line = static_cast<uint32_t>(random() % 2000);
    e->function = random() % 2 ? "Pay" : "";
    e->user = random() % 10 == 0 ? "" : "alice@example.com";
    e->session = "session-" + std::to_string(i / 100);
    const size_t n_attributes = random() % 5;
    e->keys.reserve(n_attributes);
    e->strings.reserve(n_attributes);
    for (size_t k = 0; k < n_attributes; ++k) {
      AttributeView a;
      e->keys.push_back("key" + std::to_string(k));
      a.key = e->keys.back();
      a.type = static_cast<AttributeView::Type>(random() % 4);
      e->strings.push_back("value " + std::to_string(random()));
      a.string_value = e->strings.back();
      // Any int64, negative ones included (unsigned arithmetic: no overflow).
      a.int_value = static_cast<int64_t>(random() - (uint64_t{1} << 62));
      a.double_value = static_cast<double>(random() % 1000) / 7.0;
      a.bool_value = random() % 2;
      e->attributes.push_back(a);
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

// The payload of a block of `entries`.
std::string EncodeBlock(const std::vector<std::unique_ptr<OwnedEntry>>& entries,
                        BlockEncoding encoding = {}, BlockMeta* meta = nullptr) {
  BlockBuilder builder(encoding);
  for (const auto& e : entries) builder.Add(e->view());
  std::string payload;
  BlockMeta unused;
  builder.Finish(&payload, meta != nullptr ? meta : &unused);
  return payload;
}

void ExpectSameAttributes(const std::vector<AttributeView>& expected,
                          const std::vector<AttributeView>& actual) {
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(expected[k].key, actual[k].key);
    ASSERT_EQ(expected[k].type, actual[k].type);
    switch (expected[k].type) {
      case AttributeView::Type::kString:
        EXPECT_EQ(expected[k].string_value, actual[k].string_value);
        break;
      case AttributeView::Type::kInt:
        EXPECT_EQ(expected[k].int_value, actual[k].int_value);
        break;
      case AttributeView::Type::kDouble:
        EXPECT_EQ(expected[k].double_value, actual[k].double_value);
        break;
      case AttributeView::Type::kBool:
        EXPECT_EQ(expected[k].bool_value, actual[k].bool_value);
        break;
    }
  }
}

TEST(BlockTest, RoundTripsEveryColumn) {
  for (uint64_t seed : {1, 2, 3}) {
    auto entries = RandomEntries(1000, seed);
    BlockBuilder builder;
    for (const auto& e : entries) builder.Add(e->view());
    std::string payload;
    BlockMeta meta;
    builder.Finish(&payload, &meta);
    EXPECT_EQ(builder.count(), 0u) << "Finish resets the builder";

    absl::StatusOr<BlockReader> reader = BlockReader::Open(payload);
    ASSERT_TRUE(reader.ok()) << reader.status();
    ASSERT_EQ(reader->size(), entries.size());
    std::vector<AttributeView> attributes;
    int64_t min_time = INT64_MAX, max_time = INT64_MIN;
    for (size_t i = 0; i < entries.size(); ++i) {
      const OwnedEntry& e = *entries[i];
      EXPECT_EQ(reader->seq(i), e.seq);
      EXPECT_EQ(reader->time_us(i), e.time);
      EXPECT_EQ(reader->device_time_us(i), e.device_time);
      EXPECT_EQ(reader->receive_time_us(i), e.receive_time);
      EXPECT_EQ(reader->level(i), e.level);
      EXPECT_EQ(reader->kind(i), e.kind);
      EXPECT_EQ(reader->tag(i), e.tag);
      EXPECT_EQ(reader->message(i), e.message);
      EXPECT_EQ(reader->file(i), e.file);
      EXPECT_EQ(reader->line(i), e.line);
      EXPECT_EQ(reader->function(i), e.function);
      EXPECT_EQ(reader->user_id(i), e.user);
      EXPECT_EQ(reader->session_id(i), e.session);
      reader->Attributes(i, &attributes);
      ExpectSameAttributes(e.attributes, attributes);
      min_time = std::min(min_time, e.time);
      max_time = std::max(max_time, e.time);
    }
    EXPECT_EQ(meta.count(), entries.size());
    EXPECT_EQ(meta.first_seq(), entries.front()->seq);
    EXPECT_EQ(meta.last_seq(), entries.back()->seq);
    EXPECT_EQ(meta.min_time_unix_micros(), min_time);
    EXPECT_EQ(meta.max_time_unix_micros(), max_time);
    EXPECT_EQ(meta.stored_bytes(), payload.size());
    EXPECT_LT(meta.stored_bytes(), meta.raw_bytes()) << "log text should compress";
    ASSERT_EQ(meta.users_size(), 2);  // "" and alice
  }
}

TEST(BlockTest, LevelMaskListsThePresentLevels) {
  OwnedEntry a{}, b{};
  a.seq = 1;
  a.level = v1::LEVEL_DEBUG;
  b.seq = 2;
  b.level = v1::LEVEL_ERROR;
  BlockBuilder builder;
  builder.Add(a.view());
  builder.Add(b.view());
  std::string payload;
  BlockMeta meta;
  builder.Finish(&payload, &meta);
  EXPECT_EQ(meta.level_mask(), (1u << v1::LEVEL_DEBUG) | (1u << v1::LEVEL_ERROR));
}

TEST(BlockTest, ManyUsersAreSummarisedAsMany) {
  std::vector<OwnedEntry> entries(20);
  BlockBuilder builder;
  for (size_t i = 0; i < entries.size(); ++i) {
    entries[i].seq = i + 1;
    entries[i].user = "user" + std::to_string(i);
    builder.Add(entries[i].view());
  }
  std::string payload;
  BlockMeta meta;
  builder.Finish(&payload, &meta);
  EXPECT_TRUE(meta.many_users());
  EXPECT_EQ(meta.users_size(), 0);
}

TEST(TimeBucketsTest, BucketsSplitTheSpanIntoSixtyFourAndRangesTouchTheRightOnes) {
  // Span [1000, 1639]: width 640 / 64 + ... = (639 / 64) + 1 = 10.
  EXPECT_EQ(TimeBucketOf(1000, 1639, 1000), 0);
  EXPECT_EQ(TimeBucketOf(1000, 1639, 1009), 0);
  EXPECT_EQ(TimeBucketOf(1000, 1639, 1010), 1);
  EXPECT_EQ(TimeBucketOf(1000, 1639, 1639), 63);
  // A one-instant block has every time in bucket 0.
  EXPECT_EQ(TimeBucketOf(5, 5, 5), 0);
  EXPECT_EQ(TimeBucketsTouched(5, 5, 5, 6), 1u);
  EXPECT_EQ(TimeBucketsTouched(5, 5, 6, 7), 0u);
  // Extreme spans do not overflow.
  EXPECT_EQ(TimeBucketOf(INT64_MIN, INT64_MAX, INT64_MAX), 63);
  EXPECT_EQ(TimeBucketOf(INT64_MIN, INT64_MAX, INT64_MIN), 0);
  EXPECT_EQ(TimeBucketsTouched(INT64_MIN, INT64_MAX, INT64_MIN, INT64_MAX), ~uint64_t{0});

  // [from, to) is half-open: to = min touches nothing, from = max touches the
  // last bucket.
  EXPECT_EQ(TimeBucketsTouched(1000, 1639, 0, 1000), 0u);
  EXPECT_EQ(TimeBucketsTouched(1000, 1639, 0, 1001), 1u);
  EXPECT_EQ(TimeBucketsTouched(1000, 1639, 1639, 2000), uint64_t{1} << 63);
  EXPECT_EQ(TimeBucketsTouched(1000, 1639, 1640, 2000), 0u);
  EXPECT_EQ(TimeBucketsTouched(1000, 1639, 1010, 1020), uint64_t{1} << 1);
  EXPECT_EQ(TimeBucketsTouched(1000, 1639, 1009, 1021), 0b111u);
  EXPECT_EQ(TimeBucketsTouched(1000, 1639, 0, 5000), ~uint64_t{0});
  EXPECT_EQ(TimeBucketsTouched(1000, 1639, 1020, 1020), 0u) << "empty range";

  const std::vector<int64_t> times = {1000, 1005, 1325, 1639};
  EXPECT_EQ(TimeBucketsHeld(1000, 1639, times),
            (uint64_t{1} << 0) | (uint64_t{1} << 32) | (uint64_t{1} << 63));
}

TEST(TimeBucketsTest, ABlockSpanningDaysMeetsOnlyTheHoursWithLines) {
  constexpr int64_t kHour = int64_t{3600} * 1'000'000;
  const int64_t day0 = int64_t{1'790'000'000} * 1'000'000;
  // Two sessions three days apart: 10:00-10:05 on day 0, 14:30-14:40 on day 3.
  std::vector<OwnedEntry> entries;
  for (int i = 0; i < 30; ++i) {
    OwnedEntry& e = entries.emplace_back();
    e.time = day0 + 10 * kHour + i * 10'000'000;
  }
  for (int i = 0; i < 60; ++i) {
    OwnedEntry& e = entries.emplace_back();
    e.time = day0 + 3 * 24 * kHour + 14 * kHour + 30 * 60'000'000 + i * 10'000'000;
  }
  BlockBuilder builder;
  for (size_t i = 0; i < entries.size(); ++i) {
    entries[i].seq = i + 1;
    entries[i].message = "line";
    builder.Add(entries[i].view());
  }
  std::string payload;
  BlockMeta meta;
  builder.Finish(&payload, &meta);
  ASSERT_NE(meta.time_buckets(), 0u);
  EXPECT_EQ(std::popcount(meta.time_buckets()), 2) << "one bucket per session";

  // Every hour of the four days: the block meets an hour exactly when a line
  // of the block falls in it (the sessions are shorter than a bucket, ~73 min,
  // so hours next to them may be let through, never missed).
  int met = 0;
  for (int64_t from = day0; from < day0 + 4 * 24 * kHour; from += kHour) {
    bool holds = false;
    for (const OwnedEntry& e : entries) holds |= e.time >= from && e.time < from + kHour;
    const bool meets = BlockMetaMeetsRange(meta, from, from + kHour);
    if (holds) {
      EXPECT_TRUE(meets) << (from - day0) / kHour;
    }
    met += meets;
  }
  EXPECT_LE(met, 6) << "of 96 hours, [min, max] alone meets 77";
  // Exactly at the edges: the first line's time, and just past the last.
  const int64_t first = entries.front().time, last = entries.back().time;
  EXPECT_TRUE(BlockMetaMeetsRange(meta, first, first + 1));
  EXPECT_FALSE(BlockMetaMeetsRange(meta, first - kHour, first));
  EXPECT_TRUE(BlockMetaMeetsRange(meta, last, last + 1));
  EXPECT_FALSE(BlockMetaMeetsRange(meta, last + 1, last + kHour));
  // A day in between holds no line.
  EXPECT_FALSE(BlockMetaMeetsRange(meta, day0 + 24 * kHour, day0 + 48 * kHour));

  // The same meta as written before time buckets existed: [min, max] decides.
  BlockMeta old = meta;
  old.clear_time_buckets();
  EXPECT_TRUE(BlockMetaMeetsRange(old, day0 + 24 * kHour, day0 + 48 * kHour));
  EXPECT_FALSE(BlockMetaMeetsRange(old, last + 1, last + kHour));
  EXPECT_FALSE(BlockMetaMeetsRange(old, first - kHour, first));
}

TEST(BlockTest, ReaderSurvivesMovesWithoutDanglingViews) {
  auto entries = RandomEntries(3, 9);
  BlockBuilder builder;
  for (const auto& e : entries) builder.Add(e->view());
  std::string payload;
  BlockMeta meta;
  builder.Finish(&payload, &meta);
  absl::StatusOr<BlockReader> reader = BlockReader::Open(payload);
  ASSERT_TRUE(reader.ok());
  BlockReader moved = *std::move(reader);
  BlockReader moved_again = std::move(moved);
  EXPECT_EQ(moved_again.message(2), entries[2]->message);
  EXPECT_EQ(moved_again.tag(0), entries[0]->tag);
}

// Corruption never crashes the reader: every truncation and many bit flips of
// a valid payload give an error or a (checked) decode, never undefined
// behaviour. Run under ASan/UBSan to make that a strong statement.
TEST(BlockTest, CorruptPayloadsAreRejectedNotCrashedOn) {
  auto entries = RandomEntries(200, 5);
  BlockBuilder builder;
  for (const auto& e : entries) builder.Add(e->view());
  std::string payload;
  BlockMeta meta;
  builder.Finish(&payload, &meta);

  for (size_t cut = 0; cut < payload.size(); cut += 1 + cut / 8) {
    EXPECT_FALSE(BlockReader::Open(absl::string_view(payload).substr(0, cut)).ok()) << cut;
  }
  std::mt19937_64 random(11);
  size_t rejected = 0;
  std::vector<AttributeView> attributes;
  for (int trial = 0; trial < 500; ++trial) {
    std::string corrupt = payload;
    corrupt[random() % corrupt.size()] ^= static_cast<char>(1 << (random() % 8));
    absl::StatusOr<BlockReader> reader = BlockReader::Open(corrupt);
    if (!reader.ok()) {
      EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
      ++rejected;
      continue;
    }
    // A flip the format cannot detect still decodes safely.
    for (size_t i = 0; i < reader->size(); ++i) {
      (void)reader->message(i);
      reader->Attributes(i, &attributes);
    }
  }
  EXPECT_GT(rejected, 250u) << "most flips inside zstd data should be detected";
}

TEST(BlockTest, UncompressibleDataIsStoredRaw) {
  OwnedEntry e{};
  e.seq = 1;
  std::mt19937_64 random(3);
  for (int i = 0; i < 64; ++i) e.message.push_back(static_cast<char>('a' + random() % 26));
  BlockBuilder builder;
  builder.Add(e.view());
  std::string payload;
  BlockMeta meta;
  builder.Finish(&payload, &meta);
  absl::StatusOr<BlockReader> reader = BlockReader::Open(payload);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->message(0), e.message);
}

// A payload written by format version 1 (fieldlog before tiered compression):
// three rows, the second with attributes. Stores upgraded in place hold such
// blocks until their lines expire, so every reader must keep decoding them.
TEST(BlockTest, FormatVersion1BlocksStillRead) {
  const std::string payload(
      "\x01\x01\x03\xc8\x01\xf0\xee\xf9\x95\xe0\xa2\xb0\x06\x28\xb5\x2f\xfd\x24"
      "\xc8\x55\x05\x00\xc4\x09\x08\x00\x08\x43\x68\x65\x63\x6b\x6f\x75\x74\x11"
      "\x61\x6c\x69\x63\x65\x40\x65\x78\x61\x6d\x70\x6c\x65\x2e\x63\x6f\x6d\x02"
      "\x73\x31\x06\x70\x61\x79\x2e\x63\x63\x05\x4f\x6e\x54\x61\x70\x06\x73\x63"
      "\x72\x65\x65\x6e\x07\x72\x65\x74\x72\x69\x65\x73\x03\x29\x02\x02\x0c\x80"
      "\xc0\xf9\x95\xe0\xa2\xb0\x06\xb8\x17\xb8\x17\x03\x0d\x0d\x0d\x09\xc0\xcf"
      "\x24\x88\xb8\x24\xd0\xa0\x24\x03\x03\x03\x05\x03\x01\x01\x01\x03\x02\x02"
      "\x02\x03\x04\x04\x04\x03\x0a\x0b\x0c\x03\x05\x05\x05\x03\x15\x15\x15\x3f"
      "\x74\x61\x70\x70\x65\x64\x20\x22\x50\x61\x79\x22\x20\x23\x30\x20\x63\x61"
      "\x66\xc3\xa9\x31\x32\x0c\x00\x02\x06\x00\x03\x70\x61\x79\x07\x01\x05\x00"
      "\x04\x00\x60\x10\x40\xdf\xe2\x94\x47\x59\x60\x06\x83\x00\xd6\xfd",
      196);
  ASSERT_EQ(payload[0], 1) << "the fixture is a version 1 block";
  absl::StatusOr<BlockReader> reader = BlockReader::Open(payload);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ(reader->size(), 3u);
  constexpr int64_t kTime = 1'795'000'000'000'000;
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(reader->seq(i), 41 + 2 * i);
    EXPECT_EQ(reader->time_us(i), kTime + static_cast<int64_t>(i) * 1500);
    EXPECT_EQ(reader->device_time_us(i), reader->time_us(i) - 7);
    EXPECT_EQ(reader->receive_time_us(i), 1'795'000'000'300'000);
    EXPECT_EQ(reader->level(i), i == 2 ? v1::LEVEL_ERROR : v1::LEVEL_INFO);
    EXPECT_EQ(reader->tag(i), "Checkout");
    EXPECT_EQ(reader->message(i), "tapped \"Pay\" #" + std::to_string(i) + " caf\xc3\xa9");
    EXPECT_EQ(reader->file(i), "pay.cc");
    EXPECT_EQ(reader->line(i), 10 + i);
    EXPECT_EQ(reader->function(i), "OnTap");
    EXPECT_EQ(reader->user_id(i), "alice@example.com");
    EXPECT_EQ(reader->session_id(i), "s1");
  }
  std::vector<AttributeView> attributes;
  reader->Attributes(1, &attributes);
  ASSERT_EQ(attributes.size(), 2u);
  EXPECT_EQ(attributes[0].key, "screen");
  EXPECT_EQ(attributes[0].string_value, "pay");
  EXPECT_EQ(attributes[1].key, "retries");
  EXPECT_EQ(attributes[1].int_value, -3);
  reader->Attributes(0, &attributes);
  EXPECT_TRUE(attributes.empty());
  EXPECT_EQ(*BlockReader::PeekMaxTime(payload), kTime + 3000);
  // Old blocks are kept as written: compaction does not rewrite them.
  std::string settled;
  EXPECT_FALSE(SettleBlock(payload, 3, nullptr, nullptr, &settled));
}

// Receive times are delta-coded from row to row: rows received in different
// batches, and rows received before their own time (a fast device clock),
// come back exactly.
TEST(BlockTest, ReceiveTimesRoundTripAcrossBatches) {
  BlockBuilder builder;
  const int64_t receive[] = {5'000'000, 5'000'000, 9'000'000, 1'000, 9'000'000, 9'000'001};
  for (size_t i = 0; i < std::size(receive); ++i) {
    EntryView e;
    e.seq = i + 1;
    e.time_us = e.device_time_us = 2'000'000 + static_cast<int64_t>(i) * 10;
    e.receive_time_us = receive[i];
    builder.Add(e);
  }
  std::string payload;
  BlockMeta meta;
  builder.Finish(&payload, &meta);
  absl::StatusOr<BlockReader> reader = BlockReader::Open(payload);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ(reader->size(), std::size(receive));
  for (size_t i = 0; i < std::size(receive); ++i) EXPECT_EQ(reader->receive_time_us(i), receive[i]);
}

// Tiered compression: a block written at ingest (here uncompressed) is
// settled once by compaction, smaller and with every row intact; a settled
// block is not settled again.
TEST(BlockTest, SettlingRecompressesOnceAndKeepsEveryRow) {
  auto entries = RandomEntries(300, 9);
  BlockMeta meta;
  std::string payload = EncodeBlock(entries, BlockEncoding{0, /*settled=*/false}, &meta);
  EXPECT_EQ(meta.stored_bytes(), payload.size());
  EXPECT_GT(payload.size(), meta.raw_bytes()) << "level 0 stores the columns as they are";

  std::string settled;
  ASSERT_TRUE(SettleBlock(payload, 3, nullptr, nullptr, &settled));
  EXPECT_LT(settled.size(), payload.size() * 2 / 3);
  absl::StatusOr<BlockReader> before = BlockReader::Open(payload);
  absl::StatusOr<BlockReader> after = BlockReader::Open(settled);
  ASSERT_TRUE(before.ok() && after.ok());
  ASSERT_EQ(after->size(), entries.size());
  std::vector<AttributeView> a, b;
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(after->seq(i), entries[i]->seq);
    EXPECT_EQ(after->message(i), before->message(i));
    EXPECT_EQ(after->receive_time_us(i), entries[i]->receive_time);
    before->Attributes(i, &a);
    after->Attributes(i, &b);
    ExpectSameAttributes(a, b);
  }
  EXPECT_EQ(*BlockReader::PeekMaxTime(settled), *BlockReader::PeekMaxTime(payload));
  std::string again;
  EXPECT_FALSE(SettleBlock(settled, 3, nullptr, nullptr, &again));
  // Blocks built settled (as merges are) are left alone too.
  payload = EncodeBlock(entries, BlockEncoding{3, /*settled=*/true});
  EXPECT_FALSE(SettleBlock(payload, 3, nullptr, nullptr, &again));
  // So is what cannot be read.
  EXPECT_FALSE(SettleBlock(payload.substr(0, payload.size() / 2), 3, nullptr, nullptr, &again));
}

TEST(BlockTest, UnknownVersionsAndEncodingsAreRejected) {
  const std::string payload = EncodeBlock(RandomEntries(10, 4));
  ASSERT_TRUE(BlockReader::Open(payload).ok());
  ASSERT_EQ(payload[0], 3) << "a settled block of one chunk is version 3";
  std::string bad_version = payload;
  bad_version[0] = 5;
  EXPECT_EQ(BlockReader::Open(bad_version).status().code(), absl::StatusCode::kDataLoss);
  // Version 4 holds settled blocks with split messages only.
  std::string unsettled_v4 = EncodeBlock(RandomEntries(10, 4), BlockEncoding{0, false});
  ASSERT_EQ(unsettled_v4[0], 3) << "blocks written at ingest are version 3";
  unsettled_v4[0] = 4;
  EXPECT_EQ(BlockReader::Open(unsettled_v4).status().code(), absl::StatusCode::kDataLoss);
  std::string bad_encoding = payload;
  bad_encoding[1] = static_cast<char>(bad_encoding[1] | 0x40);
  EXPECT_EQ(BlockReader::Open(bad_encoding).status().code(), absl::StatusCode::kDataLoss);
  // Split messages (0x20) exist from version 3 on only.
  std::string split_v2 = EncodeBlock(RandomEntries(10, 4), BlockEncoding{0, false});
  split_v2[0] = 2;
  ASSERT_TRUE(BlockReader::Open(split_v2).ok());
  split_v2[1] = static_cast<char>(split_v2[1] | 0x20);
  EXPECT_EQ(BlockReader::Open(split_v2).status().code(), absl::StatusCode::kDataLoss);
}

// Messages that stress the template split: numbers at every position, runs
// of zeros and leading zeros, runs longer than 18 digits, the bytes the
// templates use (0, 1, 2), signs and decimals, non-ASCII text.
std::vector<std::string> TrickyMessages() {
  return {"", "0", "7", "42 is 42", "took 412 ms", "007 and 0.5 and 10.000 and -3 and +4",
          "1234567890123456789",  // 19 digits: 18 + 1
          "12345678901234567890123456789012345678901234567890",
          "999999999999999999",        // the largest 18-digit number
          "18446744073709551615 max",  // uint64 max, as text
          "100000000000000000000000",  // zeros after an 18-digit number
          // (The literal is split so that \x03 is not read as \x03d.)
          std::string("nul\0in\x01the\x02mid\x03"
                      "dle",
                      18),
          std::string("\x02\x01\x00", 3), std::string("ends with escape \x02", 18),
          "ip 10.0.0.1:8080 uuid 6f1c2a4e-93b4-4b7e-8f0e-2f3d4c5b6a79",
          "caf\xc3\xa9 \xe2\x9c\x93 12\xc3\xa9", "trailing number 9"};
}

TEST(BlockTest, SplitMessagesComeBackByteForByteEveryWay) {
  const std::vector<std::string> messages = TrickyMessages();
  std::vector<std::unique_ptr<OwnedEntry>> entries;
  for (int round = 0; round < 3; ++round) {
    for (const std::string& m : messages) {
      auto e = std::make_unique<OwnedEntry>();
      e->seq = entries.size() + 1;
      e->message = m;
      entries.push_back(std::move(e));
    }
  }
  const auto expect_messages = [&](absl::string_view payload, const char* how,
                                   uint8_t version = 3) {
    SCOPED_TRACE(how);
    ASSERT_EQ(static_cast<uint8_t>(payload[0]), version) << "format version";
    absl::StatusOr<BlockReader> reader = BlockReader::Open(payload);
    ASSERT_TRUE(reader.ok()) << reader.status();
    ASSERT_EQ(reader->size(), entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      EXPECT_EQ(reader->message(i), entries[i]->message) << i;
    }
  };
  // Built settled (a merge): split.
  const std::string settled = EncodeBlock(entries, BlockEncoding{3, true});
  EXPECT_NE(settled[1] & 0x20, 0) << "settled blocks split their messages";
  expect_messages(settled, "built settled");
  // Written at ingest: plain; settled by compaction: split.
  const std::string unsettled = EncodeBlock(entries, BlockEncoding{0, false});
  EXPECT_EQ(unsettled[1] & 0x20, 0);
  expect_messages(unsettled, "unsettled", 3);
  std::string compacted;
  ASSERT_TRUE(SettleBlock(unsettled, 3, nullptr, nullptr, &compacted));
  EXPECT_NE(compacted[1] & 0x20, 0);
  expect_messages(compacted, "settled by compaction");
  // A version 2 block (unsettled, the same columns) reads, and settles into
  // version 3 (one chunk: no dictionary).
  std::string v2 = unsettled;
  v2[0] = 2;
  absl::StatusOr<BlockReader> old = BlockReader::Open(v2);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->message(4), "took 412 ms");
  std::string upgraded;
  ASSERT_TRUE(SettleBlock(v2, 3, nullptr, nullptr, &upgraded));
  expect_messages(upgraded, "version 2 settled");
  // Rebuilding only some rows' messages: the others read as empty, the rest
  // of the row as ever; plain (unsplit) blocks give every message anyway.
  for (size_t i = 0; i < entries.size(); ++i) entries[i]->time = 1000 + static_cast<int64_t>(i);
  const std::string timed = EncodeBlock(entries, BlockEncoding{3, true});
  absl::StatusOr<BlockReader> some =
      BlockReader::Open(timed, BlockReadOptions{.messages_from_us = 1004, .messages_to_us = 1010});
  ASSERT_TRUE(some.ok()) << some.status();
  for (size_t i = 0; i < entries.size(); ++i) {
    const bool wanted = i >= 4 && i < 10;
    EXPECT_EQ(some->message(i), wanted ? absl::string_view(entries[i]->message) : "") << i;
    EXPECT_EQ(some->seq(i), entries[i]->seq);
  }
  absl::StatusOr<BlockReader> none =
      BlockReader::Open(timed, BlockReadOptions{.messages_from_us = 0, .messages_to_us = 0});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->message(4), "");
  absl::StatusOr<BlockReader> plain = BlockReader::Open(
      EncodeBlock(entries, BlockEncoding{0, false}), BlockReadOptions{.messages_to_us = 0});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->message(4), "took 412 ms");
  // Moving the reader keeps the rebuilt messages.
  absl::StatusOr<BlockReader> reader = BlockReader::Open(settled);
  ASSERT_TRUE(reader.ok());
  BlockReader moved = *std::move(reader);
  EXPECT_EQ(moved.message(4), "took 412 ms");
  EXPECT_EQ(moved.message(0), "");
}

// A scan for a text rebuilds the rows whose template may hold it (see
// BlockReadOptions::messages_containing): every row that holds the text comes
// back whole, whatever its case or numbers; rows whose template lacks the
// text's longest digit-free part stay empty.
// AppendMessageTemplate looks for digits and escapes eight bytes at a time;
// this is the one-byte-at-a-time loop it must agree with, on every offset and
// on bytes whose low seven bits look like a digit or an escape.
TEST(MessageTemplateTest, EightBytesAtATimeAgreesWithOneAtATime) {
  const auto reference = [](absl::string_view message, std::string* templates,
                            std::string* numbers) {
    size_t run = 0;
    for (size_t i = 0; i < message.size(); ++i) {
      const char c = message[i];
      if (c >= '1' && c <= '9') {
        templates->append(message.data() + run, i - run);
        uint64_t value = 0;
        const size_t end = std::min(message.size(), i + kMaxTemplateNumberDigits);
        size_t j = i;
        for (; j < end && message[j] >= '0' && message[j] <= '9'; ++j) {
          value = value * 10 + static_cast<uint64_t>(message[j] - '0');
        }
        templates->push_back(kTemplateNumber);
        PutVarint64(numbers, value);
        i = j - 1;
        run = j;
      } else if (static_cast<uint8_t>(c) <= static_cast<uint8_t>(kTemplateEscape)) {
        templates->append(message.data() + run, i - run);
        templates->push_back(kTemplateEscape);
        templates->push_back(c);
        run = i + 1;
      }
    }
    templates->append(message.data() + run, message.size() - run);
    templates->push_back(kTemplateEnd);
  };
  const std::string alphabet = std::string("0123456789:/ a\x00\x01\x02\x03\x7f", 19) +
                               "\x80\xb0\xb1\xb9\xba\x81\x82\x83\xff";
  std::mt19937 random(7);
  for (int round = 0; round < 20000; ++round) {
    std::string message(random() % 41, ' ');
    for (char& c : message) c = alphabet[random() % alphabet.size()];
    std::string templates, numbers, want_templates, want_numbers;
    AppendMessageTemplate(message, &templates, &numbers);
    reference(message, &want_templates, &want_numbers);
    ASSERT_EQ(templates, want_templates) << absl::CEscape(message);
    ASSERT_EQ(numbers, want_numbers) << absl::CEscape(message);
  }
}

TEST(BlockTest, ATextSearchRebuildsOnlyTheRowsThatMayHoldIt) {
  const std::vector<std::string> messages = {"PaymentTimeout after 412 ms",
                                             "payment ok",
                                             "took 412 ms",
                                             "retry 3 of PAYMENTTIMEOUT",
                                             "fl-rare-7f3a seen",
                                             "fl-rare-8f3a seen",
                                             "order 17f3a shipped",
                                             "",
                                             "took 9412 ms"};
  std::vector<std::unique_ptr<OwnedEntry>> entries;
  for (int round = 0; round < 4; ++round) {
    for (const std::string& m : messages) {
      auto e = std::make_unique<OwnedEntry>();
      e->seq = entries.size() + 1;
      e->time = 1000 + static_cast<int64_t>(entries.size());
      e->message = m;
      entries.push_back(std::move(e));
    }
  }
  const std::string block = EncodeBlock(entries, BlockEncoding{3, true});
  ASSERT_NE(block[1] & 0x20, 0) << "split messages";
  struct Case {
    std::string text;  // lower case
    // Messages that must read as empty: their template lacks the probe.
    std::vector<std::string> skipped;
  };
  const std::vector<Case> cases = {
      {"paymenttimeout", {"payment ok", "took 412 ms", "fl-rare-7f3a seen"}},
      {"fl-rare-7f3a", {"PaymentTimeout after 412 ms", "order 17f3a shipped"}},
      {"412 ms", {"payment ok", "fl-rare-8f3a seen"}},  // probe " ms"
      {"zz-nowhere", {"PaymentTimeout after 412 ms", "payment ok", "took 412 ms"}},
      {"7f", {}},  // no part of three bytes without digits: nothing skipped
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<BlockReader> reader =
        BlockReader::Open(block, BlockReadOptions{.messages_containing = c.text});
    ASSERT_TRUE(reader.ok()) << reader.status();
    size_t holding = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      const std::string& message = entries[i]->message;
      EXPECT_EQ(reader->seq(i), entries[i]->seq);
      if (ContainsIgnoreCase(message, c.text)) {
        ++holding;
        EXPECT_EQ(reader->message(i), message) << i;
      } else if (std::find(c.skipped.begin(), c.skipped.end(), message) != c.skipped.end()) {
        EXPECT_EQ(reader->message(i), "") << i << ": " << message;
      } else {
        EXPECT_TRUE(reader->message(i).empty() || reader->message(i) == message) << i;
      }
    }
    if (c.text != "zz-nowhere") {
      EXPECT_GT(holding, 0u);
    }
    if (c.skipped.empty()) {
      for (size_t i = 0; i < entries.size(); ++i) {
        EXPECT_EQ(reader->message(i), entries[i]->message) << i;
      }
    }
  }
  // With a time range too: a row out of it stays empty even with the text.
  absl::StatusOr<BlockReader> timed =
      BlockReader::Open(block, BlockReadOptions{.messages_from_us = 1009,
                                                .messages_to_us = 1018,
                                                .messages_containing = "paymenttimeout"});
  ASSERT_TRUE(timed.ok()) << timed.status();
  EXPECT_EQ(timed->message(0), "");
  EXPECT_EQ(timed->message(9), "PaymentTimeout after 412 ms");
  EXPECT_EQ(timed->message(12), "retry 3 of PAYMENTTIMEOUT");
  EXPECT_EQ(timed->message(10), "");
  EXPECT_EQ(timed->message(21), "");
  // A block with escaped bytes rebuilds every row in the range.
  entries[1]->message = std::string("payment\x01ok", 10);
  const std::string escaped = EncodeBlock(entries, BlockEncoding{3, true});
  absl::StatusOr<BlockReader> all =
      BlockReader::Open(escaped, BlockReadOptions{.messages_containing = "paymenttimeout"});
  ASSERT_TRUE(all.ok()) << all.status();
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(all->message(i), entries[i]->message) << i;
  }
}

// `n` entries with seqs 1.. and times 1000.., row i logging message(i).
std::vector<std::unique_ptr<OwnedEntry>> TimedEntries(int n,
                                                      absl::FunctionRef<std::string(int)> message) {
  std::vector<std::unique_ptr<OwnedEntry>> entries;
  for (int i = 0; i < n; ++i) {
    auto e = std::make_unique<OwnedEntry>();
    e->seq = static_cast<uint64_t>(i) + 1;
    e->time = 1000 + i;
    e->message = message(i);
    entries.push_back(std::move(e));
  }
  return entries;
}

// A templates filter that passes a block is asked about each wanted row's
// template too (BlockReadOptions::templates_filter): the rows whose own
// template it passes come back whole, the others stay empty, and a block
// with escapes rebuilds every row in the range.
TEST(BlockTest, ATemplatesFilterRebuildsOnlyTheRowsWhoseTemplateItPasses) {
  std::vector<std::unique_ptr<OwnedEntry>> entries = TimedEntries(30, [](int i) {
    return i % 3 == 0   ? absl::StrCat("PaymentTimeout after ", i * 7, " ms")
           : i % 3 == 1 ? absl::StrCat("took ", i, " ms")
                        : absl::StrCat("retry ", i, " of paymentTIMEOUT");
  });
  // Passes templates holding "timeout" in any case, and counts the calls
  // that got exactly one template.
  struct HoldsTimeout : TemplatesFilter {
    bool MayMatch(absl::string_view templates) const override {
      if (templates.find(kTemplateEnd) == absl::string_view::npos) ++single_templates;
      return ContainsIgnoreCase(templates, "timeout");
    }
    mutable std::atomic<int> single_templates{0};
  } holds_timeout;
  const std::string split = EncodeBlock(entries, BlockEncoding{3, true});
  absl::StatusOr<BlockReader> reader =
      BlockReader::Open(split, BlockReadOptions{.messages_from_us = 1000,
                                                .messages_to_us = 1027,
                                                .templates_filter = &holds_timeout});
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ(reader->size(), 30u);
  EXPECT_EQ(holds_timeout.single_templates.load(), 27) << "one call per row of the range";
  for (size_t i = 0; i < entries.size(); ++i) {
    const bool passes = i < 27 && i % 3 != 1;
    EXPECT_EQ(reader->message(i), passes ? entries[i]->message : "") << i;
  }
  // With escapes a template's end is not one byte: every row is rebuilt.
  entries[1]->message = std::string("took\x01 5 ms", 10);
  const std::string escaped = EncodeBlock(entries, BlockEncoding{3, true});
  absl::StatusOr<BlockReader> all =
      BlockReader::Open(escaped, BlockReadOptions{.templates_filter = &holds_timeout});
  ASSERT_TRUE(all.ok()) << all.status();
  for (size_t i = 0; i < entries.size(); ++i) EXPECT_EQ(all->message(i), entries[i]->message) << i;
}

// skip_blocks_ruled_out: a block none of whose templates holds the text (or
// that a templates filter turns down) opens with no rows but counts its
// lines; one that may hold it, an unsplit one, or one with escapes opens
// whole, and a block opened without the option always does.
TEST(BlockTest, ABlockRuledOutByItsTemplatesOpensWithNoRows) {
  std::vector<std::unique_ptr<OwnedEntry>> entries = TimedEntries(40, [](int i) {
    return absl::StrCat(i % 2 == 0 ? "PaymentTimeout after " : "took ", i * 7, " ms");
  });
  struct RejectAll : TemplatesFilter {
    bool MayMatch(absl::string_view) const override { return false; }
  } reject_all;
  const std::string split = EncodeBlock(entries, BlockEncoding{3, true});
  const std::string plain = EncodeBlock(entries, BlockEncoding{0, false});
  entries[3]->message = std::string("took\x02 5 ms", 10);
  const std::string escaped = EncodeBlock(entries, BlockEncoding{3, true});
  struct Case {
    const std::string* block;
    BlockReadOptions options;
    size_t rows;
  };
  const std::vector<Case> cases = {
      {&split, {.messages_containing = "zz-nowhere", .skip_blocks_ruled_out = true}, 0},
      {&split, {.templates_filter = &reject_all, .skip_blocks_ruled_out = true}, 0},
      {&split, {.messages_containing = "paymenttimeout", .skip_blocks_ruled_out = true}, 40},
      {&split, {.messages_containing = "zz-nowhere"}, 40},
      {&split, {.messages_containing = "7", .skip_blocks_ruled_out = true}, 40},  // no probe
      {&plain, {.messages_containing = "zz-nowhere", .skip_blocks_ruled_out = true}, 40},
      {&escaped, {.messages_containing = "zz-nowhere", .skip_blocks_ruled_out = true}, 40},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    SCOPED_TRACE(c);
    absl::StatusOr<BlockReader> reader = BlockReader::Open(*cases[c].block, cases[c].options);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ(reader->lines(), 40u);
    ASSERT_EQ(reader->size(), cases[c].rows);
    if (cases[c].rows == 0) continue;
    EXPECT_EQ(reader->seq(39), 40u);
    EXPECT_EQ(reader->time_us(39), 1039);
    if (cases[c].options.messages_containing == "paymenttimeout") {
      EXPECT_EQ(reader->message(38), "PaymentTimeout after 266 ms");
    }
  }
}

// RebuildMessages: a block opened without its messages gets those of the
// rows asked for, byte for byte (escapes, numbers, empty messages), and a
// second call replaces the first's; a block stored unsplit keeps them all.
TEST(BlockTest, MessagesOfChosenRowsAreRebuiltAfterOpening) {
  std::vector<std::unique_ptr<OwnedEntry>> entries;
  for (int round = 0; round < 4; ++round) {
    for (const std::string& m : TrickyMessages()) {
      auto e = std::make_unique<OwnedEntry>();
      e->seq = entries.size() + 1;
      e->message = m;
      entries.push_back(std::move(e));
    }
  }
  const BlockReadOptions no_messages{.messages_from_us = 0, .messages_to_us = 0};
  const std::string split = EncodeBlock(entries, BlockEncoding{3, true});
  absl::StatusOr<BlockReader> reader = BlockReader::Open(split, no_messages);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(reader->message(4), "");
  for (const size_t every : {3u, 5u}) {
    ASSERT_TRUE(reader->RebuildMessages([&](size_t row) { return row % every == 1; }).ok());
    for (size_t i = 0; i < entries.size(); ++i) {
      EXPECT_EQ(reader->message(i), i % every == 1 ? absl::string_view(entries[i]->message) : "")
          << "every " << every << ", row " << i;
    }
  }
  ASSERT_TRUE(reader->RebuildMessages([](size_t) { return true; }).ok());
  for (size_t i = 0; i < entries.size(); ++i) EXPECT_EQ(reader->message(i), entries[i]->message);
  absl::StatusOr<BlockReader> plain =
      BlockReader::Open(EncodeBlock(entries, BlockEncoding{0, false}), no_messages);
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE(plain->RebuildMessages([](size_t) { return false; }).ok());
  EXPECT_EQ(plain->message(4), entries[4]->message) << "unsplit: every message, always";
}

TEST(BlockTest, SplitMessagesTakeFewerBytesOnLogText) {
  auto entries = RandomEntries(2000, 21);
  const std::string split = EncodeBlock(entries, BlockEncoding{3, true});
  // The same columns with the messages as text, compressed at the same level:
  // what format 2 stored.
  const std::string plain = EncodeBlock(entries, BlockEncoding{0, false});
  absl::string_view in(plain);
  in.remove_prefix(2);
  uint64_t count, raw_size;
  int64_t max_time;
  ASSERT_TRUE(GetVarint64(&in, &count) && GetVarint64(&in, &raw_size) &&
              GetSignedVarint64(&in, &max_time));
  ASSERT_EQ(in.size(), raw_size);
  std::string compressed(ZSTD_compressBound(in.size()), '\0');
  const size_t zstd_only =
      ZSTD_compress(compressed.data(), compressed.size(), in.data(), in.size(), 3);
  ASSERT_FALSE(ZSTD_isError(zstd_only));
  // "request <5 digits> took <3 digits>ms": the numbers go to their own column.
  EXPECT_LT(split.size(), zstd_only * 19 / 20) << split.size() << " vs " << zstd_only;
  absl::StatusOr<BlockReader> back = BlockReader::Open(split);
  ASSERT_TRUE(back.ok());
  for (size_t i = 0; i < entries.size(); ++i) ASSERT_EQ(back->message(i), entries[i]->message);
}

// A store of its own, for its Dictionaries: settled blocks cut their
// messages into chunks only when compressed with their app's dictionary.
// The dictionary holds the common text of HourlyEntries' and TrickyMessages'
// lines (it needs none of them to work: it only makes zstd's start cheaper).
struct AppDictionary {
  AppDictionary() {
    StoreOptions options;
    options.path = dir.path() + "/db";
    store = *Store::Open(options);
    std::string content(1, '\0');
    for (const char* text : {"screen \x01 shown in \x01 ms", "checkout: PaymentTimeout after ",
                             " ms", "took \x01 ms", "request \x01 took \x01ms"}) {
      content.append(text);
      content.push_back('\0');
    }
    dictionary = *store->dictionaries().Add(1, content, 1, 1);
  }
  BlockEncoding encoding() const { return BlockEncoding{3, true, dictionary.get()}; }
  BlockReadOptions read(BlockReadOptions options = {}) const {
    options.dictionaries = &store->dictionaries();
    return options;
  }

  testing::TempDir dir;
  std::unique_ptr<Store> store;
  std::shared_ptr<const CompressionDictionary> dictionary;
};

const AppDictionary& Dictionary() {
  static const AppDictionary* const dictionary = new AppDictionary;
  return *dictionary;
}

// A format 4 payload taken apart, by the test's own reading of the layout
// store/README.md draws (no dictionary).
struct ChunkedParts {
  uint64_t count = 0;
  int64_t max_time = 0;
  std::string words;                 // the head's word dictionary, as written
  std::vector<std::string> columns;  // the head's 14 columns (11: the chunk directory)
  std::vector<uint64_t> chunk_rows;
  std::vector<std::string> chunk_times;  // each chunk's times, as its directory entry ends
  std::vector<bool> chunk_buckets;       // whether those times hold buckets
  std::vector<std::string> chunks;       // decompressed: length-prefixed templates, then numbers
  std::vector<size_t> frame_offsets, frame_sizes;  // each chunk's frame in the payload
  size_t head_offset = 0, head_size = 0;           // the head's frame in the payload
};

// A format 4 frame: zstd without its magic number, with the app's
// dictionary (or stored raw).
std::string Decompressed(absl::string_view frame, uint64_t raw_size, bool compressed) {
  if (!compressed) return std::string(frame);
  std::string raw(raw_size, '\0');
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> context(ZSTD_createDCtx(), ZSTD_freeDCtx);
  ZSTD_DCtx_setParameter(context.get(), ZSTD_d_format, ZSTD_f_zstd1_magicless);
  EXPECT_EQ(ZSTD_decompress_usingDDict(context.get(), raw.data(), raw.size(), frame.data(),
                                       frame.size(), Dictionary().dictionary->ddict()),
            raw_size);
  return raw;
}

ChunkedParts TakeApart(absl::string_view payload) {
  ChunkedParts parts;
  absl::string_view in = payload;
  EXPECT_EQ(in[0], 4);
  const auto encoding = static_cast<uint8_t>(in[1]);
  EXPECT_NE(encoding & 0x40, 0) << "compressed with Dictionary()";
  in.remove_prefix(2);
  uint64_t head_raw_size, head_size, dictionary_id;
  absl::string_view directory;
  EXPECT_TRUE(GetVarint64(&in, &parts.count) && GetVarint64(&in, &head_raw_size) &&
              GetSignedVarint64(&in, &parts.max_time) && GetVarint64(&in, &dictionary_id) &&
              GetLengthPrefixed(&in, &directory) && GetVarint64(&in, &head_size));
  EXPECT_EQ(dictionary_id, Dictionary().dictionary->id());
  const std::string head =
      Decompressed(in.substr(0, head_size), head_raw_size, (encoding & 0x0F) == 1);
  const size_t frames_start = payload.size() - (in.size() - head_size);
  parts.head_offset = frames_start - head_size;
  parts.head_size = head_size;
  absl::string_view h = head;
  uint64_t words;
  EXPECT_TRUE(GetVarint64(&h, &words));
  for (uint64_t i = 0; i < words; ++i) {
    absl::string_view word;
    EXPECT_TRUE(GetLengthPrefixed(&h, &word));
  }
  parts.words = std::string(head.data(), h.data() - head.data());
  for (int c = 0; c < 14; ++c) {
    absl::string_view column;
    EXPECT_TRUE(GetLengthPrefixed(&h, &column));
    parts.columns.emplace_back(column);
  }
  uint64_t n;
  EXPECT_TRUE(GetVarint64(&directory, &n));
  size_t offset = frames_start;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t rows, raw_size, stored, span, buckets;
    int64_t min_delta;
    EXPECT_TRUE(GetVarint64(&directory, &rows) && GetVarint64(&directory, &raw_size) &&
                GetVarint64(&directory, &stored));
    const char* times_start = directory.data();
    EXPECT_TRUE(GetSignedVarint64(&directory, &min_delta) && GetVarint64(&directory, &span));
    if ((stored & 2) != 0) EXPECT_TRUE(GetFixed64LE(&directory, &buckets));
    parts.chunk_times.emplace_back(times_start, directory.data() - times_start);
    parts.chunk_buckets.push_back((stored & 2) != 0);
    parts.chunk_rows.push_back(rows);
    parts.frame_offsets.push_back(offset);
    parts.frame_sizes.push_back(stored >> 2);
    parts.chunks.push_back(
        Decompressed(payload.substr(offset, stored >> 2), raw_size, (stored & 1) != 0));
    offset += stored >> 2;
  }
  EXPECT_TRUE(directory.empty());
  EXPECT_EQ(offset, payload.size());
  return parts;
}

// The head's raw bytes with `directory` in the chunk directory's slot.
std::string Head(const ChunkedParts& parts, absl::string_view directory,
                 absl::string_view messages = "") {
  std::string head = parts.words;
  for (int c = 0; c < 14; ++c) {
    PutLengthPrefixed(&head, c == 11 ? directory : c == 12 ? messages : parts.columns[c]);
  }
  return head;
}

// Format 4 with nothing compressed, from `body`: the chunk directory, the
// raw head and the chunks back to back, cut where the intact body has them
// (`sizes`: the directory's and the head's); a shorter body is cut short.
std::string WrapVersion4(const ChunkedParts& parts, absl::string_view body,
                         std::pair<size_t, size_t> sizes, size_t head_raw_size) {
  std::string payload;
  payload.push_back(4);
  payload.push_back(0x30);  // settled, split, head uncompressed
  PutVarint64(&payload, parts.count);
  PutVarint64(&payload, head_raw_size);
  PutSignedVarint64(&payload, parts.max_time);
  const absl::string_view directory = body.substr(0, sizes.first);
  body.remove_prefix(directory.size());
  PutLengthPrefixed(&payload, directory);
  PutVarint64(&payload, std::min(sizes.second, body.size()));
  payload.append(body.data(), body.size());
  return payload;
}

// The chunk directory (for uncompressed chunks), the raw head and the chunks;
// `sizes` gets the directory's and the head's sizes.
std::string UncompressedBody(const ChunkedParts& parts, std::pair<size_t, size_t>* sizes) {
  std::string directory, chunks;
  PutVarint64(&directory, parts.chunks.size());
  for (size_t i = 0; i < parts.chunks.size(); ++i) {
    PutVarint64(&directory, parts.chunk_rows[i]);
    PutVarint64(&directory, parts.chunks[i].size());
    PutVarint64(&directory, parts.chunks[i].size() << 2 | (parts.chunk_buckets[i] ? 2 : 0));
    directory += parts.chunk_times[i];
  }
  for (const std::string& chunk : parts.chunks) chunks += chunk;
  const std::string head = Head(parts, "");
  *sizes = {directory.size(), head.size()};
  return directory + head + chunks;
}

// The same block as format 3 wrote it: templates and numbers whole, in the
// message columns' slots, uncompressed.
std::string AsVersion3(const ChunkedParts& parts) {
  std::string templates, numbers;
  for (const std::string& chunk : parts.chunks) {
    absl::string_view in = chunk, chunk_templates;
    EXPECT_TRUE(GetLengthPrefixed(&in, &chunk_templates));
    templates.append(chunk_templates.data(), chunk_templates.size());
    numbers.append(in.data(), in.size());
  }
  const std::string columns = Head(parts, templates, numbers);
  std::string payload;
  payload.push_back(3);
  payload.push_back(0x30);  // settled, split, uncompressed
  PutVarint64(&payload, parts.count);
  PutVarint64(&payload, columns.size());
  PutSignedVarint64(&payload, parts.max_time);
  payload.append(columns);
  return payload;
}

// Entries of `sessions` sessions two hours apart, `per_hour` lines a second
// apart each: "PaymentTimeout" only in the first session's lines.
std::vector<std::unique_ptr<OwnedEntry>> HourlyEntries(int sessions, int per_hour) {
  std::vector<std::unique_ptr<OwnedEntry>> entries;
  auto base = RandomEntries(static_cast<size_t>(sessions * per_hour), 31);
  for (int h = 0; h < sessions; ++h) {
    for (int i = 0; i < per_hour; ++i) {
      std::unique_ptr<OwnedEntry> e = std::move(base[entries.size()]);
      e->time = kHourStart + 2 * h * kOneHour + i * 1'000'000;
      e->device_time = e->time;
      e->receive_time = e->time;
      e->message = h == 0 && i % 10 == 3
                       ? absl::StrCat("checkout: PaymentTimeout after ", 5000 + i, " ms")
                       : absl::StrCat("screen ", h, " shown in ", i, " ms");
      entries.push_back(std::move(e));
    }
  }
  return entries;
}

TEST(BlockTest, ChunksEndAtTheirRowLimitAndWhereTheDeviceWentQuiet) {
  std::vector<uint32_t> rows;
  CutIntoChunks({}, &rows);
  EXPECT_TRUE(rows.empty());
  // 4,500 rows a minute apart (steady logging, three days): cut by count only.
  std::vector<int64_t> times(4500);
  for (size_t i = 0; i < times.size(); ++i) times[i] = static_cast<int64_t>(i) * 60'000'000;
  CutIntoChunks(times, &rows);
  EXPECT_EQ(rows, (std::vector<uint32_t>{2048, 2048, 404}));
  // Sessions of 40 rows, days apart: a chunk each.
  times.clear();
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 40; ++i) times.push_back(s * 24 * kOneHour + i * 1'000'000);
  }
  CutIntoChunks(times, &rows);
  EXPECT_EQ(rows, (std::vector<uint32_t>{40, 40, 40}));
  // A chunk holds kMinChunkRows rows, whatever their span: sessions of 10 rows
  // a day apart are cut only at the first quiet spell once 32 rows are in.
  times.clear();
  for (int s = 0; s < 4; ++s) {
    for (int i = 0; i < 10; ++i) times.push_back(s * 24 * kOneHour + i);
  }
  CutIntoChunks(times, &rows);
  EXPECT_EQ(rows, (std::vector<uint32_t>{40}));
  for (int i = 0; i < 5; ++i) times.push_back(5 * 24 * kOneHour + i);
  CutIntoChunks(times, &rows);
  EXPECT_EQ(rows, (std::vector<uint32_t>{40, 5}));
  // An hour's gap exactly does not cut; a clock stepping back by more than an
  // hour does; extreme times do not overflow.
  times = std::vector<int64_t>(32, 10 * kOneHour);
  times.push_back(11 * kOneHour);
  times.push_back(10 * kOneHour - 1);
  times.push_back(std::numeric_limits<int64_t>::min());
  times.push_back(std::numeric_limits<int64_t>::max());
  CutIntoChunks(times, &rows);
  EXPECT_EQ(rows, (std::vector<uint32_t>{33, 3}));
}

// Without its app's dictionary zstd would start every chunk from nothing
// (512-line chunks of a 4,096-line block took 25.5 bytes a line against 16.4
// whole, store_bench BM_BlockEncode/4096): such a block is one chunk, gaps or
// not, written as format 3 (one frame), and reads back whole.
TEST(BlockTest, WithoutADictionaryASettledBlockIsOneChunk) {
  const auto entries = HourlyEntries(4, 100);
  const std::string plain = EncodeBlock(entries);
  EXPECT_EQ(plain[0], 3);
  EXPECT_EQ(plain[1] & 0x70, 0x30) << "settled, messages split, no dictionary";
  const std::string chunked = EncodeBlock(entries, Dictionary().encoding());
  EXPECT_EQ(chunked[0], 4) << "with the dictionary: several chunks, format 4";
  EXPECT_EQ(TakeApart(chunked).chunks.size(), 4u) << "a chunk a session";
  absl::StatusOr<BlockReader> back = BlockReader::Open(plain);
  ASSERT_TRUE(back.ok()) << back.status();
  for (size_t row = 0; row < entries.size(); ++row) {
    ASSERT_EQ(back->message(row), entries[row]->message);
  }
}

// A settled block of no rows right after one of many (the encoder keeps its
// scratch between blocks) holds none of the other's text.
TEST(BlockTest, AnEmptySettledBlockAfterAFullOneReadsAsEmpty) {
  for (const BlockEncoding& encoding : {BlockEncoding{3, true}, Dictionary().encoding()}) {
    ASSERT_TRUE(BlockReader::Open(EncodeBlock(HourlyEntries(4, 100), encoding), Dictionary().read())
                    .ok());
    absl::StatusOr<BlockReader> empty =
        BlockReader::Open(EncodeBlock({}, encoding), Dictionary().read());
    ASSERT_TRUE(empty.ok()) << empty.status();
    EXPECT_EQ(empty->size(), 0u);
  }
}

// What format 4 is for: a reader decompresses the chunks that hold rows it
// wants and no others. A chunk outside the wanted time range is damaged here:
// a reader of another hour never notices, a reader of the whole block does.
TEST(BlockTest, OnlyTheChunksOfWantedRowsAreDecompressed) {
  const auto entries = HourlyEntries(4, 100);
  const std::string payload = EncodeBlock(entries, Dictionary().encoding());
  const ChunkedParts parts = TakeApart(payload);
  ASSERT_EQ(parts.chunk_rows, (std::vector<uint64_t>{100, 100, 100, 100}));
  std::string damaged = payload;
  damaged[parts.frame_offsets[0] + parts.frame_sizes[0] / 2] ^= 0x10;
  ASSERT_EQ(BlockReader::Open(damaged, Dictionary().read()).status().code(),
            absl::StatusCode::kDataLoss);

  const int64_t third_hour = kHourStart + 2 * 2 * kOneHour;
  absl::StatusOr<BlockReader> hour = BlockReader::Open(
      damaged,
      Dictionary().read({.messages_from_us = third_hour, .messages_to_us = third_hour + kOneHour}));
  ASSERT_TRUE(hour.ok()) << hour.status();
  ASSERT_EQ(hour->size(), 400u) << "every row, with its other columns";
  for (size_t row = 0; row < 400; ++row) {
    EXPECT_EQ(hour->seq(row), entries[row]->seq);
    EXPECT_EQ(hour->message(row), row / 100 == 2 ? entries[row]->message : "") << row;
  }
  // Asking later for rows of another intact chunk decompresses it; for rows
  // of the damaged one, reports it.
  ASSERT_TRUE(hour->RebuildMessages([](size_t row) { return row == 350 || row == 399; }).ok());
  EXPECT_EQ(hour->message(350), entries[350]->message);
  EXPECT_EQ(hour->message(399), entries[399]->message);
  EXPECT_EQ(hour->message(250), "");
  EXPECT_EQ(hour->RebuildMessages([](size_t row) { return row == 5; }).code(),
            absl::StatusCode::kDataLoss);
  // A time range with no row decompresses no chunk at all.
  absl::StatusOr<BlockReader> none =
      BlockReader::Open(damaged, Dictionary().read({.messages_from_us = 0, .messages_to_us = 0}));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->message(0), "");
}

// A search's text is looked for in the chunks of its time range only: a
// block whose matching lines lie in another hour opens with no rows.
TEST(BlockTest, ASearchRulesOutABlockByTheChunksOfItsTimeRange) {
  const auto entries = HourlyEntries(4, 100);
  const std::string payload = EncodeBlock(entries, Dictionary().encoding());
  // Session h's hour, searched for the text.
  const auto search = [](absl::string_view payload, int h) {
    const int64_t from = kHourStart + 2 * h * kOneHour;
    return BlockReader::Open(payload, Dictionary().read({.messages_from_us = from,
                                                         .messages_to_us = from + kOneHour,
                                                         .messages_containing = "paymenttimeout",
                                                         .skip_blocks_ruled_out = true}));
  };
  for (int h = 0; h < 4; ++h) {
    SCOPED_TRACE(h);
    absl::StatusOr<BlockReader> block = search(payload, h);
    ASSERT_TRUE(block.ok()) << block.status();
    EXPECT_EQ(block->lines(), 400u);
    if (h != 0) {
      EXPECT_EQ(block->size(), 0u) << "the text is in the first hour's lines only";
      EXPECT_TRUE(block->RebuildMessages([](size_t) { return true; }).ok()) << "nothing to ask";
      continue;
    }
    ASSERT_EQ(block->size(), 400u);
    size_t holding = 0;
    for (size_t row = 0; row < 100; ++row) {
      holding += absl::StrContains(block->message(row), "PaymentTimeout");
      EXPECT_TRUE(block->message(row).empty() || block->message(row) == entries[row]->message);
    }
    EXPECT_EQ(holding, 10u);
  }
  // A block the search rules out is not decompressed beyond its chunks: with
  // its head damaged, the hours without the text still read as no rows, the
  // hour with it reports the damage.
  const ChunkedParts parts = TakeApart(payload);
  std::string damaged = payload;
  damaged[parts.head_offset + parts.head_size / 2] ^= 0x10;
  for (int h = 0; h < 4; ++h) {
    absl::StatusOr<BlockReader> block = search(damaged, h);
    if (h == 0) {
      EXPECT_EQ(block.status().code(), absl::StatusCode::kDataLoss);
    } else {
      ASSERT_TRUE(block.ok()) << block.status();
      EXPECT_EQ(block->size(), 0u);
    }
  }
}

// Stores written before format 4 keep their format 3 blocks (templates and
// numbers whole): they read as ever, and damage in them is reported, not
// crashed on. The layout's own checks, without zstd's checksum in the way:
// the columns stored uncompressed, then truncated and flipped; likewise a
// format 4 block's head and chunks.
TEST(BlockTest, CorruptSplitMessagesAreRejectedNotCrashedOn) {
  // 680 rows, the second half two hours after the first: two chunks.
  const auto tricky_entries = [](int rounds) {
    std::vector<std::unique_ptr<OwnedEntry>> entries;
    for (int round = 0; round < rounds; ++round) {
      for (const std::string& m : TrickyMessages()) {
        auto e = std::make_unique<OwnedEntry>();
        e->seq = entries.size() + 1;
        e->time = kHourStart + static_cast<int64_t>(entries.size()) * 10'000'000 +
                  (entries.size() >= 340 ? 2 * kOneHour : 0);
        e->message = m;
        entries.push_back(std::move(e));
      }
    }
    return entries;
  };
  const auto entries = tricky_entries(40);
  const ChunkedParts parts = TakeApart(EncodeBlock(entries, Dictionary().encoding()));
  ASSERT_EQ(parts.chunks.size(), 2u);

  std::pair<size_t, size_t> sizes;
  const std::string body = UncompressedBody(parts, &sizes);
  struct Layout {
    const char* name;
    std::function<std::string(absl::string_view body)> wrap;
    std::string body;
    const std::vector<std::unique_ptr<OwnedEntry>>* entries;
  };
  const std::string v3 = AsVersion3(parts);
  // Format 3's columns: everything after its header.
  absl::string_view v3_in(v3);
  v3_in.remove_prefix(2);
  uint64_t count, raw_size;
  int64_t max_time;
  ASSERT_TRUE(GetVarint64(&v3_in, &count) && GetVarint64(&v3_in, &raw_size) &&
              GetSignedVarint64(&v3_in, &max_time));
  const Layout layouts[] = {
      {"format 3",
       [&](absl::string_view columns) {
         std::string payload;
         payload.push_back(3);
         payload.push_back(0x30);
         PutVarint64(&payload, count);
         PutVarint64(&payload, columns.size());
         PutSignedVarint64(&payload, max_time);
         payload.append(columns.data(), columns.size());
         return payload;
       },
       std::string(v3_in), &entries},
      {"format 4", [&](absl::string_view b) { return WrapVersion4(parts, b, sizes, sizes.second); },
       body, &entries},
  };
  for (const Layout& layout : layouts) {
    SCOPED_TRACE(layout.name);
    const auto& entries = *layout.entries;
    absl::StatusOr<BlockReader> intact = BlockReader::Open(layout.wrap(layout.body));
    ASSERT_TRUE(intact.ok()) << intact.status();
    ASSERT_EQ(intact->size(), entries.size());
    for (size_t i = 0; i < entries.size(); ++i) EXPECT_EQ(intact->message(i), entries[i]->message);

    std::mt19937_64 random(17);
    size_t rejected = 0;
    // Besides the whole block: a search of a middle stretch of it, and the
    // messages of every row asked for afterwards (chunks decoded late).
    const int64_t middle = entries[entries.size() / 2]->time;
    const BlockReadOptions search{.messages_from_us = middle - 600'000'000,
                                  .messages_to_us = middle + 600'000'000,
                                  .messages_containing = "took",
                                  .skip_blocks_ruled_out = true};
    for (int trial = 0; trial < 2000; ++trial) {
      std::string corrupt = layout.body;
      corrupt[random() % corrupt.size()] ^= static_cast<char>(1 << (random() % 8));
      const std::string payload = layout.wrap(corrupt);
      absl::StatusOr<BlockReader> reader = BlockReader::Open(payload);
      if (!reader.ok()) {
        EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
        ++rejected;
      } else {
        for (size_t i = 0; i < reader->size(); ++i) (void)reader->message(i);
      }
      absl::StatusOr<BlockReader> searched = BlockReader::Open(payload, search);
      if (!searched.ok()) {
        EXPECT_EQ(searched.status().code(), absl::StatusCode::kDataLoss);
        continue;
      }
      const absl::Status rebuilt = searched->RebuildMessages([](size_t) { return true; });
      if (!rebuilt.ok()) EXPECT_EQ(rebuilt.code(), absl::StatusCode::kDataLoss);
      for (size_t i = 0; i < searched->size(); ++i) (void)searched->message(i);
    }
    EXPECT_GT(rejected, 100u);
    for (size_t cut = 0; cut < layout.body.size(); cut += 1 + cut / 64) {
      EXPECT_FALSE(BlockReader::Open(layout.wrap(layout.body.substr(0, cut))).ok()) << cut;
      // Skipping the messages checks them as much as rebuilding them does
      // (format 3: the templates are walked; format 4: chunk sizes add up).
      EXPECT_FALSE(BlockReader::Open(layout.wrap(layout.body.substr(0, cut)),
                                     BlockReadOptions{.messages_to_us = 0})
                       .ok())
          << cut;
    }
  }
}

}  // namespace
}  // namespace fieldlog::store
