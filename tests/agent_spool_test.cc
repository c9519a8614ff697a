// The agent's spool and hot path without a network: the wire encoding parsed
// back by the generated protobuf classes, seqs across restarts, torn and
// corrupt spools, the byte cap's eviction order and gap markers, the PII
// scrubber, and a Log() that allocates nothing.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/src/batch_compressor.h"
#include "agent/src/record.h"
#include "agent/src/spool.h"
#include "agent/src/spooler.h"
#include "agent/src/text_fit.h"
#include "agent/src/thread_rings.h"
#include "agent/src/wire.h"
#include "collector/compressed_batch.h"
#include "fieldlog/agent.h"
#include "fieldlog/v1/ingest.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/test_util.h"

// Allocations made by the calling thread, counted by the replaced operator new.
namespace {
thread_local uint64_t thread_allocations = 0;
}
void* operator new(size_t size) {
  ++thread_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace fieldlog::agent {
namespace {

using ::fieldlog::testing::TempDir;

std::unique_ptr<Spool> OpenSpool(const std::string& dir, size_t max_bytes = 8 << 20,
                                 Spool::Recovery* recovery = nullptr) {
  Spool::Options options;
  options.dir = dir;
  options.max_bytes = max_bytes;
  options.fsync = false;
  absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(options, recovery);
  EXPECT_TRUE(spool.ok()) << spool.status();
  return spool.ok() ? *std::move(spool) : nullptr;
}

// An entry body as the spooler writes it: time, level, message.
std::string Body(uint8_t level, const std::string& message) {
  std::string body;
  wire::PutVarintField(&body, wire::kEntryTime, 1700000000000000);
  wire::PutVarintField(&body, wire::kEntryLevel, level);
  wire::PutBytesField(&body, wire::kEntryMessage, message);
  return body;
}

// Appends warn lines of 200 bytes of text until `bytes` of text went in,
// committing every 100 lines (a chunk each); counts them in `*appended`.
void AppendWarnLines(Spool& spool, size_t bytes, uint64_t* appended) {
  const std::string filler(200, 'w');
  for (size_t written = 0; written < bytes; written += filler.size()) {
    spool.Append(4, 0, Body(4, filler));
    if (++*appended % 100 == 0) {
      ASSERT_TRUE(spool.Commit().ok());
    }
  }
  ASSERT_TRUE(spool.Commit().ok());
}

v1::Entry Parse(uint64_t seq, std::string_view body) {
  std::string framed;
  wire::AppendBatchEntry(&framed, seq, body);
  v1::Batch batch;
  EXPECT_TRUE(batch.ParseFromString(framed));
  EXPECT_EQ(batch.entries_size(), 1);
  return batch.entries_size() == 1 ? batch.entries(0) : v1::Entry();
}

// A spool entry copied out (Spool::Entry's views die with the next read).
struct Read {
  uint64_t seq, gap_count;
  uint8_t level, kind;
  std::string session_id, user_id, body;
};

std::vector<std::pair<Read, v1::Entry>> ReadAll(Spool& spool) {
  std::vector<std::pair<Read, v1::Entry>> out;
  spool.Rewind(spool.released());
  Spool::Entry e;
  for (int i = 0; i < 1000000 && spool.Next(&e); ++i) {
    out.emplace_back(Read{e.seq, e.gap_count, e.level, e.kind, std::string(e.session_id),
                          std::string(e.user_id), std::string(e.body)},
                     Parse(e.seq, e.body));
  }
  return out;
}

TEST(AgentSpoolTest, LinesGoThroughRingAndSpoolIntoWhatTheCollectorParses) {
  TempDir dir;
  auto spool = OpenSpool(dir.path());
  ThreadRings rings(128 * 1024);
  UserTable users;
  Spooler spooler(&rings, &users, spool.get(), {"session-1", false, nullptr});
  users.Set("alice@example.com");
  const Attribute attributes[] = {{"cart", 3},      {"total", 42.5}, {"ok", true},
                                  {"who", "bob"},   {"delta", -7LL}, {"retry", false},
                                  {"ratio", -0.25f}};
  ASSERT_TRUE(WriteLine(&rings.Local()->ring,
                        {4, 0, 1700000000123456, users.version(), "Checkout", "payment \xFF failed",
                         "/src/app/checkout.cc", 42, "Pay", attributes, std::size(attributes)}));
  ASSERT_TRUE(spooler.Drain().ok());
  ASSERT_TRUE(spool->Sync().ok());
  auto entries = ReadAll(*spool);
  ASSERT_EQ(entries.size(), 1u);
  const auto& [raw, e] = entries[0];
  EXPECT_EQ(raw.session_id, "session-1");
  EXPECT_EQ(raw.user_id, "alice@example.com");
  EXPECT_EQ(e.seq(), 1u);
  EXPECT_EQ(e.time_unix_micros(), 1700000000123456);
  EXPECT_EQ(e.level(), v1::LEVEL_WARN);
  EXPECT_EQ(e.tag(), "Checkout");
  EXPECT_EQ(e.message(), "payment \xEF\xBF\xBD failed");
  EXPECT_EQ(e.file(), "/src/app/checkout.cc");
  EXPECT_EQ(e.line(), 42u);
  EXPECT_EQ(e.function(), "Pay");
  ASSERT_EQ(e.attributes_size(), 7);
  EXPECT_EQ(e.attributes(0).value().int_value(), 3);
  EXPECT_EQ(e.attributes(1).value().double_value(), 42.5);
  EXPECT_TRUE(e.attributes(2).value().bool_value());
  EXPECT_EQ(e.attributes(3).value().string_value(), "bob");
  EXPECT_EQ(e.attributes(4).value().int_value(), -7);
  ASSERT_TRUE(e.attributes(5).value().has_bool_value());
  EXPECT_FALSE(e.attributes(5).value().bool_value());
  EXPECT_EQ(e.attributes(6).value().double_value(), -0.25);

  // The request framing around it.
  std::string entries_bytes;
  wire::AppendBatchEntry(&entries_bytes, 77, raw.body);
  v1::IngestRequest request;
  ASSERT_TRUE(request.ParseFromString(
      wire::BatchRequest(9, "session-1", "alice@example.com", 123, entries_bytes)));
  EXPECT_EQ(request.batch().batch_id(), 9u);
  EXPECT_EQ(request.batch().user_id(), "alice@example.com");
  EXPECT_EQ(request.batch().sent_at_unix_micros(), 123);
  EXPECT_EQ(request.batch().entries(0).seq(), 77u);
}

// The sender's compressed batches, as the collector decodes them: one
// compressor reuses its buffer, so a small batch after a large one (and a
// large one after that) must come out whole, and the request's framing must
// hold across the sizes where a length takes another varint byte.
TEST(AgentSpoolTest, CompressedBatchesReuseOneBufferAndDecodeAsTheCollectorReadsThem) {
  BatchCompressor compressor;
  uint32_t state = 12345;
  const auto random_text = [&](size_t size) {
    std::string text(size, ' ');
    for (char& c : text) {
      state = state * 1103515245 + 12345;
      c = static_cast<char>('a' + (state >> 16) % 26);
    }
    return text;
  };
  // Entries of random text so the frames keep about their raw size, taking
  // the frame across 127/128 and 16383/16384 bytes.
  for (const size_t lines : {400u, 1u, 0u, 3u, 90u, 250u, 2000u, 2u}) {
    std::string entries;
    for (size_t i = 0; i < lines; ++i) {
      std::string body;
      wire::PutVarintField(&body, wire::kEntryTime, 1700000000000000 + i);
      wire::PutBytesField(&body, wire::kEntryMessage, random_text(20 + i % 50));
      wire::AppendBatchEntry(&entries, 100 + i, body);
    }
    const std::string header = wire::BatchHeader(lines + 1, "session-1", "alice", 123);
    const std::optional<std::string_view> frame = compressor.Compress(header, entries);
    ASSERT_TRUE(frame.has_value());
    v1::IngestRequest request;
    ASSERT_TRUE(request.ParseFromString(wire::CompressedBatchRequest(*frame))) << lines;
    ASSERT_TRUE(request.has_compressed_batch());
    EXPECT_EQ(request.compressed_batch().data(), *frame);
    v1::Batch batch;
    ASSERT_TRUE(collector::DecompressBatch(request.compressed_batch(), &batch).ok()) << lines;
    EXPECT_EQ(batch.batch_id(), lines + 1);
    EXPECT_EQ(batch.user_id(), "alice");
    ASSERT_EQ(batch.entries_size(), static_cast<int>(lines));
    if (lines > 0) {
      EXPECT_EQ(batch.entries(0).seq(), 100u);
      EXPECT_EQ(batch.entries(static_cast<int>(lines) - 1).seq(), 100 + lines - 1);
    }
    EXPECT_EQ(batch.SerializeAsString(), header + entries);
  }
}

// Compressors share the process's zstd contexts: every thread's frames must
// still decode to its own batches while others compress at the same time, a
// context must serve the next batch of any compressor, and the last
// compressor gone must leave no context behind.
TEST(AgentSpoolTest, CompressorsShareContextsAcrossThreadsAndFreeThemWhenTheLastGoes) {
  EXPECT_EQ(BatchCompressor::IdleContexts(), 0u);
  const auto batch = [](int thread, int round) {
    std::string entries;
    for (int i = 0; i < 50 + round % 7; ++i) {
      std::string body;
      wire::PutBytesField(
          &body, wire::kEntryMessage,
          absl::StrFormat("thread %d round %d line %d: checkout", thread, round, i));
      wire::AppendBatchEntry(&entries, 1 + i, body);
    }
    return entries;
  };
  constexpr int kThreads = 6;
  constexpr int kRounds = 40;
  {
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    std::atomic<int> done{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        BatchCompressor compressor;
        for (int round = 0; round < kRounds; ++round) {
          const std::string header = wire::BatchHeader(round + 1, "s", absl::StrCat("u", t), 5);
          const std::string entries = batch(t, round);
          const std::optional<std::string_view> frame = compressor.Compress(header, entries);
          v1::IngestRequest request;
          v1::Batch decoded;
          if (!frame.has_value() ||
              !request.ParseFromString(wire::CompressedBatchRequest(*frame)) ||
              !collector::DecompressBatch(request.compressed_batch(), &decoded).ok() ||
              decoded.SerializeAsString() != header + entries) {
            wrong.fetch_add(1);
          }
        }
        // Keeps the compressor (and so the pool's contexts) alive until
        // every thread is done: the pool frees them only with the last.
        done.fetch_add(1);
        while (done.load() < kThreads) std::this_thread::yield();
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(wrong.load(), 0);
  }
  EXPECT_EQ(BatchCompressor::IdleContexts(), 0u) << "the last compressor frees the idle contexts";

  // One at a time, two compressors reuse one context.
  BatchCompressor first;
  BatchCompressor second;
  const std::string header = wire::BatchHeader(1, "s", "u", 5);
  const std::string entries = batch(0, 0);
  ASSERT_TRUE(first.Compress(header, entries).has_value());
  EXPECT_EQ(BatchCompressor::IdleContexts(), 1u);
  const std::string first_frame(*first.Compress(header, entries));
  ASSERT_TRUE(second.Compress(header, entries).has_value());
  EXPECT_EQ(BatchCompressor::IdleContexts(), 1u);
  EXPECT_EQ(std::string(*second.Compress(header, entries)), first_frame)
      << "a borrowed context keeps nothing of its previous batch";
}

TEST(AgentSpoolTest, SeqsContinueAcrossRestartsAndUnreleasedEntriesStay) {
  TempDir dir;
  {
    auto spool = OpenSpool(dir.path());
    spool->SetContext("s1", "");
    for (int i = 0; i < 5; ++i)
      EXPECT_EQ(spool->Append(3, 0, Body(3, "a" + std::to_string(i))), i + 1u);
    ASSERT_TRUE(spool->Commit().ok());
    spool->Release(2);
  }
  auto spool = OpenSpool(dir.path());
  EXPECT_EQ(spool->next_seq(), 6u);
  spool->SetContext("s2", "");
  EXPECT_EQ(spool->Append(3, 0, Body(3, "b")), 6u);
  ASSERT_TRUE(spool->Commit().ok());
  ASSERT_TRUE(spool->Sync().ok());
  auto entries = ReadAll(*spool);
  ASSERT_EQ(entries.size(), 6u) << "the release was not acknowledged by a collector: all stay";
  EXPECT_EQ(entries[0].second.message(), "a0");
  EXPECT_EQ(entries[0].first.session_id, "s1");
  EXPECT_EQ(entries[5].second.message(), "b");
  EXPECT_EQ(entries[5].first.session_id, "s2");
  spool->Release(6);
  ASSERT_TRUE(spool->Commit().ok());
  EXPECT_TRUE(ReadAll(*spool).empty());
}

TEST(AgentSpoolTest, ATornOrCorruptSpoolIsSkippedReportedAndNeverCrashes) {
  TempDir dir;
  {
    auto spool = OpenSpool(dir.path());
    spool->SetContext("s", "u");
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 10; ++i)
        spool->Append(3, 0, Body(3, "r" + std::to_string(round) + "-" + std::to_string(i)));
      ASSERT_TRUE(spool->Commit().ok());  // one chunk per round
    }
  }
  std::string segment;
  for (const auto& f : std::filesystem::directory_iterator(dir.path())) segment = f.path();
  ASSERT_FALSE(segment.empty());
  const auto size = std::filesystem::file_size(segment);
  {
    // Flip a byte inside the second chunk, and tear the third in half.
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.put('\x5A');
  }
  std::filesystem::resize_file(segment, size - 40);
  // And garbage in a file that looks like a segment.
  { std::ofstream(dir.path() + "/00000000000000ff.seg") << "not a spool at all"; }

  Spool::Recovery recovery;
  auto spool = OpenSpool(dir.path(), 8 << 20, &recovery);
  ASSERT_NE(spool, nullptr);
  EXPECT_GT(recovery.corrupt_bytes, 0u);
  EXPECT_NE(recovery.report.find("damaged bytes skipped"), std::string::npos) << recovery.report;
  auto entries = ReadAll(*spool);
  ASSERT_EQ(entries.size(), 10u) << "only the first chunk is intact";
  EXPECT_EQ(entries[0].second.message(), "r0-0");
  EXPECT_EQ(entries[0].first.user_id, "u");
  EXPECT_GE(spool->next_seq(), 11u);
  // The damage was cut out: a second start finds nothing wrong.
  spool.reset();
  Spool::Recovery again;
  spool = OpenSpool(dir.path(), 8 << 20, &again);
  EXPECT_EQ(again.corrupt_bytes, 0u) << again.report;
  EXPECT_EQ(ReadAll(*spool).size(), 10u);

  // Random garbage of every length never crashes Open.
  for (int n = 0; n < 200; ++n) {
    TempDir junk;
    std::string bytes = "FLSPOOL1";
    for (int i = 0; i < n * 7; ++i)
      bytes.push_back(static_cast<char>((i * 2654435761u) >> (n % 24)));
    { std::ofstream(junk.path() + "/0000000000000001.seg", std::ios::binary) << bytes; }
    Spool::Recovery r;
    auto s = OpenSpool(junk.path(), 8 << 20, &r);
    ASSERT_NE(s, nullptr);
    ReadAll(*s);
  }
}

TEST(AgentSpoolTest, TheCapEvictsDebugFirstThenInfoThenTheOldestWithGapMarkers) {
  TempDir dir;
  constexpr size_t kCap = 1 << 20;
  auto spool = OpenSpool(dir.path(), kCap);
  spool->SetContext("s", "");
  const std::string filler(200, 'f');
  // About 1.4 MiB of lines: debug, info, warn in turn.
  std::map<uint64_t, uint8_t> level_of;
  uint64_t appended = 0;
  const auto append = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const uint8_t level = static_cast<uint8_t>(2 + appended % 3);
      level_of[spool->Append(level, 0, Body(level, filler))] = level;
      ++appended;
      if (appended % 100 == 0) {
        ASSERT_TRUE(spool->Commit().ok());
      }
    }
    ASSERT_TRUE(spool->Commit().ok());
    ASSERT_TRUE(spool->Sync().ok());
  };
  append(6000);
  EXPECT_LE(spool->bytes(), kCap);
  auto entries = ReadAll(*spool);
  uint64_t gaps = 0, gap_lines = 0;
  std::map<uint8_t, uint64_t> kept;
  for (const auto& [raw, e] : entries) {
    if (raw.kind == Spool::kKindGap) {
      ++gaps;
      gap_lines += raw.gap_count;
      EXPECT_EQ(e.kind(), v1::ENTRY_KIND_GAP);
      EXPECT_TRUE(e.message().starts_with(std::to_string(raw.gap_count) + " line")) << e.message();
    } else {
      ++kept[raw.level];
    }
  }
  EXPECT_GT(gaps, 0u);
  EXPECT_EQ(kept[2] + kept[3] + kept[4] + gap_lines, appended) << "every line is kept or counted";
  EXPECT_EQ(spool->evicted(), gap_lines);
  EXPECT_EQ(kept[3], 2000u) << "no info line goes while debug lines are left to evict";
  EXPECT_EQ(kept[4], 2000u);
  EXPECT_LT(kept[2], 2000u);

  // Far over the cap: info goes next, then the oldest warn lines; the newest stay.
  append(30000);
  EXPECT_LE(spool->bytes(), kCap);
  entries = ReadAll(*spool);
  std::map<uint8_t, uint64_t> kept2;
  uint64_t gap_lines2 = 0;
  for (const auto& [raw, e] : entries) {
    if (raw.kind == Spool::kKindGap)
      gap_lines2 += raw.gap_count;
    else
      ++kept2[raw.level];
  }
  EXPECT_EQ(kept2[2] + kept2[3] + kept2[4] + gap_lines2, appended);
  EXPECT_GT(kept2[4], kept2[3]) << "warn outlives info";
  EXPECT_GE(kept2[3], kept2[2]) << "info outlives debug";
  EXPECT_EQ(entries.back().first.seq, appended) << "the newest line is kept";
  // Seqs stay strictly increasing through the rewrites.
  for (size_t i = 1; i < entries.size(); ++i)
    EXPECT_LT(entries[i - 1].first.seq, entries[i].first.seq);
}

// At the cap, eviction reads the segments it rewrites and skips those with
// nothing at the level it is evicting: a spool of warn lines is not read
// whole at the debug and info passes of every eviction, and the same holds
// after a restart (recovery learns each segment's lowest level).
TEST(AgentSpoolTest, AtTheCapEvictionReadsOnlyTheSegmentsItCanShrink) {
  TempDir dir;
  constexpr size_t kCap = 1 << 20;  // segments of 128 KiB
  uint64_t appended = 0;
  const auto append_warn = [&](Spool& spool, size_t bytes) {
    AppendWarnLines(spool, bytes, &appended);
  };
  {
    auto spool = OpenSpool(dir.path(), kCap);
    spool->SetContext("s", "");
    append_warn(*spool, kCap);  // up to the cap
    const uint64_t reads_before = spool->segments_read_by_eviction();
    append_warn(*spool, 4 * kCap);  // 4 MiB more: about 32 segments' worth to evict
    EXPECT_LE(spool->bytes(), kCap);
    EXPECT_GT(spool->evicted(), 0u);
    // Each eviction frees 1/8 of the cap, one or two segments, and folds the
    // GAP-only file it leaves into the one before (two small reads); reading
    // all seven others at the two level passes as well made this about 500.
    EXPECT_LE(spool->segments_read_by_eviction() - reads_before, 128u);
    EXPECT_GE(spool->segments_read_by_eviction() - reads_before, 16u);
  }
  auto reopened = OpenSpool(dir.path(), kCap);
  reopened->SetContext("s", "");
  append_warn(*reopened, 2 * kCap);
  EXPECT_LE(reopened->bytes(), kCap);
  EXPECT_LE(reopened->segments_read_by_eviction(), 64u);
  // A debug line makes its segment worth reading at the debug pass again.
  reopened->Append(2, 0, Body(2, "debug"));
  const uint64_t before_debug = reopened->evicted();
  append_warn(*reopened, kCap / 4);
  EXPECT_GT(reopened->evicted(), before_debug);
  bool debug_left = false;
  for (const auto& [raw, e] : ReadAll(*reopened)) debug_left |= raw.level == 2 && raw.kind == 0;
  EXPECT_FALSE(debug_left) << "the debug line goes before any warn line";
}

// Offline for long at the cap, every eviction of the oldest lines leaves a
// segment holding only its gap marker. Runs of those fold into one file and
// one marker, so the spool's files stay bounded and the timeline shows one
// "N lines dropped". A crash between writing a fold and deleting what it
// folded leaves files whose count is in the fold already: Open() deletes
// them, and no later fold counts them again.
TEST(AgentSpoolTest, GapOnlySegmentsFoldIntoOneMarkerThatACrashMidFoldDoesNotCountTwice) {
  TempDir dir;
  constexpr size_t kCap = 1 << 20;  // segments of 128 KiB
  uint64_t appended = 0;
  const auto append_warn = [&](Spool& spool, size_t bytes) {
    AppendWarnLines(spool, bytes, &appended);
  };
  const auto segment_files = [&] {
    std::vector<std::string> names;
    for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
      names.push_back(f.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  };
  // Every line is still there or counted by the one gap marker, first.
  const auto expect_exact_account = [&](Spool& spool, const std::string& when) {
    const auto entries = ReadAll(spool);
    ASSERT_FALSE(entries.empty()) << when;
    const Read& gap = entries.front().first;
    ASSERT_EQ(gap.kind, Spool::kKindGap) << when;
    EXPECT_TRUE(entries.front().second.message().starts_with(std::to_string(gap.gap_count) +
                                                             " lines dropped"))
        << when;
    EXPECT_EQ(gap.session_id, "s") << when;
    EXPECT_EQ(gap.user_id, "u") << when;
    for (size_t i = 1; i < entries.size(); ++i) {
      EXPECT_NE(entries[i].first.kind, Spool::kKindGap) << when << ": one marker";
      EXPECT_LT(entries[i - 1].first.seq, entries[i].first.seq) << when;
    }
    EXPECT_EQ(gap.gap_count + entries.size() - 1, appended) << when;
  };

  std::string fold_file;
  uint64_t fold_seq = 0;
  {
    auto spool = OpenSpool(dir.path(), kCap);
    spool->SetContext("s", "u");
    append_warn(*spool, 20 * kCap);  // 20 caps' worth, nobody reading
    EXPECT_LE(spool->bytes(), kCap);
    // Eight segments fit the cap, plus the newest and the fold. Without
    // folding, each of the ~150 evictions left a file.
    EXPECT_LE(segment_files().size(), 10u);
    expect_exact_account(*spool, "after 20 caps");
    fold_file = segment_files().front();
    fold_seq = ReadAll(*spool).front().first.seq;
  }
  // What a crash mid-fold leaves: a GAP-only file after the fold's, whose
  // seq the fold covers.
  const uint64_t fold_first = std::stoull(fold_file.substr(0, 16), nullptr, 16);
  ASSERT_GT(fold_seq, fold_first) << "the fold took a later segment's seq";
  const std::string leftover = absl::StrFormat("%016x.seg", fold_seq);
  std::filesystem::copy_file(dir.path() + "/" + fold_file, dir.path() + "/" + leftover);
  {
    Spool::Recovery recovery;
    auto spool = OpenSpool(dir.path(), kCap, &recovery);
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/" + leftover));
    EXPECT_TRUE(recovery.report.empty()) << recovery.report;
    expect_exact_account(*spool, "after the crash");
    // The sender rewinds when it reconnects; more eviction folds again, and
    // the left-over count is not in it twice.
    spool->Rewind(spool->released());
    spool->SetContext("s", "u");
    append_warn(*spool, 3 * kCap);
    EXPECT_LE(segment_files().size(), 10u);
    expect_exact_account(*spool, "after 3 more caps");
  }
}

// Eviction while the sender reads the oldest file (a slow uplink: lines
// come faster than they go). The reader goes on to a GAP that counts what
// went, even when the file changed under the chunk it was reading; the lines
// it had returned, in a batch on its way, get a GAP of their own that only a
// rewind (the batch failed) reaches. Either way every line is sent or
// counted, once.
TEST(AgentSpoolTest, EvictionUnderTheReaderCountsEveryLineOnceWhateverTheBatchInFlightBecomes) {
  TempDir dir;
  constexpr size_t kCap = 1 << 20;
  auto spool = OpenSpool(dir.path(), kCap);
  spool->SetContext("s", "");
  const std::string filler(200, 'w');
  uint64_t appended = 0;
  // Debug and warn lines in turn; a Commit every 100 lines (a chunk each).
  const auto append = [&](int lines) {
    for (int i = 0; i < lines; ++i) {
      const uint8_t level = appended % 2 == 0 ? 2 : 4;
      spool->Append(level, 0, Body(level, filler));
      if (++appended % 100 == 0) {
        ASSERT_TRUE(spool->Commit().ok());
      }
    }
    ASSERT_TRUE(spool->Commit().ok());
  };
  uint64_t lines_read = 0, gap_lines = 0, last_seq = 0;
  const auto read = [&](int entries) {
    Spool::Entry e;
    for (int i = 0; i < entries && spool->Next(&e); ++i) {
      EXPECT_GT(e.seq, last_seq) << "no seq twice, none going back";
      last_seq = e.seq;
      if (e.kind == Spool::kKindGap) {
        gap_lines += e.gap_count;
      } else {
        ++lines_read;
      }
    }
  };
  append(3000);
  // A batch on its way, not released; the reader holds the rest of the
  // chunk it read them from.
  read(50);
  // Up to the first eviction: the debug lines of the oldest file go, the
  // reader's among them.
  for (int i = 0; i < 100 && spool->evicted() == 0; ++i) append(100);
  ASSERT_GT(spool->evicted(), 0u);
  read(1000000);
  EXPECT_EQ(lines_read + gap_lines, appended) << "after the first eviction";
  append(20000);  // about four caps' worth more
  read(1000000);  // the sender reads on
  EXPECT_EQ(lines_read + gap_lines, appended)
      << "the batch acknowledged: every line sent or counted";

  // The batch failed instead: the sender rewinds to what was acknowledged.
  const auto resent = ReadAll(*spool);
  ASSERT_FALSE(resent.empty());
  EXPECT_EQ(resent.front().first.kind, Spool::kKindGap);
  EXPECT_EQ(resent.front().first.seq, 1u) << "the GAP of the lines that were on their way";
  uint64_t lines = 0, gaps = 0;
  for (size_t i = 0; i < resent.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(resent[i - 1].first.seq, resent[i].first.seq);
    }
    if (resent[i].first.kind == Spool::kKindGap) {
      gaps += resent[i].first.gap_count;
    } else {
      ++lines;
    }
  }
  EXPECT_EQ(lines + gaps, appended) << "the batch lost: every line resent or counted";
}

TEST(AgentSpoolTest, ThePiiScrubberReplacesEmailsAndCardNumbers) {
  std::string out;
  ASSERT_TRUE(ScrubPii("mail alice.smith+tag@example.co.uk now", &out));
  EXPECT_EQ(out, "mail [email] now");
  ASSERT_TRUE(ScrubPii("card 4111 1111 1111 1111, exp 12/30", &out));
  EXPECT_EQ(out, "card [card], exp 12/30");
  ASSERT_TRUE(ScrubPii("4012-8888-8888-1881 and bob@x.io", &out));
  EXPECT_EQ(out, "[card] and [email]");
  EXPECT_FALSE(ScrubPii("order 1234567890123 (not Luhn) at 10:30 by @bob", &out));
  EXPECT_FALSE(ScrubPii("version 1.2.3, id 12345", &out));
}

TEST(AgentSpoolTest, LogAllocatesNothingForOrdinaryLines) {
  AgentOptions options;
  options.server = "127.0.0.1:1";
  options.ingest_key = "fl_ik_x";
  options.device_id = "d";
  std::string error;
  auto agent = Agent::Start(options, &error);
  ASSERT_NE(agent, nullptr) << error;
  const std::string message(100, 'm');
  agent->Log(Level::kInfo, "Warmup", message);  // creates this thread's buffer
  const uint64_t before = thread_allocations;
  for (int i = 0; i < 2000; ++i) {
    agent->Log(Level::kInfo, "Checkout", message);
    agent->Log(Level::kWarn, "Checkout", message,
               {{"cart_items", i}, {"provider", "stripe"}, {"retry", true}},
               {__FILE__, __LINE__, __func__});
    FIELDLOG_DEBUG(*agent, "Macro", "with location", {"total", 42.5});
  }
  EXPECT_EQ(thread_allocations - before, 0u);
  EXPECT_EQ(agent->stats().logged + agent->stats().dropped, 6001u);
}

}  // namespace
}  // namespace fieldlog::agent
