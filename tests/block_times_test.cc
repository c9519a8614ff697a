// The blocks' time index (store/block_times.h) against a real RocksDB in a
// temporary directory: after appends that extend tails, late batches that
// fill gaps, merges, an erasure and a reopen, the index holds exactly the
// keys of the lines stored (by hour, or by day for blocks whose lines are
// spread), and an app-wide listing through it finds every block with a line
// in the range. A store from before the index gets it when opened; retention
// drops a key only once its whole hour or day is expired.
#include "store/block_times.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "store/block.h"
#include "store/reader.h"
#include "store/store.h"
#include "store/time_buckets.h"
#include "store/writer.h"
#include "tests/testing/test_util.h"

namespace fieldlog::store {
namespace {

constexpr AppId kApp = 1;
constexpr int64_t kHour = kHourMicros;
constexpr int64_t kDay = kDayMicros;
// Midnight UTC, so that the test knows which hours and days lines fall in.
constexpr int64_t kBaseTime = 1'795'000'000'000'000 / kDay * kDay;

TEST(BlockTimeSlotTest, SlotsRoundDownAndKeepOrderAtTheExtremes) {
  EXPECT_EQ(SlotOf(kBaseTime, kHour), kBaseTime);
  EXPECT_EQ(SlotOf(kBaseTime + kHour - 1, kHour), kBaseTime);
  EXPECT_EQ(SlotOf(kBaseTime + kHour, kHour), kBaseTime + kHour);
  EXPECT_EQ(SlotOf(kBaseTime + kDay - 1, kDay), kBaseTime);
  EXPECT_EQ(SlotOf(0, kHour), 0);
  EXPECT_EQ(SlotOf(-1, kHour), -kHour);
  EXPECT_EQ(SlotOf(-kHour, kHour), -kHour);
  EXPECT_EQ(SlotOf(-kHour - 1, kHour), -2 * kHour);
  EXPECT_EQ(SlotOf(-1, kDay), -kDay);
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  for (int64_t width : {kHour, kDay}) {
    EXPECT_LE(SlotOf(kMin, width), SlotOf(kMin + width, width));
    EXPECT_LE(SlotOf(kMax - width, width), SlotOf(kMax, width));
    EXPECT_LE(SlotOf(kMax, width), kMax);
  }
}

// Hour keys while they are few for the block's lines, day keys otherwise;
// each with the parts of its slot the block has lines in.
TEST(BlockTimeSlotTest, ABlockIsIndexedByHourUnlessThatTakesTooManyKeys) {
  // The 5-minute parts of the given hours: the first `per_hour` of each.
  const auto parts = [](std::vector<int64_t> hours, int per_hour) {
    std::vector<int64_t> out;
    for (int64_t h : hours) {
      for (int p = 0; p < per_hour; ++p) out.push_back(kBaseTime + h * kHour + p * kPartMicros);
    }
    return out;
  };
  const auto hour_keys = [](std::vector<int64_t> hours, uint32_t mask) {
    std::vector<BlockTimeSlot> keys;
    for (int64_t h : hours) keys.push_back({kHourLevel, kBaseTime + h * kHour, mask});
    return keys;
  };
  // A busy device's block: 2,048 lines in five hours, in every part of them.
  EXPECT_EQ(ChooseBlockTimeSlots(parts({3, 4, 5, 6, 7}, 12), 2048),
            hour_keys({3, 4, 5, 6, 7}, AllParts(kHourLevel)));
  // A quiet device's: 60 lines in sessions of 10 minutes over three days.
  EXPECT_EQ(ChooseBlockTimeSlots(parts({9, 33, 34, 58}, 2), 60),
            hour_keys({9, 33, 34, 58}, 0b11));
  // One line, one hour: the part it is in.
  EXPECT_EQ(ChooseBlockTimeSlots({kBaseTime + 5 * kHour + 7 * kPartMicros}, 1),
            hour_keys({5}, 1u << 7));
  // A line an hour: 20 lines in 20 hours of two days would be a key a line.
  std::vector<int64_t> spread;
  for (int h = 10; h < 30; ++h) spread.push_back(h);
  EXPECT_EQ(ChooseBlockTimeSlots(parts(spread, 1), 20),
            (std::vector<BlockTimeSlot>{{kDayLevel, kBaseTime, 0xFFFC00},  // 10:00-23:00
                                        {kDayLevel, kBaseTime + kDay, 0x3F}}));  // 00:00-05:00
  // Enough lines for the keys, but in most hours of the day: 2,000 lines in
  // 23 hours.
  spread.clear();
  for (int h = 0; h < 23; ++h) spread.push_back(h);
  EXPECT_EQ(ChooseBlockTimeSlots(parts(spread, 3), 2000),
            (std::vector<BlockTimeSlot>{{kDayLevel, kBaseTime, 0x7FFFFF}}));
}

TEST(BlockTimeSlotTest, PartsRoundTripAndMeetRanges) {
  for (char level : {kHourLevel, kDayLevel}) {
    const uint32_t all = AllParts(level);
    EXPECT_EQ(all, level == kHourLevel ? 0xFFFu : 0xFFFFFFu);
    for (uint32_t parts : {0u, 1u, 0x801u, 0xABCu, all}) {
      EXPECT_EQ(DecodeParts(level, EncodeParts(level, parts)), parts & all) << level;
    }
    EXPECT_EQ(DecodeParts(level, ""), all) << "a value it cannot read counts as every part";
  }
  const int64_t day = kBaseTime, minute = 60'000'000;
  EXPECT_EQ(PartsTouched(kDayLevel, day, day + 90 * minute, day + 150 * minute), 0b110u);
  EXPECT_EQ(PartsTouched(kDayLevel, day, day + kHour, day + 2 * kHour), 0b10u)
      << "to is exclusive";
  EXPECT_EQ(PartsTouched(kDayLevel, day, day - kHour, day + 1), 1u);
  EXPECT_EQ(PartsTouched(kDayLevel, day, day + kDay - 1, day + kDay + kHour), 1u << 23);
  EXPECT_EQ(PartsTouched(kDayLevel, day, day - kDay, day), 0u);
  EXPECT_EQ(PartsTouched(kDayLevel, day, day - kDay, day + 2 * kDay), AllParts(kDayLevel));
  EXPECT_EQ(PartsTouched(kDayLevel, day, std::numeric_limits<int64_t>::min(), day + 1), 1u);
  // An hour from 10:23 to 11:23 cuts the 10:00 hour from its part 4 and
  // the 11:00 hour up to its part 4.
  const int64_t ten = day + 10 * kHour;
  EXPECT_EQ(PartsTouched(kHourLevel, ten, ten + 23 * minute, ten + 83 * minute), 0xFF0u);
  EXPECT_EQ(PartsTouched(kHourLevel, ten + kHour, ten + 23 * minute, ten + 83 * minute), 0x1Fu);
}

// The hours read from a meta's buckets cover every line's hour, whatever the
// block's span, and the limit is honoured.
TEST(BlockTimeSlotTest, HoursOfAMetaCoverEveryLine) {
  std::mt19937_64 random(7);
  for (int trial = 0; trial < 200; ++trial) {
    // Spans from minutes to weeks, lines in a few bursts.
    const int64_t span = int64_t{60'000'000} << (trial % 15);
    std::vector<int64_t> times;
    for (int burst = 0; burst < 1 + trial % 4; ++burst) {
      const int64_t start = kBaseTime + static_cast<int64_t>(random() % span);
      for (int i = 0; i < 5; ++i) times.push_back(start + i * 1'000'000);
    }
    std::sort(times.begin(), times.end());
    BlockBuilder builder;
    for (size_t i = 0; i < times.size(); ++i) {
      EntryView e;
      e.seq = i + 1;
      e.time_us = e.device_time_us = e.receive_time_us = times[i];
      e.message = "m";
      builder.Add(e);
    }
    std::string payload;
    BlockMeta meta;
    builder.Finish(&payload, &meta);
    std::vector<int64_t> hours;
    ASSERT_TRUE(HoursOfMeta(meta, std::numeric_limits<size_t>::max(), &hours));
    ASSERT_TRUE(std::is_sorted(hours.begin(), hours.end()));
    for (int64_t t : times) {
      EXPECT_TRUE(std::binary_search(hours.begin(), hours.end(), SlotOf(t, kHour)))
          << "trial " << trial << ": the hour of " << t << " is missing";
    }
    if (hours.size() > 1) {
      EXPECT_FALSE(HoursOfMeta(meta, hours.size() - 1, &hours));
    }
    // Without buckets (a meta from before them): every hour of [min, max].
    meta.clear_time_buckets();
    ASSERT_TRUE(HoursOfMeta(meta, std::numeric_limits<size_t>::max(), &hours));
    EXPECT_EQ(hours.size(),
              static_cast<size_t>(
                  (SlotOf(times.back(), kHour) - SlotOf(times.front(), kHour)) / kHour + 1));
  }
}

class BlockTimesTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(uint32_t retention_days = 0) {
    StoreOptions options;
    options.path = dir_.path() + "/db";
    options.default_retention_days = retention_days;
    options.merge_lines = 256;  // merges happen within the test's few lines
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Appends one batch to `device`: seqs from `first_seq` on, one for each
  // device time of `times`.
  void Append(const std::string& device, uint64_t first_seq, const std::vector<int64_t>& times,
              const std::string& user = "alice", std::optional<int64_t> offset = std::nullopt) {
    std::vector<EntryView> entries;
    for (size_t i = 0; i < times.size(); ++i) {
      EntryView e;
      e.seq = first_seq + i;
      e.device_time_us = times[i];
      e.receive_time_us = times[i];
      e.message = "line";
      e.user_id = user;
      e.session_id = "s1";
      entries.push_back(e);
    }
    AppendRequest request;
    request.app = kApp;
    request.device_id = device;
    request.receive_time_us = times.empty() ? kBaseTime : times.back();
    request.clock_offset_estimate_us = offset;
    request.entries = entries;
    absl::StatusOr<AppendResult> result = store_->writer().Append(request);
    ASSERT_TRUE(result.ok()) << result.status();
  }

  // The keys the index holds, with their values.
  std::set<std::pair<std::string, std::string>> IndexKeys() {
    std::set<std::pair<std::string, std::string>> keys;
    std::unique_ptr<rocksdb::Iterator> it(
        store_->db()->NewIterator(rocksdb::ReadOptions(), store_->family(Family::kBlockTimes)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      keys.emplace(it->key().ToString(), it->value().ToString());
    }
    EXPECT_TRUE(it->status().ok());
    return keys;
  }

  // Calls visit(key, block) for every block stored, opened whole.
  void ForEachStoredBlock(
      const std::function<void(const ParsedBlockKey& key, const BlockReader& block)>& visit) {
    BlockReadOptions options;
    options.dictionaries = &store_->dictionaries();
    std::unique_ptr<rocksdb::Iterator> it(
        store_->db()->NewIterator(rocksdb::ReadOptions(), store_->family(Family::kBlocks)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::optional<ParsedBlockKey> key =
          ParseBlockKey(absl::string_view(it->key().data(), it->key().size()));
      absl::StatusOr<BlockReader> block =
          BlockReader::Open(absl::string_view(it->value().data(), it->value().size()), options);
      EXPECT_TRUE(key.has_value());
      EXPECT_TRUE(block.ok()) << block.status();
      if (key && block.ok()) visit(*key, *block);
    }
    EXPECT_TRUE(it->status().ok());
  }

  // The keys the index should hold: per block, one per hour of its lines or
  // one per day (ChooseBlockTimeSlots).
  std::set<std::pair<std::string, std::string>> ExactKeys() {
    std::set<std::pair<std::string, std::string>> keys;
    ForEachStoredBlock([&](const ParsedBlockKey& key, const BlockReader& block) {
      std::vector<int64_t> parts;
      for (size_t row = 0; row < block.size(); ++row) {
        parts.push_back(SlotOf(block.time_us(row), kPartMicros));
      }
      std::sort(parts.begin(), parts.end());
      parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
      for (const BlockTimeSlot& slot : ChooseBlockTimeSlots(parts, block.size())) {
        keys.emplace(BlockTimeKey(kApp, slot.level, slot.slot_us, key.device_id, key.first_seq),
                     EncodeParts(slot.level, slot.parts));
      }
    });
    return keys;
  }

  // The blocks of [from_us, to_us) as the reader lists them, and as a walk
  // over every meta with the one time test finds them.
  static std::string Name(absl::string_view device_id, uint64_t first_seq) {
    return absl::StrCat(device_id, "@", first_seq);
  }
  std::vector<std::string> Listed(int64_t from_us, int64_t to_us) {
    Reader reader(*store_);
    absl::StatusOr<std::vector<AppBlockRef>> refs = reader.ListAppBlocks(kApp, from_us, to_us);
    EXPECT_TRUE(refs.ok()) << refs.status();
    std::vector<std::string> names;
    for (const AppBlockRef& ref : *refs) names.push_back(Name(ref.device_id, ref.block.first_seq));
    return names;
  }
  std::vector<std::string> Walked(int64_t from_us, int64_t to_us) {
    std::vector<std::string> names;
    std::unique_ptr<rocksdb::Iterator> it(
        store_->db()->NewIterator(rocksdb::ReadOptions(), store_->family(Family::kBlockMeta)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::optional<ParsedBlockKey> key =
          ParseBlockKey(absl::string_view(it->key().data(), it->key().size()));
      BlockMeta meta;
      EXPECT_TRUE(key &&
                  meta.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())));
      if (key && BlockMetaMeetsRange(meta, from_us, to_us)) {
        names.push_back(Name(key->device_id, key->first_seq));
      }
    }
    return names;
  }

  // The blocks that hold a line of [from_us, to_us), read line by line.
  std::vector<std::string> Holding(int64_t from_us, int64_t to_us) {
    std::vector<std::string> names;
    ForEachStoredBlock([&](const ParsedBlockKey& key, const BlockReader& block) {
      for (size_t row = 0; row < block.size(); ++row) {
        if (block.time_us(row) >= from_us && block.time_us(row) < to_us) {
          names.push_back(Name(key.device_id, key.first_seq));
          return;
        }
      }
    });
    return names;
  }

  // Every range of the test's span, in steps of 20 minutes, of lengths from
  // a minute to seven hours: the listing holds every block with a line in the
  // range (it may not miss one), and only blocks the walk over the metas
  // would give (the index is finer than the metas' buckets, never coarser),
  // in key order.
  void ExpectListingsHoldEveryBlockOfTheRange(int64_t span_from_us, int64_t span_to_us) {
    int ranges = 0, holding = 0, listed_more = 0;
    // The last length is listed by a walk over the metas, the others
    // through the index.
    for (int64_t length : {int64_t{60'000'000}, kHour / 2, kHour, 3 * kHour, kIndexedRangeMicros,
                           kIndexedRangeMicros + kHour}) {
      for (int64_t from = span_from_us - 2 * kHour; from < span_to_us; from += kHour / 3) {
        const int64_t to = from + length;
        const std::vector<std::string> listed = Listed(from, to);
        const std::vector<std::string> walked = Walked(from, to);
        const std::vector<std::string> held = Holding(from, to);
        const auto in = [](const std::vector<std::string>& names, const std::string& name) {
          return std::find(names.begin(), names.end(), name) != names.end();
        };
        std::vector<std::string> walked_and_listed;
        for (const std::string& name : walked) {
          if (in(listed, name)) walked_and_listed.push_back(name);
        }
        ASSERT_EQ(listed, walked_and_listed)
            << "a block the walk does not give, or out of key order, in [" << from << ", +"
            << length << ")";
        for (const std::string& name : held) {
          ASSERT_TRUE(in(listed, name))
              << name << " holds a line of [" << from << ", +" << length << ") but is not listed";
        }
        ++ranges;
        holding += static_cast<int>(held.size());
        listed_more += static_cast<int>(listed.size() - held.size());
      }
    }
    EXPECT_GT(holding, ranges / 4) << "the ranges should meet blocks";
    // Slots of an hour list a block for a line just outside a range that
    // does not fill its hours; not often.
    EXPECT_LT(listed_more, holding / 2);
  }

  // `count` device times from `from_us`, `step_us` apart.
  static std::vector<int64_t> Times(int64_t from_us, int64_t step_us, int count) {
    std::vector<int64_t> times;
    for (int i = 0; i < count; ++i) times.push_back(from_us + i * step_us);
    return times;
  }

  fieldlog::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(BlockTimesTest, TheIndexFollowsAppendsMergesGapsAndErasure) {
  // A steady device: 600 lines a minute apart (10 hours), in batches of 50
  // that extend its tail and are merged once 256 lines are waiting.
  for (int b = 0; b < 12; ++b) {
    Append("steady", 1 + b * 50, Times(kBaseTime + b * 50 * 60'000'000LL, 60'000'000, 50));
  }
  // A quiet device: a few lines every five hours over a day, one batch each.
  for (int b = 0; b < 5; ++b) {
    Append("quiet", 1 + b * 3, Times(kBaseTime + b * 5 * kHour + 17 * 60'000'000LL, 1'000'000, 3));
  }
  // A late batch filling a gap: seqs 101-110 arrive after 111-200.
  Append("late", 111, Times(kBaseTime + 2 * kHour, 30'000'000, 90), "bob");
  Append("late", 1, Times(kBaseTime, 30'000'000, 100), "bob");
  Append("late", 101, Times(kBaseTime + 7 * kHour, 30'000'000, 10), "bob");
  // A device whose clock is two days behind, corrected by the collector.
  Append("skewed", 1, Times(kBaseTime - 48 * kHour, 120'000'000, 40), "carol", 48 * kHour);
  // A device shared by two users: her lines go at the erasure, his stay.
  Append("shared", 1, Times(kBaseTime + 3 * kHour, 60'000'000, 30), "alice");
  Append("shared", 31, Times(kBaseTime + 4 * kHour, 60'000'000, 30), "bob");
  store_->writer().WaitForMerges();
  EXPECT_GT(store_->writer().merges(), 0u);

  const std::set<std::pair<std::string, std::string>> keys = IndexKeys();
  EXPECT_EQ(keys, ExactKeys());
  std::set<char> levels;
  for (const auto& [key, value] : keys) levels.insert(ParseBlockTimeKey(key)->level);
  EXPECT_EQ(levels, (std::set<char>{kHourLevel, kDayLevel})) << "blocks of both kinds";
  ExpectListingsHoldEveryBlockOfTheRange(kBaseTime, kBaseTime + 25 * kHour);

  absl::StatusOr<EraseResult> erased = store_->writer().EraseUser(kApp, "alice");
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_GT(erased->lines, 0u);
  EXPECT_EQ(IndexKeys(), ExactKeys()) << "the erased lines' hours leave the index";
  ExpectListingsHoldEveryBlockOfTheRange(kBaseTime, kBaseTime + 25 * kHour);

  store_.reset();
  Open();
  EXPECT_EQ(IndexKeys(), ExactKeys());
  ExpectListingsHoldEveryBlockOfTheRange(kBaseTime, kBaseTime + 25 * kHour);
}

// A store written before the index existed (here: its index and the mark
// that it was built removed) is indexed when opened, from its metas' time
// buckets: at least every (block, hour) of its lines, and listings as before.
TEST_F(BlockTimesTest, AStoreFromBeforeTheIndexIsIndexedWhenOpened) {
  for (int b = 0; b < 8; ++b) {
    Append("steady", 1 + b * 40, Times(kBaseTime + b * 40 * 90'000'000LL, 90'000'000, 40));
  }
  for (int d = 0; d < 20; ++d) {
    Append(absl::StrCat("quiet-", d), 1, Times(kBaseTime + d * 71 * 60'000'000LL, 7'000'000, 4));
  }
  store_->writer().WaitForMerges();
  const std::set<std::pair<std::string, std::string>> exact = ExactKeys();
  ASSERT_EQ(IndexKeys(), exact);

  rocksdb::WriteBatch forget;
  for (const auto& [key, value] : exact) forget.Delete(store_->family(Family::kBlockTimes), key);
  forget.Delete(store_->family(Family::kApps), kBlockTimesIndexedKey);
  ASSERT_TRUE(store_->db()->Write(rocksdb::WriteOptions(), &forget).ok());
  ASSERT_TRUE(IndexKeys().empty());
  store_.reset();
  Open();

  const std::set<std::pair<std::string, std::string>> rebuilt = IndexKeys();
  // Every block is named (from its buckets, so by more hours than its lines
  // hold, or by its days).
  std::set<std::string> named, blocks;
  for (const auto& [key, value] : rebuilt) {
    std::optional<ParsedBlockTimeKey> parsed = ParseBlockTimeKey(key);
    ASSERT_TRUE(parsed.has_value());
    named.insert(Name(parsed->device_id, parsed->first_seq));
  }
  for (const auto& [key, value] : exact) {
    std::optional<ParsedBlockTimeKey> parsed = ParseBlockTimeKey(key);
    blocks.insert(Name(parsed->device_id, parsed->first_seq));
  }
  EXPECT_EQ(named, blocks);
  ExpectListingsHoldEveryBlockOfTheRange(kBaseTime, kBaseTime + 25 * kHour);
  // Built once: opening again leaves it as it is.
  store_.reset();
  Open();
  EXPECT_EQ(IndexKeys(), rebuilt);
}

// Damage in the index: a value of the wrong size counts as every part of
// its slot (the block is read, not lost); a key that cannot be parsed fails
// the listing with DATA_LOSS and says where, rather than skipping blocks.
TEST_F(BlockTimesTest, ADamagedIndexIsReportedAndAShortValueCountsAsEveryPart) {
  // 20 lines in the first five minutes of 10:00.
  Append("d", 1, Times(kBaseTime + 10 * kHour, 10'000'000, 20));
  const std::string key = BlockTimeKey(kApp, kHourLevel, kBaseTime + 10 * kHour, "d", 1);
  ASSERT_EQ(IndexKeys(), (std::set<std::pair<std::string, std::string>>{
                             {key, EncodeParts(kHourLevel, 1)}}));
  const int64_t half_past = kBaseTime + 10 * kHour + kHour / 2;
  EXPECT_TRUE(Listed(half_past, half_past + kHour / 4).empty()) << "its parts miss the range";
  EXPECT_EQ(Listed(kBaseTime + 10 * kHour, half_past), std::vector<std::string>{"d@1"});

  // A value of one byte: every part, so the block is listed where its meta
  // decides (the walk's answer for the range).
  ASSERT_TRUE(
      store_->db()->Put(rocksdb::WriteOptions(), store_->family(Family::kBlockTimes), key, "x").ok());
  EXPECT_EQ(Listed(half_past, half_past + kHour / 4), Walked(half_past, half_past + kHour / 4));
  EXPECT_EQ(Listed(kBaseTime + 10 * kHour, half_past), std::vector<std::string>{"d@1"});

  // A key cut short in the range's hour.
  const std::string cut = key.substr(0, key.size() - 3);
  ASSERT_TRUE(
      store_->db()->Put(rocksdb::WriteOptions(), store_->family(Family::kBlockTimes), cut, "").ok());
  Reader reader(*store_);
  absl::StatusOr<std::vector<AppBlockRef>> refs =
      reader.ListAppBlocks(kApp, kBaseTime + 10 * kHour, half_past);
  EXPECT_EQ(refs.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(refs.status().message().find("blocks' time index"), std::string::npos)
      << refs.status();
  // Other hours are still answered.
  absl::StatusOr<std::vector<AppBlockRef>> later =
      reader.ListAppBlocks(kApp, kBaseTime + 12 * kHour, kBaseTime + 13 * kHour);
  EXPECT_TRUE(later.ok()) << later.status();
}

TEST_F(BlockTimesTest, RetentionDropsAKeyOnlyOnceItsWholeHourIsExpired) {
  store_.reset();
  Open(/*retention_days=*/1);
  const int64_t now = absl::ToUnixMicros(absl::Now());
  const int64_t cutoff = now - 24 * kHour;
  // Lines three days old, and lines of the last hour.
  Append("old", 1, Times(now - 72 * kHour, 1'000'000, 10));
  Append("new", 1, Times(now - kHour / 2, 1'000'000, 10));
  ASSERT_TRUE(store_->db()
                  ->CompactRange(rocksdb::CompactRangeOptions(),
                                 store_->family(Family::kBlockTimes), nullptr, nullptr)
                  .ok());
  const std::set<std::pair<std::string, std::string>> keys = IndexKeys();
  const std::set<std::string> key_names = [&] {
    std::set<std::string> names;
    for (const auto& [key, value] : keys) names.insert(key);
    return names;
  }();
  EXPECT_EQ(key_names.count(BlockTimeKey(kApp, kHourLevel, SlotOf(now - kHour / 2, kHour), "new", 1)),
            1u);
  for (const auto& [key, value] : keys) {
    std::optional<ParsedBlockTimeKey> parsed = ParseBlockTimeKey(key);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->device_id, "new") << "the old lines' hours are expired";
  }

  // The filter itself, on the hour and the day that hold the cutoff: they
  // started before the cutoff, but a block may hold a line of them after it.
  const rocksdb::CompactionFilter* filter = store_->retention().block_times_filter();
  for (const auto& [level, width] : {std::pair{kHourLevel, kHour}, std::pair{kDayLevel, kDay}}) {
    const auto expired = [&, level = level](int64_t slot) {
      std::string new_value;
      bool changed = false;
      return filter->Filter(0, BlockTimeKey(kApp, level, slot, "d", 1), "", &new_value, &changed);
    };
    const int64_t straddling = SlotOf(cutoff, width);
    if (straddling + width - cutoff > 1'000'000) {  // a second left of it
      EXPECT_LT(straddling, cutoff);
      EXPECT_FALSE(expired(straddling)) << level;
    }
    EXPECT_TRUE(expired(straddling - width)) << level;
    EXPECT_FALSE(expired(straddling + width)) << level;
  }
}

}  // namespace
}  // namespace fieldlog::store
