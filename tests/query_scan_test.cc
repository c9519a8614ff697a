// App-wide scans on several threads (ScanBlocks, FindAffected) and the
// search's timeline order, on a store written directly through store::Writer
// with enough blocks that a scan really is split: every block is visited
// once, affected counts equal a brute-force count whatever the number of
// workers (a user on several devices, a device shared by two users), and
// pages of a user with many equal times come out in (time, device, seq)
// order without repeats or gaps; on a syncing store, a search (whose audit
// record is written while it reads) returns its page with the record written.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/text.h"
#include "gtest/gtest.h"
#include "query/analytics.h"
#include "query/block_scan.h"
#include "query/handlers.h"
#include "query/search.h"
#include "re2/re2.h"
#include "store/block_times.h"
#include "store/reader.h"
#include "store/store.h"
#include "store/time_buckets.h"
#include "store/writer.h"

namespace fieldlog {
namespace {

constexpr int kDevices = 40;
constexpr int kBlocksPerDevice = 5;
constexpr int kLinesPerBlock = 300;  // above the writer's small-block threshold
constexpr int64_t kStart = int64_t{1'700'000'000} * 1'000'000;

struct Line {
  std::string device, user, message;
  int64_t time_us;
  uint64_t seq;
};

class QueryScanTest : public ::testing::Test {
 protected:
  // A syncing store makes the search write its audit record concurrently.
  virtual store::SyncPolicy sync() const { return store::SyncPolicy::kNone; }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fieldlog-query-scan-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    store::StoreOptions options;
    options.path = (dir_ / "db").string();
    options.default_retention_days = 0;
    options.sync = sync();
    absl::StatusOr<std::unique_ptr<store::Store>> opened = store::Store::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *std::move(opened);
    absl::StatusOr<store::NewApp> app = store_->catalog().CreateApp("shop");
    ASSERT_TRUE(app.ok());
    app_ = app->app;
    read_token_ = app->read_token;
    for (int d = 0; d < kDevices; ++d) {
      const std::string device = "device-" + std::to_string(100 + d);
      uint64_t seq = 0;
      for (int b = 0; b < kBlocksPerDevice; ++b) {
        std::vector<store::EntryView> views;
        std::vector<std::string> messages;
        std::vector<std::string> users;
        messages.reserve(kLinesPerBlock);
        users.reserve(kLinesPerBlock);
        for (int i = 0; i < kLinesPerBlock; ++i) {
          Line line;
          line.device = device;
          // Users own devices d and d+1 (so most users have two devices), and
          // every fifth block of a device belongs to a second user.
          line.user = b % 5 == 4 ? "guest" + std::to_string(d % 3) + "@example.com"
                                 : "user" + std::to_string(d / 2) + "@example.com";
          ++seq;
          // Every device logs at the same instants: ties across devices.
          line.time_us = kStart + static_cast<int64_t>(seq / 2) * 1'000'000;
          line.seq = seq;
          line.message = (seq * 7 + static_cast<uint64_t>(d)) % 97 == 0
                             ? "checkout: PaymentTimeout after 30 s"
                             : "tap on button " + std::to_string(seq % 13);
          lines_.push_back(line);
          messages.push_back(line.message);
          users.push_back(line.user);
          store::EntryView v;
          v.seq = line.seq;
          v.device_time_us = line.time_us;
          v.receive_time_us = line.time_us;
          v.level = v1::LEVEL_INFO;
          v.tag = "UI";
          v.message = messages.back();
          v.user_id = users.back();
          views.push_back(v);
        }
        ASSERT_TRUE(Append(device, views).ok());
      }
    }
  }

  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Stores `views` as one batch of `device`, received when the last was logged.
  absl::Status Append(const std::string& device, std::vector<store::EntryView>& views) {
    store::AppendRequest request;
    request.app = app_.app_id();
    request.device_id = device;
    request.receive_time_us = views.back().device_time_us;
    request.entries = std::span<store::EntryView>(views);
    return store_->writer().Append(request).status();
  }

  // FindAffected over [from, to) for `text`, or for `regex` when it is set,
  // answered as of just after `to`.
  absl::StatusOr<v1::AffectedResponse> Affected(int64_t from, int64_t to, const std::string& text,
                                                const std::string& regex = "") {
    v1::AffectedRequest request;
    if (regex.empty()) {
      request.set_text(text);
    } else {
      request.set_regex(regex);
    }
    request.set_from_unix_micros(from);
    request.set_to_unix_micros(to);
    request.set_limit(10000);
    return query::FindAffected(*store_, app_, request, to + 1);
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  store::AppRecord app_;
  std::string read_token_;
  std::vector<Line> lines_;
};

class QueryScanSyncedTest : public QueryScanTest {
 protected:
  store::SyncPolicy sync() const override { return store::SyncPolicy::kEveryBatch; }
};

TEST_F(QueryScanTest, ScanBlocksVisitsEveryBlockOnceWhateverTheWorkers) {
  store::Reader reader(*store_);
  absl::StatusOr<std::vector<store::AppBlockRef>> blocks =
      reader.ListAppBlocks(app_.app_id(), 0, std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(blocks.ok());
  ASSERT_EQ(blocks->size(), static_cast<size_t>(kDevices * kBlocksPerDevice));
  for (size_t workers : {1, 2, 4}) {
    absl::Mutex mu;
    std::multiset<std::pair<std::string, uint64_t>> seen;
    std::set<size_t> workers_used;
    uint64_t rows = 0;
    absl::Status status = query::ScanBlocks(
        *store_, reader, app_.app_id(), *blocks, workers,
        [&](size_t worker, absl::string_view device, const store::BlockReader& block) {
          absl::MutexLock lock(&mu);
          seen.emplace(std::string(device), block.seq(0));
          workers_used.insert(worker);
          rows += block.size();
        });
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(rows, lines_.size()) << workers;
    ASSERT_EQ(seen.size(), blocks->size()) << workers;
    for (const store::AppBlockRef& ref : *blocks) {
      EXPECT_EQ(seen.count({ref.device_id, ref.block.first_seq}), 1u) << ref.device_id;
    }
    // (Whether every worker got a share depends on scheduling: not asserted.)
    EXPECT_LT(*workers_used.rbegin(), workers);
  }
}

// ScanAppBlocks lists while it reads: every block the listing keeps is
// visited exactly once, whatever the workers; what `keep` turns down is not
// read; a visit that fails ends the scan with its error.
TEST_F(QueryScanTest, ScanAppBlocksReadsWhileListingAndVisitsEveryKeptBlockOnce) {
  store::Reader reader(*store_);
  absl::StatusOr<std::vector<store::AppBlockRef>> blocks =
      reader.ListAppBlocks(app_.app_id(), 0, std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(blocks.ok());
  // Every other block of each device: a filter that is not a prefix of the
  // key order.
  const auto keep = [](const store::BlockMeta& meta) {
    return meta.first_seq() / kLinesPerBlock % 2 == 0;
  };
  size_t kept = 0;
  for (const store::AppBlockRef& ref : *blocks) kept += keep(ref.block.meta);
  ASSERT_GT(kept, 2 * query::kMinBlocksPerWorker) << "enough for several workers";
  ASSERT_LT(kept, blocks->size());
  for (size_t workers : {1, 2, 4}) {
    absl::Mutex mu;
    std::multiset<std::pair<std::string, uint64_t>> seen;
    uint64_t max_worker = 0;
    absl::Status status = query::ScanAppBlocks(
        *store_, app_.app_id(), 0, std::numeric_limits<int64_t>::max(), keep, workers,
        [&](size_t worker, absl::string_view device, const store::BlockReader& block) {
          absl::MutexLock lock(&mu);
          seen.emplace(std::string(device), block.seq(0));
          max_worker = std::max<uint64_t>(max_worker, worker);
        });
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(seen.size(), kept) << workers;
    for (const store::AppBlockRef& ref : *blocks) {
      EXPECT_EQ(seen.count({ref.device_id, ref.block.first_seq}), keep(ref.block.meta) ? 1u : 0u)
          << ref.device_id;
    }
    EXPECT_LT(max_worker, workers);
  }
  // A time range lists only the blocks that meet it.
  const int64_t from = (*blocks)[0].block.meta.min_time_unix_micros();
  const int64_t to = from + 1;
  size_t meeting = 0;
  for (const store::AppBlockRef& ref : *blocks) {
    meeting += store::BlockMetaMeetsRange(ref.block.meta, from, to);
  }
  std::atomic<size_t> visited = 0;  // two workers count
  ASSERT_TRUE(query::ScanAppBlocks(
                  *store_, app_.app_id(), from, to, [](const store::BlockMeta&) { return true; }, 2,
                  [&](size_t, absl::string_view, const store::BlockReader&) { ++visited; })
                  .ok());
  EXPECT_EQ(visited, meeting);
  EXPECT_GE(visited, 1u);
}

// Reader::ReadBlocks reads refs in key order, by either means (an iterator
// for neighbours, point reads for scattered blocks): next to each other,
// across gaps, and past a ref the store does not have (NotFound for that
// one, the rest still read).
TEST_F(QueryScanTest, ReadBlocksReadsRefsInKeyOrderAcrossGapsAndMissingBlocks) {
  store::Reader reader(*store_);
  absl::StatusOr<std::vector<store::AppBlockRef>> blocks =
      reader.ListAppBlocks(app_.app_id(), 0, std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(blocks.ok());
  std::vector<store::AppBlockRef> refs;
  for (size_t i = 0; i < blocks->size(); ++i) {
    if (i % 5 == 3) continue;  // gaps
    refs.push_back((*blocks)[i]);
    if (i == 6) {
      // A block that is not there, between two that are.
      store::AppBlockRef missing = (*blocks)[i];
      missing.block.first_seq += 1;
      refs.push_back(missing);
    }
  }
  // More refs than one batch of point reads, so batches follow one another.
  ASSERT_GT(refs.size(), 40u);
  for (const store::BlockSpread spread :
       {store::BlockSpread::kNeighbours, store::BlockSpread::kScattered}) {
    SCOPED_TRACE(spread == store::BlockSpread::kNeighbours ? "neighbours" : "scattered");
    std::vector<size_t> visited;
    size_t not_found = 0;
    absl::Status status = reader.ReadBlocks(
        app_.app_id(), refs, spread, {}, [&](size_t i, absl::StatusOr<store::BlockReader> block) {
          visited.push_back(i);
          if (absl::IsNotFound(block.status())) {
            ++not_found;
            EXPECT_EQ(refs[i].block.first_seq, (*blocks)[6].block.first_seq + 1);
            return absl::OkStatus();
          }
          EXPECT_TRUE(block.ok()) << block.status();
          if (!block.ok()) return block.status();
          EXPECT_EQ(block->seq(0), refs[i].block.first_seq) << refs[i].device_id;
          EXPECT_EQ(block->size(), static_cast<size_t>(kLinesPerBlock));
          return absl::OkStatus();
        });
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(visited.size(), refs.size());
    for (size_t i = 0; i < visited.size(); ++i) EXPECT_EQ(visited[i], i);
    EXPECT_EQ(not_found, 1u);
    // An error from the visitor stops the reading and comes back.
    size_t calls = 0;
    status = reader.ReadBlocks(
        app_.app_id(), refs, spread, {}, [&](size_t, absl::StatusOr<store::BlockReader>) {
          return ++calls == 2 ? absl::CancelledError("enough") : absl::OkStatus();
        });
    EXPECT_TRUE(absl::IsCancelled(status)) << status;
    EXPECT_EQ(calls, 2u);
  }
}

TEST_F(QueryScanTest, AffectedEqualsABruteForceCount) {
  // A window that cuts blocks in the middle.
  const int64_t from = kStart + 100'000'000;
  const int64_t to = kStart + 500'000'000;
  std::map<std::string, uint64_t> user_lines, device_lines;
  std::map<std::string, std::set<std::string>> user_devices;
  std::map<std::string, std::tuple<int64_t, uint64_t, std::string>> device_latest;
  std::map<std::string, std::pair<int64_t, int64_t>> user_span;
  uint64_t matching = 0;
  for (const Line& l : lines_) {
    if (l.time_us < from || l.time_us >= to) continue;
    if (l.message.find("PaymentTimeout") == std::string::npos) continue;
    ++matching;
    ++user_lines[l.user];
    ++device_lines[l.device];
    user_devices[l.user].insert(l.device);
    auto& latest = device_latest[l.device];
    if (std::make_pair(l.time_us, l.seq) >
        std::make_pair(std::get<0>(latest), std::get<1>(latest))) {
      latest = {l.time_us, l.seq, l.user};
    }
    auto [it, inserted] = user_span.try_emplace(l.user, l.time_us, l.time_us);
    it->second.first = std::min(it->second.first, l.time_us);
    it->second.second = std::max(it->second.second, l.time_us);
  }
  ASSERT_GT(matching, 20u);
  ASSERT_GT(user_lines.size(), 5u);

  for (const bool regex : {false, true}) {
    absl::StatusOr<v1::AffectedResponse> response =
        Affected(from, to, "paymenttimeout", regex ? "Payment(Timeout|Declined)" : "");
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->matching_lines(), matching);
    EXPECT_EQ(response->total_users(), user_lines.size());
    EXPECT_EQ(response->total_devices(), device_lines.size());
    ASSERT_EQ(static_cast<size_t>(response->users_size()), user_lines.size());
    for (const v1::AffectedUser& u : response->users()) {
      EXPECT_EQ(u.lines(), user_lines[u.user_id()]) << u.user_id();
      EXPECT_EQ(u.devices(), user_devices[u.user_id()].size()) << u.user_id();
      EXPECT_EQ(u.first_unix_micros(), user_span[u.user_id()].first) << u.user_id();
      EXPECT_EQ(u.last_unix_micros(), user_span[u.user_id()].second) << u.user_id();
    }
    for (const v1::AffectedDevice& d : response->devices()) {
      EXPECT_EQ(d.lines(), device_lines[d.device_id()]) << d.device_id();
      EXPECT_EQ(d.last_unix_micros(), std::get<0>(device_latest[d.device_id()]));
      EXPECT_EQ(d.user_id(), std::get<2>(device_latest[d.device_id()])) << d.device_id();
    }
    for (int i = 1; i < response->users_size(); ++i) {
      EXPECT_GE(response->users(i - 1).lines(), response->users(i).lines());
    }
  }
}

TEST_F(QueryScanTest, UserPagesFollowTheTimelineOrderAcrossTiedDevices) {
  // user3 owns device-106 and device-107 (and guests share some of their
  // blocks); both log at the same instants.
  const std::string user = "user3@example.com";
  std::vector<std::tuple<int64_t, std::string, uint64_t>> expected;
  for (const Line& l : lines_) {
    if (l.user == user) expected.emplace_back(l.time_us, l.device, l.seq);
  }
  ASSERT_GT(expected.size(), 1000u);
  for (const bool newest : {false, true}) {
    std::vector<std::tuple<int64_t, std::string, uint64_t>> want = expected;
    std::sort(want.begin(), want.end());
    if (newest) std::reverse(want.begin(), want.end());
    std::vector<std::tuple<int64_t, std::string, uint64_t>> got;
    query::SearchSpec spec;
    spec.app = app_;
    spec.filters.user_id = user;
    spec.from_us = kStart - 1;
    spec.to_us = kStart + int64_t{1'000'000} * 1'000'000;
    spec.limit = 333;  // pages end inside blocks and between tied rows
    spec.newest_first = newest;
    for (int page = 0; page < 100; ++page) {
      absl::StatusOr<query::SearchResult> result = query::Search(*store_, spec);
      ASSERT_TRUE(result.ok()) << result.status();
      for (const v1::LogLine& l : result->lines) {
        got.emplace_back(l.time_unix_micros(), l.device_id(), l.seq());
      }
      if (!result->next) break;
      spec.cursor = result->next;
    }
    EXPECT_EQ(got, want) << (newest ? "newest first" : "oldest first");
  }
}

// Devices that log a short session now and then leave blocks spanning days;
// the metas' time buckets let an hour's questions skip them where they hold
// no line of the hour, and the answers stay those of a brute-force count.
// Listed by key alone (store::BlockListing::kKeys), an hour's blocks (from
// the time index) and a week's (walking the metas) are those the metas'
// listing gives, without their metas; a block gone since the index named it
// is still listed for the hour, and a scan that keeps every block
// (FindAffected without a level or user) skips it: the counts stay a
// brute-force count of the lines still stored.
TEST_F(QueryScanTest, BlocksListedByKeyAloneAreTheMetasListingsAndOnesGoneAreSkipped) {
  constexpr int64_t kHour = int64_t{3600} * 1'000'000;
  const int64_t from = kStart;
  const int64_t to = kStart + kHour;
  const auto list = [&](int64_t list_from, int64_t list_to, store::BlockListing listing) {
    store::Reader reader(*store_);
    std::vector<store::AppBlockRef> refs;
    const absl::Status status = reader.ForEachAppBlock(
        app_.app_id(), list_from, list_to,
        [&](store::AppBlockRef ref) {
          refs.push_back(std::move(ref));
          return absl::OkStatus();
        },
        listing);
    EXPECT_TRUE(status.ok()) << status;
    std::set<std::pair<std::string, uint64_t>> keys;
    for (const store::AppBlockRef& ref : refs) {
      EXPECT_EQ(ref.has_meta, listing == store::BlockListing::kMetas);
      EXPECT_EQ(ref.may_be_gone, !ref.has_meta && store::ListsThroughTimeIndex(list_from, list_to));
      EXPECT_EQ(ref.block.meta.count() > 0, ref.has_meta);
      keys.emplace(ref.device_id, ref.block.first_seq);
    }
    EXPECT_EQ(keys.size(), refs.size()) << "each block once";
    return keys;
  };
  const auto by_key = list(from, to, store::BlockListing::kKeys);
  ASSERT_EQ(by_key.size(), size_t{kDevices} * kBlocksPerDevice);
  EXPECT_EQ(by_key, list(from, to, store::BlockListing::kMetas));
  // A week is listed by walking the metas; a range the blocks miss, not at all.
  ASSERT_FALSE(store::ListsThroughTimeIndex(from, from + 7 * 24 * kHour));
  EXPECT_EQ(list(from, from + 7 * 24 * kHour, store::BlockListing::kKeys), by_key);
  EXPECT_TRUE(list(from - 8 * kHour, from - 7 * kHour, store::BlockListing::kKeys).empty());
  EXPECT_TRUE(list(from - 30 * kHour, from - 7 * kHour, store::BlockListing::kKeys).empty());

  // device-100's second block goes, its meta with it; the index keeps naming it.
  const std::string gone_key = store::BlockKey(app_.app_id(), "device-100", kLinesPerBlock + 1);
  for (const store::Family family : {store::Family::kBlocks, store::Family::kBlockMeta}) {
    ASSERT_TRUE(
        store_->db()->Delete(rocksdb::WriteOptions(), store_->family(family), gone_key).ok());
  }
  EXPECT_EQ(list(from, to, store::BlockListing::kKeys).size(), by_key.size());
  EXPECT_EQ(list(from, to, store::BlockListing::kMetas).size(), by_key.size() - 1);
  for (const size_t workers : {1, 2}) {
    std::atomic<size_t> visited = 0;
    const absl::Status status = query::ScanAppBlocks(
        *store_, app_.app_id(), from, to, nullptr, workers,
        [&](size_t, absl::string_view, const store::BlockReader&) { ++visited; });
    EXPECT_TRUE(status.ok()) << workers << " workers: " << status;
    EXPECT_EQ(visited, by_key.size() - 1) << workers << " workers";
  }

  uint64_t matching = 0;
  std::map<std::string, uint64_t> device_matching;
  for (const Line& l : lines_) {
    const bool gone =
        l.device == "device-100" && l.seq > kLinesPerBlock && l.seq <= 2 * uint64_t{kLinesPerBlock};
    if (gone || l.message.find("PaymentTimeout") == std::string::npos) continue;
    ++matching;
    ++device_matching[l.device];
  }
  absl::StatusOr<v1::AffectedResponse> response = Affected(from, to, "paymenttimeout");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->matching_lines(), matching);
  EXPECT_EQ(response->scanned_lines(), (by_key.size() - 1) * kLinesPerBlock);
  for (const v1::AffectedDevice& device : response->devices()) {
    EXPECT_EQ(device.lines(), device_matching[device.device_id()]) << device.device_id();
  }
}

TEST_F(QueryScanTest, TimeBucketsPruneSpreadBlocksWithoutChangingAnswers) {
  constexpr int64_t kHour = int64_t{3600} * 1'000'000;
  const int64_t spread_start = kStart + 24 * kHour;
  std::vector<Line> all = lines_;
  std::vector<std::string> spread_devices;
  for (int d = 0; d < 12; ++d) {
    const std::string device = "spread-" + std::to_string(d);
    spread_devices.push_back(device);
    uint64_t seq = 0;
    for (int k = 0; k < 8; ++k) {
      // One Append per session: the writer extends the device's one block.
      std::vector<Line> session;
      const int64_t begin = spread_start + (k * 17 + d * 5) * kHour + d * 60'000'000;
      for (int i = 0; i < 15; ++i) {
        Line& line = session.emplace_back();
        line.device = device;
        line.user = "spread-user" + std::to_string(d % 4);
        line.seq = ++seq;
        line.time_us = begin + i * 20'000'000;
        line.message = i % 4 == 0 ? "PaymentTimeout in session " + std::to_string(k)
                                  : "idle " + std::to_string(i);
      }
      std::vector<store::EntryView> views;
      for (const Line& line : session) {
        store::EntryView& v = views.emplace_back();
        v.seq = line.seq;
        v.device_time_us = line.time_us;
        v.receive_time_us = line.time_us;
        v.level = v1::LEVEL_INFO;
        v.message = line.message;
        v.user_id = line.user;
      }
      ASSERT_TRUE(Append(device, views).ok());
      all.insert(all.end(), session.begin(), session.end());
    }
  }
  // Compaction settles every block: messages split into templates and
  // numbers and, with the app's compression dictionary (given here rather
  // than left to the writer's sampling), cut into chunks where the device
  // went quiet: format 4, so the queries below decompress only the chunks of
  // their hour and rebuild only their rows' text.
  ASSERT_TRUE(store_->dictionaries()
                  .Add(app_.app_id(), std::string("\0PaymentTimeout in session \x01\0idle \x01\0", 36),
                       1, 1)
                  .ok());
  ASSERT_TRUE(store_->db()
                  ->CompactRange(rocksdb::CompactRangeOptions(),
                                 store_->family(store::Family::kBlocks), nullptr, nullptr)
                  .ok());
  store::Reader reader(*store_);
  absl::StatusOr<std::vector<store::BlockRef>> one = reader.ListBlocks(app_.app_id(), "spread-0");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u) << "the sessions share one block";
  ASSERT_GT((*one)[0].meta.max_time_unix_micros() - (*one)[0].meta.min_time_unix_micros(),
            4 * 24 * kHour);
  std::string payload;
  ASSERT_TRUE(store_->db()
                  ->Get(rocksdb::ReadOptions(), store_->family(store::Family::kBlocks),
                        store::BlockKey(app_.app_id(), "spread-0", (*one)[0].first_seq), &payload)
                  .ok());
  ASSERT_EQ(payload[0], 4) << "block format 4: several chunks";
  ASSERT_NE(payload[1] & 0x30, 0) << "settled, messages split";

  size_t listed = 0, meeting_min_max = 0;
  uint64_t total_matching = 0;
  // Hours at an odd offset, so windows cut sessions.
  for (int64_t from = spread_start - kHour + 23 * 60'000'000; from < spread_start + 180 * kHour;
       from += kHour) {
    const int64_t to = from + kHour;
    uint64_t matching = 0;
    std::map<std::string, uint64_t> device_matching;
    for (const Line& l : all) {
      if (l.time_us < from || l.time_us >= to) continue;
      if (l.message.find("PaymentTimeout") == std::string::npos) continue;
      ++matching;
      ++device_matching[l.device];
    }
    total_matching += matching;
    absl::StatusOr<v1::AffectedResponse> response = Affected(from, to, "paymenttimeout");
    ASSERT_TRUE(response.ok()) << response.status();
    ASSERT_EQ(response->matching_lines(), matching) << (from - spread_start) / kHour;
    ASSERT_EQ(response->total_devices(), device_matching.size());
    for (const v1::AffectedDevice& device : response->devices()) {
      EXPECT_EQ(device.lines(), device_matching[device.device_id()]) << device.device_id();
    }
    for (const std::string& device : spread_devices) {
      query::SearchSpec spec;
      spec.app = app_;
      spec.device_id = device;
      spec.filters.text = "paymenttimeout";
      spec.from_us = from;
      spec.to_us = to;
      spec.limit = 1000;
      absl::StatusOr<query::SearchResult> result = query::Search(*store_, spec);
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(result->lines.size(), device_matching[device]) << device;
    }
    absl::StatusOr<std::vector<store::AppBlockRef>> blocks =
        reader.ListAppBlocks(app_.app_id(), from, to);
    ASSERT_TRUE(blocks.ok());
    absl::StatusOr<std::vector<store::AppBlockRef>> every =
        reader.ListAppBlocks(app_.app_id(), 0, std::numeric_limits<int64_t>::max());
    ASSERT_TRUE(every.ok());
    for (const store::AppBlockRef& ref : *every) {
      meeting_min_max += ref.block.meta.max_time_unix_micros() >= from &&
                         ref.block.meta.min_time_unix_micros() < to;
    }
    listed += blocks->size();
    // The listing (through the blocks' time index, for an hour) keeps only
    // blocks the metas' test keeps, and every block with a line of the hour.
    std::set<std::string> kept;
    for (const store::AppBlockRef& ref : *every) {
      if (store::BlockMetaMeetsRange(ref.block.meta, from, to)) {
        kept.insert(absl::StrCat(ref.device_id, "@", ref.block.first_seq));
      }
    }
    std::set<std::string> holding;
    for (const Line& l : all) {
      if (l.time_us >= from && l.time_us < to) holding.insert(l.device);
    }
    for (const store::AppBlockRef& ref : *blocks) {
      EXPECT_EQ(kept.count(absl::StrCat(ref.device_id, "@", ref.block.first_seq)), 1u);
      holding.erase(ref.device_id);
    }
    EXPECT_TRUE(holding.empty()) << "a device with a line in the hour has no block listed";
  }
  // 12 blocks spanning ~5 days each meet ~120 hours by [min, max]; sessions
  // touch ~2 buckets each, 16 of 64 per block.
  EXPECT_EQ(total_matching, 12u * 8 * 4) << "every session's matching lines, in some hour";
  EXPECT_GT(meeting_min_max, 1000u);
  EXPECT_LT(listed * 2, meeting_min_max) << listed << " blocks listed";
}

// Settled blocks keep messages as templates and numbers, and a text search
// looks at the templates first (BlockReadOptions::messages_containing): texts
// with and without digits, cut anywhere, still count exactly the lines that
// hold them.
TEST_F(QueryScanTest, TextsFindTheirLinesInSettledBlocksWhereverTheyCutNumbers) {
  ASSERT_TRUE(store_->db()
                  ->CompactRange(rocksdb::CompactRangeOptions(),
                                 store_->family(store::Family::kBlocks), nullptr, nullptr)
                  .ok());
  const int64_t from = kStart;
  const int64_t to = kStart + 3'600'000'000;
  for (const std::string text : {"paymenttimeout after 30 s", "after 3", "0 s", "button 1",
                                 "on button 12", "n 7", "tap on", "timeout", "nowhere"}) {
    uint64_t matching = 0;
    for (const Line& l : lines_) {
      if (l.time_us >= from && l.time_us < to && ContainsIgnoreCase(l.message, text)) ++matching;
    }
    if (text != "nowhere") {
      ASSERT_GT(matching, 0u) << text;
    }
    absl::StatusOr<v1::AffectedResponse> response = Affected(from, to, text);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->matching_lines(), matching) << text;
  }
  // Regexes: blocks are turned down by what the regex needs (its atoms) in
  // their templates, with numbers and case in play.
  for (const std::string regex : {"Payment(Timeout|Declined)", "button 1[0-2]$", "(?i)TAP ON",
                                  "after \\d+ s", "on button [3-5]", "nowhere|neither"}) {
    const RE2 re(regex);
    uint64_t matching = 0;
    for (const Line& l : lines_) {
      if (l.time_us >= from && l.time_us < to && RE2::PartialMatch(l.message, re)) ++matching;
    }
    absl::StatusOr<v1::AffectedResponse> response = Affected(from, to, "", regex);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->matching_lines(), matching) << regex;
  }
}

// Metas as older writers left them (no time buckets) and with times before
// 1970 are listed as their parsed fields say.
TEST_F(QueryScanTest, ListingReadsOldAndNegativeMetasAsParsed) {
  std::vector<store::BlockMeta> metas(4);
  metas[0].set_min_time_unix_micros(-5'000'000);  // before 1970: 10-byte varints
  metas[0].set_max_time_unix_micros(-1'000'000);
  metas[1].set_min_time_unix_micros(kStart);  // no time buckets: [min, max] decides
  metas[1].set_max_time_unix_micros(kStart + 1'000'000'000);
  metas[2] = metas[1];
  metas[2].set_time_buckets(1);  // only the first 64th holds lines
  metas[2].add_users("someone@example.com");
  metas[3] = metas[2];
  metas[3].set_time_buckets(uint64_t{1} << 63);
  for (size_t i = 0; i < metas.size(); ++i) {
    metas[i].set_count(1);
    ASSERT_TRUE(store_->db()
                    ->Put(rocksdb::WriteOptions(), store_->family(store::Family::kBlockMeta),
                          store::BlockKey(app_.app_id(), "old-" + std::to_string(i), 1),
                          metas[i].SerializeAsString())
                    .ok());
  }
  // As a store written before the blocks' time index: indexed from its
  // metas when opened.
  ASSERT_TRUE(store_->db()
                  ->Delete(rocksdb::WriteOptions(), store_->family(store::Family::kApps),
                           store::kBlockTimesIndexedKey)
                  .ok());
  ASSERT_TRUE(store::IndexBlockTimes(*store_).ok());
  store::Reader reader(*store_);
  // Short ranges are listed through the index, the last one by a walk over
  // every meta (store::kIndexedRangeMicros).
  const std::pair<int64_t, int64_t> ranges[] = {{-10'000'000, -4'000'000},
                                                {-1'000'000, 0},
                                                {kStart + 500'000'000, kStart + 510'000'000},
                                                {kStart, kStart + 1},
                                                {kStart + 999'000'000, kStart + 2'000'000'000},
                                                {-10'000'000, kStart + 2'000'000'000}};
  for (const auto& [from, to] : ranges) {
    absl::StatusOr<std::vector<store::AppBlockRef>> listed =
        reader.ListAppBlocks(app_.app_id(), from, to);
    ASSERT_TRUE(listed.ok());
    std::set<std::string> got, want;
    for (const store::AppBlockRef& ref : *listed) {
      if (ref.device_id.rfind("old-", 0) == 0) got.insert(ref.device_id);
    }
    for (size_t i = 0; i < metas.size(); ++i) {
      if (store::BlockMetaMeetsRange(metas[i], from, to)) want.insert("old-" + std::to_string(i));
    }
    EXPECT_EQ(got, want) << from << " " << to;
  }
  // The cases above do differ: the negative block in the first range, the
  // bucketless one alone in the middle of the span.
  EXPECT_TRUE(store::BlockMetaMeetsRange(metas[0], -10'000'000, -4'000'000));
  EXPECT_TRUE(store::BlockMetaMeetsRange(metas[1], kStart + 500'000'000, kStart + 510'000'000));
  EXPECT_FALSE(store::BlockMetaMeetsRange(metas[2], kStart + 500'000'000, kStart + 510'000'000));
  EXPECT_TRUE(store::BlockMetaMeetsRange(metas[3], kStart + 999'000'000, kStart + 2'000'000'000));
}

TEST_F(QueryScanSyncedTest, ASearchReturnsItsPageWithItsAuditRecordWritten) {
  query::QueryHandlers handlers(store_.get());
  query::Caller caller{read_token_, "ipv4:127.0.0.1:5000"};
  v1::SearchRequest request;
  request.set_app("shop");
  request.set_device_id("device-105");
  request.set_from_unix_micros(kStart);
  request.set_to_unix_micros(kStart + int64_t{3600} * 1'000'000);
  request.set_limit(50);
  const int64_t before = absl::ToUnixMicros(absl::Now());
  absl::StatusOr<v1::SearchResponse> page = handlers.Search(caller, request);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->lines_size(), 50);
  EXPECT_EQ(page->lines(0).device_id(), "device-105");
  EXPECT_FALSE(page->next_cursor().empty());
  store::Reader reader(*store_);
  absl::StatusOr<std::vector<store::AuditRecord>> audit =
      reader.ListAudit(app_.app_id(), before, std::numeric_limits<int64_t>::max(), 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].action(), "search");
  EXPECT_EQ((*audit)[0].device_id(), "device-105");

  // A refused read writes nothing and returns nothing.
  query::Caller stranger{std::string("fl_rt_not-a-token"), "ipv4:127.0.0.1:5001"};
  EXPECT_FALSE(handlers.Search(stranger, request).ok());
  store::Reader after(*store_);
  audit = after.ListAudit(app_.app_id(), before, std::numeric_limits<int64_t>::max(), 10);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->size(), 1u);
}

// Every unary read runs while its audit record waits for its sync
// (QueryHandlers::AuditedRead); each answer still arrives with its record in
// the trail, and a refused read leaves none.
TEST_F(QueryScanSyncedTest, EveryUnaryReadReturnsWithItsAuditRecordWritten) {
  query::QueryHandlers handlers(store_.get());
  const query::Caller caller{read_token_, "ipv4:127.0.0.1:5000"};
  const query::Caller stranger{std::string("fl_rt_not-a-token"), "ipv4:127.0.0.1:5001"};
  const int64_t before = absl::ToUnixMicros(absl::Now());
  const auto trail = [&] {
    store::Reader reader(*store_);
    absl::StatusOr<std::vector<store::AuditRecord>> audit =
        reader.ListAudit(app_.app_id(), before, std::numeric_limits<int64_t>::max(), 100);
    EXPECT_TRUE(audit.ok()) << audit.status();
    std::vector<std::string> actions;
    for (const store::AuditRecord& record : *audit) actions.push_back(record.action());
    return actions;
  };
  std::vector<std::string> want;
  const auto read = [&](const std::string& action, const auto& call) {
    EXPECT_FALSE(call(stranger).ok()) << action;
    auto answer = call(caller);
    ASSERT_TRUE(answer.ok()) << action << ": " << answer.status();
    want.push_back(action);
    EXPECT_EQ(trail(), want) << "right after " << action << "'s answer";
  };

  v1::ListDevicesRequest devices;
  devices.set_app("shop");
  devices.set_user_id("user0@example.com");
  read("devices", [&](const query::Caller& c) { return handlers.ListDevices(c, devices); });
  v1::GetDeviceRequest device;
  device.set_app("shop");
  device.set_device_id("device-100");
  read("device", [&](const query::Caller& c) { return handlers.GetDevice(c, device); });
  v1::FindUsersRequest users;
  users.set_app("shop");
  users.set_prefix("user");
  read("users", [&](const query::Caller& c) { return handlers.FindUsers(c, users); });
  v1::StatsRequest stats;
  stats.set_app("shop");
  stats.set_from_unix_micros(kStart);
  stats.set_to_unix_micros(kStart + int64_t{3600} * 1'000'000);
  read("stats", [&](const query::Caller& c) { return handlers.Stats(c, stats); });
  v1::AffectedRequest affected;
  affected.set_app("shop");
  affected.set_text("PaymentTimeout");
  affected.set_from_unix_micros(kStart);
  affected.set_to_unix_micros(kStart + int64_t{3600} * 1'000'000);
  read("affected", [&](const query::Caller& c) {
    absl::StatusOr<v1::AffectedResponse> answer = handlers.Affected(c, affected);
    if (answer.ok()) EXPECT_GT(answer->matching_lines(), 0u);
    return answer;
  });
  v1::ListIssuesRequest issues;
  issues.set_app("shop");
  read("issues", [&](const query::Caller& c) { return handlers.ListIssues(c, issues); });
  read("line", [&](const query::Caller& c) { return handlers.FindLine(c, "shop", "device-100", 3); });

  // A read that fails after its record was started still leaves the record
  // (the trail shows what was asked), and returns the read's error.
  absl::StatusOr<v1::LogLine> missing = handlers.FindLine(caller, "shop", "device-100", 999'999);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  want.push_back("line");
  EXPECT_EQ(trail(), want);
}

}  // namespace
}  // namespace fieldlog
