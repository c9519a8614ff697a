// The store's write path against a real RocksDB in a temporary directory:
// exactly-once, block layout, persistence and clock correction.
#include "store/writer.h"

#include <set>

#include "gtest/gtest.h"
#include "store/reader.h"
#include "store/store.h"
#include "tests/testing/test_util.h"

namespace fieldlog::store {
namespace {

constexpr AppId kApp = 1;
constexpr int64_t kBaseTime = 1'795'000'000'000'000;

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(uint32_t retention_days = 30) {
    StoreOptions options;
    options.path = dir_.path() + "/db";
    options.default_retention_days = retention_days;
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Appends entries with the given seqs (message "m<seq>", device time
  // kBaseTime + seq ms) for `device`.
  AppendResult Append(const std::string& device, const std::vector<uint64_t>& seqs,
                      const std::string& user = "alice",
                      std::optional<int64_t> offset = std::nullopt, int64_t base_time = kBaseTime) {
    std::vector<std::string> messages;
    messages.reserve(seqs.size());
    std::vector<EntryView> entries;
    for (uint64_t seq : seqs) {
      messages.push_back("m" + std::to_string(seq));
      EntryView e;
      e.seq = seq;
      e.device_time_us = base_time + static_cast<int64_t>(seq) * 1000;
      e.receive_time_us = base_time + 5'000'000;
      e.message = messages.back();
      e.user_id = user;
      e.session_id = "s1";
      entries.push_back(e);
    }
    AppendRequest request;
    request.app = kApp;
    request.device_id = device;
    request.receive_time_us = base_time + 5'000'000;
    request.clock_offset_estimate_us = offset;
    request.entries = entries;
    absl::StatusOr<AppendResult> result = store_->writer().Append(request);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : AppendResult{};
  }

  // Every stored seq of a device, in block order, with duplicates kept.
  std::vector<uint64_t> StoredSeqs(const std::string& device,
                                   std::vector<int64_t>* times = nullptr) {
    Reader reader(*store_);
    absl::StatusOr<std::vector<BlockRef>> blocks = reader.ListBlocks(kApp, device);
    EXPECT_TRUE(blocks.ok());
    std::vector<uint64_t> seqs;
    for (const BlockRef& ref : *blocks) {
      absl::StatusOr<BlockReader> block = reader.ReadBlock(kApp, device, ref.first_seq);
      EXPECT_TRUE(block.ok()) << block.status();
      EXPECT_EQ(block->size(), ref.meta.count());
      for (size_t i = 0; i < block->size(); ++i) {
        seqs.push_back(block->seq(i));
        EXPECT_EQ(block->message(i), "m" + std::to_string(block->seq(i)));
        if (times) times->push_back(block->time_us(i));
      }
    }
    return seqs;
  }

  size_t BlockCount(const std::string& device) {
    Reader reader(*store_);
    return reader.ListBlocks(kApp, device)->size();
  }

  fieldlog::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> seqs;
  for (uint64_t s = first; s <= last; ++s) seqs.push_back(s);
  return seqs;
}

TEST_F(WriterTest, AResentBatchIsStoredOnce) {
  AppendResult first = Append("d1", Range(1, 500));
  EXPECT_EQ(first.stored, 500u);
  EXPECT_EQ(first.watermark, 500u);
  AppendResult again = Append("d1", Range(1, 500));
  EXPECT_EQ(again.stored, 0u);
  EXPECT_EQ(again.duplicates, 500u);
  AppendResult overlap = Append("d1", Range(400, 700));
  EXPECT_EQ(overlap.stored, 200u);
  EXPECT_EQ(overlap.duplicates, 101u);
  EXPECT_EQ(StoredSeqs("d1"), Range(1, 700));
}

TEST_F(WriterTest, RepeatsInsideOneBatchAreStoredOnce) {
  AppendResult result = Append("d1", {3, 1, 2, 3, 2});
  EXPECT_EQ(result.stored, 3u);
  EXPECT_EQ(result.duplicates, 2u);
  EXPECT_EQ(StoredSeqs("d1"), Range(1, 3));
}

TEST_F(WriterTest, OutOfOrderBatchesFillGapsWithoutLoss) {
  Append("d1", Range(1, 300));
  Append("d1", Range(601, 900));  // 301-600 still on its way
  AppendResult late = Append("d1", Range(301, 600));
  EXPECT_EQ(late.stored, 300u);
  EXPECT_EQ(late.watermark, 900u);
  std::vector<uint64_t> seqs = StoredSeqs("d1");
  EXPECT_EQ(std::set<uint64_t>(seqs.begin(), seqs.end()).size(), 900u);
  EXPECT_EQ(seqs.size(), 900u);
  EXPECT_EQ(Append("d1", Range(1, 900)).stored, 0u);
}

TEST_F(WriterTest, TrickledLinesShareBlocks) {
  for (uint64_t seq = 1; seq <= 600; ++seq) Append("d1", {seq});
  EXPECT_EQ(StoredSeqs("d1"), Range(1, 600));
  // Tails below kSmallBlockLines are extended, so 600 one-line batches make
  // three blocks, not 600.
  EXPECT_LE(BlockCount("d1"), 600 / Writer::kSmallBlockLines + 1);
}

// The device record keeps its tail block in two numbers, not a copy of the
// block's meta; a record written before that (with the whole meta) still
// has its tail extended, and is rewritten the new way.
TEST_F(WriterTest, TheDeviceRecordKeepsItsTailCompactlyAndOldRecordsStillExtendTheirs) {
  Append("d1", Range(1, 10));
  const std::string key = DeviceKey(kApp, "d1");
  // The store is reopened below: look its handles up each time.
  const auto read_record = [&] {
    std::string value;
    EXPECT_TRUE(store_->db()
                    ->Get(rocksdb::ReadOptions(), store_->family(Family::kDevices), key, &value)
                    .ok());
    DeviceRecord record;
    EXPECT_TRUE(record.ParseFromString(value));
    return record;
  };
  DeviceRecord record = read_record();
  EXPECT_FALSE(record.has_tail_meta());
  EXPECT_EQ(record.tail_first_seq(), 1u);
  EXPECT_EQ(record.tail_lines(), 10u);
  EXPECT_EQ(record.tail_last_seq(), 10u);

  // As an older server wrote it: the tail's whole meta, no compact fields.
  std::string meta_value;
  ASSERT_TRUE(store_->db()
                  ->Get(rocksdb::ReadOptions(), store_->family(Family::kBlockMeta),
                        BlockKey(kApp, "d1", 1), &meta_value)
                  .ok());
  ASSERT_TRUE(record.mutable_tail_meta()->ParseFromString(meta_value));
  record.clear_tail_lines();
  record.clear_tail_last_seq();
  ASSERT_TRUE(store_->db()
                  ->Put(rocksdb::WriteOptions(), store_->family(Family::kDevices), key,
                        record.SerializeAsString())
                  .ok());
  store_.reset();
  Open();

  Append("d1", Range(11, 20));
  EXPECT_EQ(BlockCount("d1"), 1u) << "the old record's tail was extended";
  EXPECT_EQ(StoredSeqs("d1"), Range(1, 20));
  record = read_record();
  EXPECT_FALSE(record.has_tail_meta());
  EXPECT_EQ(record.tail_lines(), 20u);
  EXPECT_EQ(record.tail_last_seq(), 20u);
}

TEST_F(WriterTest, LargeBatchesAreSplitIntoBoundedBlocks) {
  Append("d1", Range(1, 10000));
  EXPECT_EQ(BlockCount("d1"), (10000 + Writer::kMaxBlockLines - 1) / Writer::kMaxBlockLines);
  EXPECT_EQ(StoredSeqs("d1"), Range(1, 10000));
}

TEST_F(WriterTest, DataAndWatermarksSurviveReopening) {
  Append("d1", Range(1, 100));
  Append("d2", Range(1, 50), "bob");
  store_.reset();
  Open();
  EXPECT_EQ(*store_->writer().Watermark(kApp, "d1"), 100u);
  EXPECT_EQ(*store_->writer().Watermark(kApp, "d2"), 50u);
  EXPECT_EQ(*store_->writer().Watermark(kApp, "d3"), 0u);
  EXPECT_EQ(Append("d1", Range(90, 110)).stored, 10u);
  EXPECT_EQ(StoredSeqs("d1"), Range(1, 110));
}

TEST_F(WriterTest, DevicesAndUsersAreIndexed) {
  Append("phone", Range(1, 10), "alice");
  Append("laptop", Range(1, 5), "alice");
  Append("phone", Range(11, 13), "bob");  // alice's phone, later bob's
  Reader reader(*store_);
  absl::StatusOr<std::vector<UserDevice>> alice = reader.ListUserDevices(kApp, "alice");
  ASSERT_TRUE(alice.ok());
  ASSERT_EQ(alice->size(), 2u);
  EXPECT_EQ((*alice)[0].device_id, "laptop");
  EXPECT_EQ((*alice)[0].record.lines(), 5u);
  EXPECT_EQ((*alice)[1].device_id, "phone");
  EXPECT_EQ((*alice)[1].record.lines(), 10u);
  absl::StatusOr<std::vector<UserDevice>> bob = reader.ListUserDevices(kApp, "bob");
  ASSERT_EQ(bob->size(), 1u);
  EXPECT_EQ((*bob)[0].record.lines(), 3u);
  absl::StatusOr<std::optional<DeviceRecord>> phone = reader.GetDevice(kApp, "phone");
  ASSERT_TRUE(phone.ok() && phone->has_value());
  EXPECT_EQ((*phone)->lines(), 13u);
  EXPECT_EQ((*phone)->last_user_id(), "bob");
  EXPECT_EQ(reader.ListUserDevices(kApp, "alic")->size(), 0u);
}

TEST_F(WriterTest, ClockOffsetIsAppliedAndKeptSteady) {
  const int64_t two_days = 2LL * 24 * 3600 * 1'000'000;
  AppendResult first = Append("d1", {1}, "alice", two_days + 40'000);
  EXPECT_EQ(first.clock_offset_us, two_days + 40'000);
  // Network jitter of a few hundred ms keeps the previous offset.
  AppendResult second = Append("d1", {2}, "alice", two_days + 350'000);
  EXPECT_EQ(second.clock_offset_us, two_days + 40'000);
  // The device's clock was fixed: a real change is followed.
  AppendResult third = Append("d1", {3}, "alice", 0);
  EXPECT_EQ(third.clock_offset_us, 0);
  std::vector<int64_t> times;
  StoredSeqs("d1", &times);
  ASSERT_EQ(times.size(), 3u);
  EXPECT_EQ(times[0], kBaseTime + 1000 + two_days + 40'000);
  EXPECT_EQ(times[1], kBaseTime + 2000 + two_days + 40'000);
  EXPECT_EQ(times[2], kBaseTime + 3000);
  // A well-synced device gets exactly no correction.
  EXPECT_EQ(Append("d2", {1}, "alice", 120'000).clock_offset_us, 0);
}

TEST_F(WriterTest, EraseUserRemovesHerLinesAndKeepsOthers) {
  Append("phone", Range(1, 10), "alice");
  Append("shared", Range(1, 10), "alice");
  Append("shared", Range(11, 20), "bob");
  absl::StatusOr<EraseResult> erased = store_->writer().EraseUser(kApp, "alice");
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->devices, 2u);
  EXPECT_EQ(erased->lines, 20u);

  EXPECT_TRUE(StoredSeqs("phone").empty());
  EXPECT_EQ(StoredSeqs("shared"), Range(11, 20));
  Reader reader(*store_);
  EXPECT_TRUE(reader.ListUserDevices(kApp, "alice")->empty());
  ASSERT_EQ(reader.ListUserDevices(kApp, "bob")->size(), 1u);
  absl::StatusOr<std::optional<DeviceRecord>> shared = reader.GetDevice(kApp, "shared");
  EXPECT_EQ((*shared)->lines(), 10u);

  // A late resend of her lines does not bring them back.
  EXPECT_EQ(Append("phone", Range(1, 10), "alice").stored, 0u);
  EXPECT_TRUE(StoredSeqs("phone").empty());
  // New lines go on as usual, also into the shared device's tail block.
  EXPECT_EQ(Append("shared", Range(21, 25), "bob").stored, 5u);
  EXPECT_EQ(StoredSeqs("shared"), Range(11, 25));
}

TEST_F(WriterTest, RetentionDeletesExpiredBlocksAtCompaction) {
  store_.reset();
  Open(/*retention_days=*/1);
  const int64_t now = absl::ToUnixMicros(absl::Now());
  const int64_t three_days = 3LL * 24 * 3600 * 1'000'000;
  Append("old", Range(1, 100), "alice", std::nullopt, now - three_days);
  Append("new", Range(1, 100), "alice", std::nullopt, now - 60'000'000);
  EXPECT_EQ(store_->retention().CutoffMicros(kApp, now), now - three_days / 3);
  EXPECT_EQ(StoredSeqs("old").size(), 100u) << "still on disk before compaction";

  for (Family family : {Family::kBlocks, Family::kBlockMeta, Family::kDevices, Family::kUsers}) {
    ASSERT_TRUE(
        store_->db()
            ->CompactRange(rocksdb::CompactRangeOptions(), store_->family(family), nullptr, nullptr)
            .ok());
  }
  EXPECT_TRUE(StoredSeqs("old").empty());
  EXPECT_EQ(StoredSeqs("new"), Range(1, 100));
  Reader reader(*store_);
  EXPECT_FALSE(reader.GetDevice(kApp, "old")->has_value());
  ASSERT_EQ(reader.ListUserDevices(kApp, "alice")->size(), 1u);
}

// A device's run of batch-sized blocks is merged into large blocks once it
// holds StoreOptions().merge_lines lines: every line stays, once, in seq
// order, in far fewer, larger blocks.
TEST_F(WriterTest, RunsOfBatchesAreMergedIntoLargeBlocks) {
  constexpr uint64_t kBatch = 300;
  uint64_t next = 1;
  // Up to just below the merge threshold every batch is its own block.
  while (next + kBatch - 1 < StoreOptions().merge_lines) {
    Append("d1", Range(next, next + kBatch - 1));
    next += kBatch;
  }
  const size_t before = BlockCount("d1");
  EXPECT_EQ(before, (next - 1) / kBatch);
  // This batch takes the run past the threshold: the merge thread makes one
  // block of them.
  const uint64_t merges = store_->writer().merges();
  Append("d1", Range(next, next + kBatch - 1));
  next += kBatch;
  store_->writer().WaitForMerges();
  EXPECT_EQ(store_->writer().merges(), merges + 1);
  EXPECT_EQ(BlockCount("d1"), 1u);
  EXPECT_EQ(StoredSeqs("d1"), Range(1, next - 1));
  // A new run starts after the merged block.
  Append("d1", Range(next, next + kBatch - 1));
  next += kBatch;
  EXPECT_EQ(BlockCount("d1"), 2u);
  EXPECT_EQ(StoredSeqs("d1"), Range(1, next - 1));
  // And everything survives a reopen, resends included.
  store_.reset();
  Open();
  EXPECT_EQ(Append("d1", Range(1, next - 1)).stored, 0u);
  EXPECT_EQ(StoredSeqs("d1"), Range(1, next - 1));
}

// Closing the store runs the merges already due rather than dropping them
// (the last append schedules one just before the close).
TEST_F(WriterTest, ClosingTheStoreFinishesDueMerges) {
  // 21 batches of 100: only the last one reaches merge_lines.
  ASSERT_GE(2100u, StoreOptions().merge_lines);
  ASSERT_LT(2000u, StoreOptions().merge_lines);
  for (uint64_t first = 1; first < 2100; first += 100) Append("d1", Range(first, first + 99));
  store_.reset();  // no WaitForMerges: the destructor drains the queue
  Open();
  EXPECT_EQ(BlockCount("d1"), 1u);
  EXPECT_EQ(StoredSeqs("d1"), Range(1, 2100));
}

// A late batch that fills a gap inside the run is merged into its place.
TEST_F(WriterTest, MergesPutLateLinesInSeqOrder) {
  Append("d1", Range(1, 500));
  Append("d1", Range(701, 1500));
  Append("d1", Range(501, 700));    // late: fills the gap
  Append("d1", Range(1501, 2500));  // takes the run past merge_lines
  ASSERT_GE(2500u, StoreOptions().merge_lines);
  store_->writer().WaitForMerges();
  EXPECT_EQ(StoredSeqs("d1"), Range(1, 2500));
  EXPECT_EQ(BlockCount("d1"), 1u);
}

// Blocks written at ingest are cheap; compaction settles them, once, smaller.
TEST_F(WriterTest, CompactionSettlesIngestBlocks) {
  // A small tail block is written uncompressed (the next batch rewrites it).
  std::vector<uint64_t> seqs = Range(1, 200);
  Append("d1", seqs);
  const std::string key = BlockKey(kApp, "d1", 1);
  std::string before, after;
  ASSERT_TRUE(store_->db()
                  ->Get(rocksdb::ReadOptions(), store_->family(Family::kBlocks), key, &before)
                  .ok());
  rocksdb::CompactRangeOptions force;
  force.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  ASSERT_TRUE(
      store_->db()->CompactRange(force, store_->family(Family::kBlocks), nullptr, nullptr).ok());
  ASSERT_TRUE(
      store_->db()->Get(rocksdb::ReadOptions(), store_->family(Family::kBlocks), key, &after).ok());
  EXPECT_LT(after.size(), before.size() / 2);
  EXPECT_EQ(StoredSeqs("d1"), seqs);
  // The settled tail is still extended by the next small batch.
  Append("d1", Range(201, 210));
  EXPECT_EQ(BlockCount("d1"), 1u);
  EXPECT_EQ(StoredSeqs("d1"), Range(1, 210));
}

}  // namespace
}  // namespace fieldlog::store
