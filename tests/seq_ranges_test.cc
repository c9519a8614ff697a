#include "store/seq_ranges.h"

#include <random>
#include <set>

#include "gtest/gtest.h"

namespace fieldlog::store {
namespace {

TEST(SeqRangesTest, ContiguousBatchesStayOneRange) {
  SeqRanges ranges;
  std::vector<uint64_t> batch;
  for (uint64_t s = 1; s <= 1000; ++s) batch.push_back(s);
  ranges.AddSorted(batch);
  batch.clear();
  for (uint64_t s = 1001; s <= 1500; ++s) batch.push_back(s);
  ranges.AddSorted(batch);
  ASSERT_EQ(ranges.ranges().size(), 1u);
  EXPECT_EQ(ranges.watermark(), 1500u);
  EXPECT_TRUE(ranges.Contains(1));
  EXPECT_TRUE(ranges.Contains(1500));
  EXPECT_FALSE(ranges.Contains(0));
  EXPECT_FALSE(ranges.Contains(1501));
}

TEST(SeqRangesTest, GapsCloseWhenTheMissingSeqsArrive) {
  SeqRanges ranges;
  const std::vector<uint64_t> late = {11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
  ranges.AddSorted(std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  ranges.AddSorted(std::vector<uint64_t>{21, 22, 23});
  EXPECT_EQ(ranges.ranges().size(), 2u);
  EXPECT_FALSE(ranges.Contains(15));
  ranges.AddSorted(late);
  EXPECT_EQ(ranges.ranges().size(), 1u);
  EXPECT_TRUE(ranges.Contains(15));
  EXPECT_EQ(ranges.watermark(), 23u);
}

TEST(SeqRangesTest, MatchesASetUnderRandomInserts) {
  std::mt19937_64 random(42);
  SeqRanges ranges;
  std::set<uint64_t> reference;
  bool joined = false;  // once the cap joins ranges, gaps may read as stored
  for (int round = 0; round < 200; ++round) {
    const uint64_t start = 1 + random() % 500;
    const uint64_t length = random() % 7;
    std::vector<uint64_t> batch;
    for (uint64_t s = start; s < start + length; s += 1 + random() % 2) batch.push_back(s);
    ranges.AddSorted(batch);
    reference.insert(batch.begin(), batch.end());
    ASSERT_LE(ranges.ranges().size(), SeqRanges::kMaxRanges);
    joined |= ranges.ranges().size() == SeqRanges::kMaxRanges;
    if (!joined) {
      for (uint64_t s = 0; s < 520; ++s) {
        ASSERT_EQ(ranges.Contains(s), reference.count(s) == 1) << "round " << round << " seq " << s;
      }
    }
  }
  // Every stored seq is always reported as stored, even after joining ranges.
  for (uint64_t s : reference) EXPECT_TRUE(ranges.Contains(s)) << s;
}

TEST(SeqRangesTest, StaysBoundedByJoiningTheOldestGap) {
  SeqRanges ranges;
  for (uint64_t s = 1; s <= 1000; s += 2) ranges.AddSorted(std::vector<uint64_t>{s});
  EXPECT_EQ(ranges.ranges().size(), SeqRanges::kMaxRanges);
  EXPECT_TRUE(ranges.Contains(2));     // an old gap, now declared lost
  EXPECT_FALSE(ranges.Contains(998));  // a recent gap is still open
  EXPECT_EQ(ranges.watermark(), 999u);
}

TEST(SeqRangesTest, ProtoRoundTrip) {
  SeqRanges ranges;
  ranges.AddSorted(std::vector<uint64_t>{1, 2, 3, 7, 8, 20});
  DeviceRecord record;
  ranges.ToProto(record.mutable_stored());
  SeqRanges back = SeqRanges::FromProto(record.stored());
  ASSERT_EQ(back.ranges().size(), 3u);
  EXPECT_EQ(back.ranges()[1].first, 7u);
  EXPECT_EQ(back.ranges()[1].last, 8u);
}

}  // namespace
}  // namespace fieldlog::store
