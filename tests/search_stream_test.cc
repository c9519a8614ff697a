// The search hands out a page's rows while it still reads (query/search.h):
// each row once no block left to read can hold a row before it. Checked on a
// store written directly through store::Writer, where a user's three devices
// log at the same instants and have blocks that overlap in time (each batch
// reaches back before the end of the one before): every page, in both
// directions, with and without filters (one that rebuilds only the rows sent,
// one that reads messages), with limits that end pages inside blocks and runs
// from one row to the whole page, equals a brute-force timeline line for line,
// message included. And when a later block is corrupt, the rows of the blocks
// before it have reached the sink before the search fails.
#include <algorithm>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "common/worker_pool.h"
#include "gtest/gtest.h"
#include "query/search.h"
#include "store/keys.h"
#include "store/reader.h"
#include "store/store.h"
#include "store/writer.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

constexpr int64_t kStart = int64_t{1'700'000'000} * 1'000'000;
constexpr int64_t kSecond = 1'000'000;
constexpr int kBatches = 24;  // more lines than one block holds
constexpr int kLinesPerBatch = 300;
const char* const kRareWord = "PaymentTimeout";

struct Line {
  int64_t time_us;
  std::string device;
  uint64_t seq;
  v1::Level level;
  std::string message;

  auto key() const { return std::tie(time_us, device, seq); }
};

// What a search gave, in the order given.
struct Got {
  std::vector<Line> lines;
  std::optional<query::Cursor> next;
};

class SearchStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions options;
    options.path = dir_.path() + "/db";
    options.default_retention_days = 0;
    absl::StatusOr<std::unique_ptr<store::Store>> opened = store::Store::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *std::move(opened);
    absl::StatusOr<store::NewApp> app = store_->catalog().CreateApp("shop");
    ASSERT_TRUE(app.ok());
    app_ = app->app;
  }

  // Batch b of `device` covers [b * 10 min, b * 10 min + 40 min) + `offset`,
  // oldest first, so each batch reaches back into the three before it.
  void WriteDevice(const std::string& device, const std::string& user, int64_t offset_us,
                   int64_t batch_step_us = 600 * kSecond) {
    uint64_t seq = 0;
    for (int b = 0; b < kBatches; ++b) {
      std::vector<store::EntryView> views;
      std::vector<std::string> messages;
      messages.reserve(kLinesPerBatch);
      for (int i = 0; i < kLinesPerBatch; ++i) {
        ++seq;
        Line line;
        line.device = device;
        line.seq = seq;
        line.time_us = kStart + offset_us + b * batch_step_us + i * 8 * kSecond;
        line.level = seq % 17 == 0  ? v1::LEVEL_ERROR
                     : seq % 5 == 0 ? v1::LEVEL_WARN
                                    : v1::LEVEL_INFO;
        line.message = seq % 23 == 0 ? "checkout failed: " + std::string(kRareWord) + " after " +
                                           std::to_string(seq % 40) + " s"
                                     : "step " + std::to_string(seq) + " of the flow";
        truth_.push_back(line);
        messages.push_back(line.message);
        store::EntryView v;
        v.seq = line.seq;
        v.device_time_us = line.time_us;
        v.receive_time_us = line.time_us;
        v.level = line.level;
        v.tag = "Flow";
        v.message = messages.back();
        v.user_id = user;
        views.push_back(v);
      }
      store::AppendRequest request;
      request.app = app_.app_id();
      request.device_id = device;
      request.receive_time_us = views.back().device_time_us;
      request.entries = std::span<store::EntryView>(views);
      ASSERT_TRUE(store_->writer().Append(request).ok());
    }
  }

  absl::StatusOr<query::SearchResult> Run(const query::SearchSpec& spec, Got* got,
                                          query::StreamOptions stream) {
    return query::SearchRows(
        *store_, spec,
        [&](const store::BlockReader& block, size_t row, absl::string_view,
            absl::string_view device) {
          got->lines.push_back(Line{block.time_us(row), std::string(device), block.seq(row),
                                    block.level(row), std::string(block.message(row))});
        },
        stream);
  }

  query::SearchSpec Spec() const {
    query::SearchSpec spec;
    spec.app = app_;
    spec.from_us = kStart - kSecond;
    spec.to_us = kStart + int64_t{24} * 3600 * kSecond;
    return spec;
  }

  testing::TempDir dir_;  // outlives the store
  std::unique_ptr<store::Store> store_;
  WorkerPool read_ahead_{2, "read-ahead"};  // idle, as on a quiet server
  store::AppRecord app_;
  std::vector<Line> truth_;
};

TEST_F(SearchStreamTest, PagesOfOverlappingBlocksFollowABruteForceTimeline) {
  // Three devices of one user logging at the same instants (each 8 s), so
  // rows tie on time across devices, and within a device across its
  // overlapping blocks; the device that sorts last starts first.
  WriteDevice("dev-a", "ann@example.com", 16 * kSecond);
  WriteDevice("dev-b", "ann@example.com", 8 * kSecond);
  WriteDevice("dev-c", "ann@example.com", 0);
  // The blocks really do overlap in time, or the test would test little.
  store::Reader reader(*store_);
  absl::StatusOr<std::vector<store::BlockRef>> blocks = reader.ListBlocks(app_.app_id(), "dev-a");
  ASSERT_TRUE(blocks.ok());
  ASSERT_GE(blocks->size(), 2u);
  EXPECT_LT((*blocks)[1].meta.min_time_unix_micros(), (*blocks)[0].meta.max_time_unix_micros());

  struct Filter {
    const char* name;
    v1::Level min_level;
    std::string text;
  };
  const Filter filters[] = {{"none", v1::LEVEL_UNSPECIFIED, ""},
                            {"warn and above", v1::LEVEL_WARN, ""},
                            {"text", v1::LEVEL_UNSPECIFIED, kRareWord}};
  for (const Filter& filter : filters) {
    std::vector<Line> want;
    for (const Line& l : truth_) {
      if (filter.min_level != v1::LEVEL_UNSPECIFIED && l.level < filter.min_level) continue;
      if (!filter.text.empty() && l.message.find(filter.text) == std::string::npos) continue;
      want.push_back(l);
    }
    ASSERT_GT(want.size(), 50u) << filter.name;
    for (const bool newest : {false, true}) {
      std::vector<Line> ordered = want;
      std::sort(ordered.begin(), ordered.end(),
                [](const Line& a, const Line& b) { return a.key() < b.key(); });
      if (newest) std::reverse(ordered.begin(), ordered.end());
      // Each block after the first read ahead on a pool, or not.
      WorkerPool* const pool = &read_ahead_;
      for (const auto& [limit, stream_run, ahead] :
           {std::tuple<uint32_t, size_t, WorkerPool*>{1, 1, nullptr},
            {7, 1, nullptr},
            {7, 1, pool},
            {333, 1, nullptr},
            {333, 1, pool},
            {333, query::kRowsAtTheEnd, nullptr},
            {10000, 1, nullptr},
            {10000, 500, nullptr},
            {10000, 500, pool},
            {10000, query::kRowsAtTheEnd, nullptr}}) {
        SCOPED_TRACE(::testing::Message()
                     << filter.name << (newest ? ", newest" : ", oldest") << " first, limit "
                     << limit << ", runs of " << stream_run << (ahead ? ", read ahead" : ""));
        query::SearchSpec spec = Spec();
        spec.filters.user_id = "ann@example.com";
        spec.filters.min_level = filter.min_level;
        spec.filters.text = filter.text;
        spec.newest_first = newest;
        spec.limit = limit;
        // Small limits: the first 60 pages are enough to cross many blocks.
        const int pages = limit < 100 ? 60 : 1000;
        std::vector<Line> got;
        size_t read_ahead = 0;
        for (int page = 0; page < pages; ++page) {
          Got one;
          absl::StatusOr<query::SearchResult> result =
              Run(spec, &one, {.run = stream_run, .read_ahead = ahead});
          ASSERT_TRUE(result.ok()) << result.status();
          // With a pool, every block after the first came through it.
          ASSERT_EQ(result->blocks_read_ahead,
                    ahead != nullptr && result->blocks_read > 0 ? result->blocks_read - 1 : 0);
          read_ahead += result->blocks_read_ahead;
          ASSERT_LE(one.lines.size(), limit);
          got.insert(got.end(), one.lines.begin(), one.lines.end());
          // A next page exactly when lines are left, and it starts after the
          // last line of this one.
          ASSERT_EQ(result->next.has_value(), got.size() < ordered.size());
          if (!result->next) break;
          ASSERT_EQ(one.lines.size(), limit);
          EXPECT_EQ(result->next->seq, one.lines.back().seq);
          EXPECT_EQ(result->next->device_id, one.lines.back().device);
          spec.cursor = result->next;
        }
        ASSERT_LE(got.size(), ordered.size());
        for (size_t i = 0; i < got.size(); ++i) {
          const Line& g = got[i];
          const Line& w = ordered[i];
          ASSERT_EQ(std::tuple(g.time_us, g.device, g.seq), std::tuple(w.time_us, w.device, w.seq))
              << "line " << i;
          ASSERT_EQ(g.message, w.message) << "line " << i;
          ASSERT_EQ(g.level, w.level) << "line " << i;
        }
        if (limit >= 100) {
          EXPECT_EQ(got.size(), ordered.size());
        }
        if (ahead != nullptr) {
          EXPECT_GT(read_ahead, 0u) << "pages of several blocks";
        }
      }
    }
  }
}

TEST_F(SearchStreamTest, RowsOfEarlierBlocksReachTheSinkBeforeALaterCorruptBlockFailsTheSearch) {
  // Batches an hour apart: blocks that do not overlap.
  WriteDevice("dev-x", "bob@example.com", 0, 3600 * kSecond);
  store::Reader reader(*store_);
  absl::StatusOr<std::vector<store::BlockRef>> blocks = reader.ListBlocks(app_.app_id(), "dev-x");
  ASSERT_TRUE(blocks.ok());
  ASSERT_GE(blocks->size(), 3u);
  // The newest block is damaged on disk.
  const store::BlockRef* newest = &blocks->front();
  for (const store::BlockRef& b : *blocks) {
    if (b.meta.min_time_unix_micros() > newest->meta.min_time_unix_micros()) newest = &b;
  }
  ASSERT_TRUE(store_->db()
                  ->Put(rocksdb::WriteOptions(), store_->family(store::Family::kBlocks),
                        store::BlockKey(app_.app_id(), "dev-x", newest->first_seq),
                        "\x04 not a block at all")
                  .ok());

  query::SearchSpec spec = Spec();
  spec.device_id = "dev-x";
  spec.limit = 10000;
  constexpr size_t kRun = 500;
  std::vector<Line> want;
  for (const Line& l : truth_) {
    if (l.time_us < newest->meta.min_time_unix_micros()) want.push_back(l);
  }
  ASSERT_GT(want.size(), 4 * kRun);
  // Read ahead or not, the damage is reported where the block's turn comes.
  for (WorkerPool* ahead : {static_cast<WorkerPool*>(nullptr), &read_ahead_}) {
    SCOPED_TRACE(ahead ? "read ahead" : "read in turn");
    spec.newest_first = false;
    Got got;
    absl::StatusOr<query::SearchResult> result =
        Run(spec, &got, {.run = kRun, .read_ahead = ahead});
    EXPECT_FALSE(result.ok());
    // The lines older than the damaged block went out, in order, before it
    // was read, all but fewer than a run of them; none of it or after it.
    ASSERT_LE(got.lines.size(), want.size());
    EXPECT_GT(got.lines.size() + kRun, want.size());
    for (size_t i = 0; i < got.lines.size(); ++i) {
      ASSERT_EQ(got.lines[i].seq, want[i].seq) << "line " << i;
      ASSERT_EQ(got.lines[i].message, want[i].message) << "line " << i;
    }

    // Newest first, the damaged block is read first: nothing goes out.
    spec.newest_first = true;
    Got none;
    EXPECT_FALSE(Run(spec, &none, {.run = kRun, .read_ahead = ahead}).ok());
    EXPECT_TRUE(none.lines.empty());
  }

  // Without a run, rows come only at the end: none of a failed search.
  spec.newest_first = false;
  Got at_end;
  EXPECT_FALSE(Run(spec, &at_end, {}).ok());
  EXPECT_TRUE(at_end.lines.empty());
}

}  // namespace
}  // namespace fieldlog
