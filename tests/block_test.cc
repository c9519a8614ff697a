#include "store/block.h"

#include <random>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace fieldlog::store {
namespace {

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
      a.int_value = static_cast<int64_t>(random()) - (int64_t{1} << 62);
      a.double_value = static_cast<double>(random() % 1000) / 7.0;
      a.bool_value = random() % 2;
      e->attributes.push_back(a);
    }
    entries.push_back(std::move(e));
  }
  return entries;
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

}  // namespace
}  // namespace fieldlog::store
