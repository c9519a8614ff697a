// query-scale: issue 5's query benchmark at scale, fieldlog next to
// ClickHouse on the same data in the same run.
//
//   query-scale run --data-dir DIR --http HOST:PORT --pid CH_PID --json OUT
//
// 1. Generates the data set (benchmarks/query_scale_data.h: 10 M lines of
//    100,000 devices and ~50,000 users over a week, loghub-shaped, with
//    planted texts) and writes it into a fieldlog store under DIR/server/db
//    through store::Writer (the collector's write path minus gRPC), in the
//    blocks a trickling device ends up with; then compacts it. Skipped when
//    DIR holds a store of the same spec (DIR/server/scale.json).
// 2. Loads the same rows into ClickHouse (database `scale`, a MergeTree
//    ordered by (app, device_id, time_us), partitioned by day, plus a
//    (user, device) table, as a team keeping logs in ClickHouse would),
//    in TSV INSERTs of 100,000 rows over 2 connections, then OPTIMIZE FINAL
//    until every partition is one part (CompactClickHouse).
//    Skipped when ClickHouse already holds this spec (scale.meta).
// 3. Starts fieldlog-server on the store and asks both systems the
//    questions, one at a time: fieldlog through its query gRPC API
//    (what the CLI does, with a read token), ClickHouse over HTTP with the
//    SQL a team would write.
// 4. Checks that both return the same answers (counts and the identity of
//    every returned line, as a fingerprint; affected counts against the
//    planted lines), prints the side-by-side table and writes JSON.
//
// Exit status: 0 when every answer agreed, 3 when one did not, 1-2 on errors.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "benchmarks/histogram.h"
#include "benchmarks/peers/clickhouse/clickhouse_client.h"
#include "benchmarks/proc_stats.h"
#include "benchmarks/query_scale_data.h"
#include "benchmarks/report.h"
#include "benchmarks/server_process.h"
#include "fieldlog/v1/query.grpc.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "nlohmann/json.hpp"
#include "rocksdb/db.h"
#include "store/reader.h"
#include "store/store.h"
#include "store/time_buckets.h"
#include "store/writer.h"

namespace fieldlog::bench {
namespace {

constexpr char kApp[] = "scale";
// Searched in a user's week: matches a few percent of loghub lines.
constexpr char kUserRegex[] = "(?i)fail(ed|ure)?|timeout";
// Asked across the app, one hour at a time.
constexpr char kAffectedText[] = "paymenttimeout";
constexpr char kAffectedRegex[] = "Payment(Timeout|Declined)";

struct Flags {
  std::string data_dir;
  std::string http;
  int ch_pid = -1;
  std::string server_bin;
  std::string json;
  ScaleSpec spec;
  int samples = 200;
  int hours = 24;
  int load_threads = 2;
  int ch_batch = 100000;
  int ch_connections = 2;
  bool force_load = false;
  // fieldlog-server's --sync: its default, interval, fsyncs the audit record
  // every search writes; none leaves it in the OS cache.
  std::string server_sync = "interval";
  // Empty: every question; else only these (names as in the table).
  std::vector<std::string> only;
};

nlohmann::json SpecJson(const ScaleSpec& s) {
  return {{"seed", s.seed},
          {"devices", s.devices},
          {"lines", s.lines},
          {"heavy_devices", s.heavy_devices},
          {"heavy_lines_per_day", s.heavy_lines_per_day},
          {"span_us", s.span_us},
          {"rare_every", s.rare_every},
          {"payment_every", s.payment_every},
          {"format", 1}};
}

[[noreturn]] void Fail(absl::string_view what, const absl::Status& status) {
  std::cerr << "query-scale: " << what << ": " << status.message() << "\n";
  std::exit(1);
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// ---------------------------------------------------------------- loading

struct FieldlogLoad {
  std::string read_token;
  double load_seconds = 0;     // generating the lines and Writer::Append
  double compact_seconds = 0;  // full compaction after
  uint64_t bytes = 0;          // SST files after compaction
  bool reused = false;
};

uint64_t DirectoryBytes(const std::string& path) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(path, ec)) {
    if (entry.is_regular_file(ec)) bytes += entry.file_size(ec);
  }
  return bytes;
}

// The lines [first, end) of each block a device's schedule ends up in:
// whole sessions (batches) until the block would stop growing in the writer.
std::vector<std::pair<size_t, size_t>> BlockSpans(const DeviceSchedule& s) {
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t first = 0; first < s.times.size();) {
    size_t end = first;
    while (end < s.times.size() && end - first < kBlockTargetLines) {
      const uint32_t session = s.session[end];
      while (end < s.times.size() && s.session[end] == session) ++end;
    }
    spans.emplace_back(first, end);
    first = end;
  }
  return spans;
}

// Writes the fleet into a fresh store under `server_dir`/db.
FieldlogLoad LoadFieldlog(const ScaleFleet& fleet, const std::string& server_dir, int threads) {
  std::error_code ignored;
  std::filesystem::remove_all(server_dir, ignored);
  std::filesystem::create_directories(server_dir, ignored);
  store::StoreOptions options;
  options.path = server_dir + "/db";
  options.default_retention_days = 0;
  absl::StatusOr<std::unique_ptr<store::Store>> opened = store::Store::Open(options);
  if (!opened.ok()) Fail("opening the store", opened.status());
  store::Store& store = **opened;
  absl::StatusOr<store::NewApp> app = store.catalog().CreateApp(kApp);
  if (!app.ok()) Fail("creating the app", app.status());
  FieldlogLoad result;
  result.read_token = app->read_token;

  std::cerr << "query-scale: writing " << fleet.total_lines() << " lines of " << fleet.devices()
            << " devices into fieldlog's store (store::Writer, " << threads << " threads)\n";
  const absl::Time start = absl::Now();
  std::atomic<int> next{0};
  std::atomic<uint64_t> written{0};
  absl::Mutex mu;
  absl::Status error;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      std::vector<store::EntryView> views;
      for (int d = next++; d < fleet.devices(); d = next++) {
        const DeviceLines lines = fleet.Lines(d);
        const std::string device = fleet.ids().DeviceId(d);
        const std::string user = fleet.ids().UserId(fleet.ids().UserOf(d));
        const DeviceSchedule& s = lines.schedule;
        for (const auto& [first, end] : BlockSpans(s)) {
          views.clear();
          for (size_t j = first; j < end; ++j) {
            store::EntryView v;
            v.seq = j + 1;
            v.device_time_us = s.times[j];
            v.receive_time_us = s.times[j] + 800'000;
            v.level = lines.lines[j].level;
            v.tag = lines.lines[j].tag;
            v.message = lines.lines[j].message;
            v.user_id = user;
            v.session_id = lines.session_ids[s.session[j]];
            views.push_back(v);
          }
          store::AppendRequest request;
          request.app = app->app.app_id();
          request.device_id = device;
          request.receive_time_us = s.times[end - 1] + 800'000;
          request.entries = std::span<store::EntryView>(views);
          absl::StatusOr<store::AppendResult> r = store.writer().Append(request);
          if (!r.ok()) {
            absl::MutexLock lock(&mu);
            error = r.status();
            next = fleet.devices();
            return;
          }
          written += end - first;
        }
        if (d % 10000 == 0) std::cerr << "query-scale:   device " << d << "\n";
      }
    });
  }
  for (std::thread& w : workers) w.join();
  if (!error.ok()) Fail("writing", error);
  result.load_seconds = Seconds(absl::Now() - start);
  std::cerr << "query-scale: wrote " << written.load() << " lines in " << result.load_seconds
            << " s; compacting\n";
  const absl::Time compact_start = absl::Now();
  for (int f = 0; f < static_cast<int>(store::Family::kCount); ++f) {
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    store.db()->CompactRange(compact, store.family(static_cast<store::Family>(f)), nullptr,
                             nullptr);
  }
  result.compact_seconds = Seconds(absl::Now() - compact_start);
  opened->reset();
  result.bytes = DirectoryBytes(server_dir + "/db");
  return result;
}

struct ClickHouseLoad {
  double load_seconds = 0;
  double optimize_seconds = 0;
  double server_cpu_seconds = 0;
  uint64_t bytes = 0;
  bool reused = false;
};

// Merges every partition of the two tables into one part, as a team would
// keep a table it queries, and as the questions should meet it.
// OPTIMIZE ... FINAL quietly does nothing when it cannot assign a merge at
// once (the background merges of freshly inserted parts hold them): a table
// left with 25 parts instead of 9 answered a user's newest 500 in 45-51 ms
// instead of 20. So: wait for merges, then OPTIMIZE each partition that
// still has several parts, until none has (at most 20 rounds).
absl::Status CompactClickHouse(ClickHouseClient& ch) {
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 6000; ++i) {
      absl::StatusOr<std::string> n = ch.Query("SELECT count() FROM system.merges");
      if (!n.ok() || absl::StripAsciiWhitespace(*n) == "0") break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    absl::StatusOr<std::string> split = ch.Query(
        "SELECT table, partition_id FROM system.parts WHERE active AND database = 'scale' "
        "AND table IN ('logs', 'user_devices') GROUP BY table, partition_id "
        "HAVING count() > 1 FORMAT TabSeparated");
    if (!split.ok()) return split.status();
    if (absl::StripAsciiWhitespace(*split).empty()) return absl::OkStatus();
    for (absl::string_view row : absl::StrSplit(*split, '\n', absl::SkipEmpty())) {
      const std::vector<std::string> fields = absl::StrSplit(row, '\t');
      if (fields.size() != 2) return absl::InternalError(absl::StrCat("system.parts: ", row));
      absl::StatusOr<std::string> done = ch.Query(absl::StrCat(
          "OPTIMIZE TABLE scale.", fields[0], " PARTITION ID '", fields[1], "' FINAL"));
      if (!done.ok()) return done.status();
    }
  }
  return absl::DeadlineExceededError("ClickHouse's partitions did not merge in 20 rounds");
}

ClickHouseLoad LoadClickHouse(const ScaleFleet& fleet, const Endpoint& endpoint, int pid,
                              int batch_rows, int connections, const std::string& spec_text) {
  ClickHouseClient ch(endpoint);
  const auto must = [](absl::StatusOr<std::string> r) {
    if (!r.ok()) Fail("ClickHouse", r.status());
    return *std::move(r);
  };
  ClickHouseLoad result;
  must(ch.Query("CREATE DATABASE IF NOT EXISTS scale"));
  must(ch.Query("CREATE TABLE IF NOT EXISTS scale.meta (spec String) ENGINE = TinyLog"));
  const std::string have = must(ch.Query("SELECT spec FROM scale.meta FORMAT TabSeparatedRaw"));
  const auto bytes_on_disk = [&] {
    uint64_t bytes = 0;
    (void)absl::SimpleAtoi(
        absl::StripAsciiWhitespace(must(ch.Query(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = 'scale' "
            "AND table = 'logs'"))),
        &bytes);
    return bytes;
  };
  if (absl::StripAsciiWhitespace(have) == spec_text) {
    result.reused = true;
    // (A table loaded before the check below may not be.)
    if (absl::Status s = CompactClickHouse(ch); !s.ok()) Fail("ClickHouse", s);
    result.bytes = bytes_on_disk();
    return result;
  }
  for (const char* table : {"scale.logs", "scale.user_devices"}) {
    must(ch.Query(absl::StrCat("DROP TABLE IF EXISTS ", table)));
  }
  must(ch.Query("TRUNCATE TABLE scale.meta"));
  // A logs table as a team would keep it: one partition per day (for TTL and
  // to prune by time), sorted by app, device and time.
  must(
      ch.Query("CREATE TABLE scale.logs (app String, device_id String, seq UInt64, time_us Int64, "
               "level UInt8, tag String, message String, user_id String, session_id String) "
               "ENGINE = MergeTree() PARTITION BY toDate(intDiv(time_us, 1000000)) "
               "ORDER BY (app, device_id, time_us)"));
  must(
      ch.Query("CREATE TABLE scale.user_devices (app String, user_id String, device_id String) "
               "ENGINE = MergeTree() ORDER BY (app, user_id, device_id)"));
  std::string user_devices;
  for (int d = 0; d < fleet.devices(); ++d) {
    absl::StrAppend(&user_devices, kApp, "\t", fleet.ids().UserId(fleet.ids().UserOf(d)), "\t",
                    fleet.ids().DeviceId(d), "\n");
  }
  must(ch.Query("INSERT INTO scale.user_devices FORMAT TabSeparated", user_devices));

  // The rows, generated before the clock starts (ClickHouse's load time is
  // its own; fieldlog's includes generating).
  std::cerr << "query-scale: preparing ClickHouse's TSV batches\n";
  std::vector<std::string> batches;
  {
    std::string body;
    int rows = 0;
    for (int d = 0; d < fleet.devices(); ++d) {
      const DeviceLines lines = fleet.Lines(d);
      const std::string device = fleet.ids().DeviceId(d);
      const std::string user = fleet.ids().UserId(fleet.ids().UserOf(d));
      for (size_t j = 0; j < lines.lines.size(); ++j) {
        absl::StrAppend(&body, kApp, "\t", device, "\t", j + 1, "\t", lines.schedule.times[j], "\t",
                        static_cast<int>(lines.lines[j].level), "\t");
        AppendTsv(&body, lines.lines[j].tag);
        body.push_back('\t');
        AppendTsv(&body, lines.lines[j].message);
        absl::StrAppend(&body, "\t", user, "\t", lines.session_ids[lines.schedule.session[j]],
                        "\n");
        if (++rows == batch_rows) {
          batches.push_back(std::move(body));
          body.clear();
          rows = 0;
        }
      }
    }
    if (rows > 0) batches.push_back(std::move(body));
  }
  std::cerr << "query-scale: loading ClickHouse (" << batches.size() << " INSERTs over "
            << connections << " connections)\n";
  const std::optional<ProcessUsage> before = ReadProcessUsage(pid);
  const absl::Time start = absl::Now();
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      ClickHouseClient client(endpoint);
      for (size_t i = next++; i < batches.size(); i = next++) {
        for (int attempt = 0;; ++attempt) {
          absl::StatusOr<std::string> r =
              client.Query("INSERT INTO scale.logs FORMAT TabSeparated", batches[i]);
          if (r.ok()) break;
          if (attempt < 600 && r.status().message().find("Too many parts") != std::string::npos) {
            absl::SleepFor(absl::Milliseconds(100));
            continue;
          }
          Fail("ClickHouse INSERT", r.status());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  result.load_seconds = Seconds(absl::Now() - start);
  batches.clear();
  std::cerr << "query-scale: ClickHouse loaded in " << result.load_seconds
            << " s; OPTIMIZE TABLE ... FINAL\n";
  const absl::Time optimize_start = absl::Now();
  must(ch.Query("OPTIMIZE TABLE scale.logs FINAL"));
  must(ch.Query("OPTIMIZE TABLE scale.user_devices FINAL"));
  if (absl::Status s = CompactClickHouse(ch); !s.ok()) Fail("ClickHouse", s);
  result.optimize_seconds = Seconds(absl::Now() - optimize_start);
  const std::optional<ProcessUsage> after = ReadProcessUsage(pid);
  if (before && after) result.server_cpu_seconds = Seconds(after->cpu - before->cpu);
  result.bytes = bytes_on_disk();
  must(ch.Query("INSERT INTO scale.meta FORMAT TabSeparated", spec_text + "\n"));
  return result;
}

// ---------------------------------------------------------------- answers

// The identity of a result: how many lines and which, in order.
struct Answer {
  uint64_t lines = 0;
  uint64_t fingerprint = 0;
  // Runs inside the timed part, for every line of both systems' answers, so
  // it must cost next to nothing: one Mix per character of the device id
  // took some 2 ms of a 10,000-line answer, as long as fieldlog's server
  // took to read the lines.
  void Add(absl::string_view device_id, uint64_t seq) {
    ++lines;
    fingerprint = absl::HashOf(fingerprint, device_id, seq);
  }
  bool operator==(const Answer& o) const {
    return lines == o.lines && fingerprint == o.fingerprint;
  }
};

struct AffectedAnswer {
  uint64_t lines = 0;
  uint64_t users = 0;
  uint64_t devices = 0;
  bool operator==(const AffectedAnswer& o) const {
    return lines == o.lines && users == o.users && devices == o.devices;
  }
};

std::string Describe(const AffectedAnswer& a) {
  return absl::StrCat(a.lines, " lines / ", a.users, " users / ", a.devices, " devices");
}

// Reads from a SearchResponse's bytes what ClickHouseAsker::Lines reads
// from its rows: each line's device id and seq, and the cursor. Both clients
// share the machine with the servers they time, so neither builds more than
// it checks: a full SearchResponse parse (ten strings a line, UTF-8 checks)
// cost 1.9 ms of the client's CPU for a busy device's day of 10,000 lines.
// Returns false on bytes that are not a SearchResponse.
bool ReadLineIds(grpc::ByteBuffer* bytes, Answer* answer, std::string* cursor) {
  grpc::ProtoBufferReader stream(bytes);
  google::protobuf::io::CodedInputStream in(&stream);
  using WireFormat = google::protobuf::internal::WireFormatLite;
  while (const uint32_t tag = in.ReadTag()) {
    const int field = WireFormat::GetTagFieldNumber(tag);
    if (field == 2 && WireFormat::GetTagWireType(tag) == WireFormat::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormat::ReadString(&in, cursor)) return false;
      continue;
    }
    if (field != 1 || WireFormat::GetTagWireType(tag) != WireFormat::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormat::SkipField(&in, tag)) return false;
      continue;
    }
    uint32_t size = 0;
    if (!in.ReadVarint32(&size)) return false;
    const auto limit = in.PushLimit(static_cast<int>(size));
    std::string device_id;
    uint64_t seq = 0;
    while (const uint32_t line_tag = in.ReadTag()) {
      const int line_field = WireFormat::GetTagFieldNumber(line_tag);
      if (line_field == v1::LogLine::kDeviceIdFieldNumber) {
        if (!WireFormat::ReadString(&in, &device_id)) return false;
      } else if (line_field == v1::LogLine::kSeqFieldNumber) {
        if (!in.ReadVarint64(&seq)) return false;
      } else if (!WireFormat::SkipField(&in, line_tag)) {
        return false;
      }
    }
    if (!in.ConsumedEntireMessage()) return false;
    in.PopLimit(limit);
    answer->Add(device_id, seq);
  }
  return in.ConsumedEntireMessage();
}

class FieldlogClient {
 public:
  FieldlogClient(const std::string& address, std::string token)
      : token_(std::move(token)),
        channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        stub_(v1::QueryService::NewStub(channel_)),
        search_method_("/fieldlog.v1.QueryService/Search",
                       grpc::internal::RpcMethod::SERVER_STREAMING, channel_) {}

  // One Search, following cursors when `all_pages`. The answer's bytes are
  // read for the lines' identities only (ReadLineIds).
  Answer Search(v1::SearchRequest request, bool all_pages) {
    request.set_app(kApp);
    Answer answer;
    for (int page = 0; page < 100000; ++page) {
      grpc::ClientContext context;
      context.AddMetadata("authorization", "Bearer " + token_);
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
      std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
          grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
              channel_.get(), search_method_, &context, request));
      grpc::ByteBuffer response;
      std::string cursor;
      while (reader->Read(&response)) {
        if (!ReadLineIds(&response, &answer, &cursor)) {
          Fail("fieldlog Search", absl::DataLossError("a response that is not a SearchResponse"));
        }
      }
      grpc::Status status = reader->Finish();
      if (!status.ok()) Fail("fieldlog Search", absl::UnknownError(status.error_message()));
      if (cursor.empty() || !all_pages) break;
      request.set_cursor(cursor);
    }
    return answer;
  }

  AffectedAnswer Affected(const std::string& text, const std::string& regex, int64_t from,
                          int64_t to) {
    v1::AffectedRequest request;
    request.set_app(kApp);
    request.set_text(text);
    request.set_regex(regex);
    request.set_from_unix_micros(from);
    request.set_to_unix_micros(to);
    request.set_limit(10000);
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token_);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(600));
    v1::AffectedResponse response;
    grpc::Status status = stub_->Affected(&context, request, &response);
    if (!status.ok()) Fail("fieldlog Affected", absl::UnknownError(status.error_message()));
    return {response.matching_lines(), response.total_users(), response.total_devices()};
  }

 private:
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::QueryService::Stub> stub_;
  grpc::internal::RpcMethod search_method_;
};

class ClickHouseAsker {
 public:
  explicit ClickHouseAsker(const Endpoint& endpoint) : ch_(endpoint) {}

  // Rows of "device_id \t seq \t ..." as an Answer: the first two cells of
  // each row, read in place (as ReadLineIds reads fieldlog's lines).
  Answer Lines(const std::string& sql) {
    absl::StatusOr<std::string> body = ch_.Query(sql + " FORMAT TabSeparated");
    if (!body.ok()) Fail("ClickHouse", body.status());
    Answer answer;
    for (absl::string_view row : absl::StrSplit(*body, '\n', absl::SkipEmpty())) {
      // The first two cells only, without building a list of them.
      const size_t first_tab = row.find('\t');
      const size_t second_tab =
          first_tab == absl::string_view::npos ? first_tab : row.find('\t', first_tab + 1);
      uint64_t seq = 0;
      if (first_tab == absl::string_view::npos ||
          !absl::SimpleAtoi(row.substr(first_tab + 1, second_tab - first_tab - 1), &seq)) {
        Fail("ClickHouse", absl::InternalError("unexpected row"));
      }
      answer.Add(row.substr(0, first_tab), seq);
    }
    return answer;
  }

  // Rows of "user_id \t device_id \t count" folded into an affected answer.
  AffectedAnswer Affected(const std::string& sql) {
    absl::StatusOr<std::string> body = ch_.Query(sql + " FORMAT TabSeparated");
    if (!body.ok()) Fail("ClickHouse", body.status());
    AffectedAnswer answer;
    absl::flat_hash_set<std::string> users, devices;
    for (absl::string_view row : absl::StrSplit(*body, '\n', absl::SkipEmpty())) {
      std::vector<absl::string_view> cells = absl::StrSplit(row, '\t');
      uint64_t n = 0;
      if (cells.size() < 3 || !absl::SimpleAtoi(cells[2], &n)) {
        Fail("ClickHouse", absl::InternalError("unexpected row"));
      }
      answer.lines += n;
      if (!cells[0].empty()) users.emplace(cells[0]);
      devices.emplace(cells[1]);
    }
    answer.users = users.size();
    answer.devices = devices.size();
    return answer;
  }

 private:
  ClickHouseClient ch_;
};

// ---------------------------------------------------------------- questions

struct Side {
  Histogram latency_us;
  uint64_t lines = 0;
  absl::Duration time;
  void Add(absl::Duration elapsed, uint64_t n) {
    latency_us.Add(absl::ToDoubleMicroseconds(elapsed));
    lines += n;
    time += elapsed;
  }
};

struct Question {
  std::string name;
  std::string description;
  std::string target;  // what issue 5 asks, for the table
  Side fieldlog, clickhouse;
  uint64_t asked = 0;
  uint64_t agreed = 0;
  // Server CPU over all of the question's queries (each server answers only
  // its own): robust to the other load of a shared machine, unlike latency.
  absl::Duration fieldlog_cpu, clickhouse_cpu;
};

// Adds each server's CPU since the last call to the question's.
class CpuMeter {
 public:
  CpuMeter(pid_t fieldlog, pid_t clickhouse) : fieldlog_(fieldlog), clickhouse_(clickhouse) {
    Read(&fl_, &ch_);
  }
  void Charge(Question* q) {
    absl::Duration fl, ch;
    Read(&fl, &ch);
    q->fieldlog_cpu += fl - fl_;
    q->clickhouse_cpu += ch - ch_;
    fl_ = fl;
    ch_ = ch;
  }

 private:
  void Read(absl::Duration* fl, absl::Duration* ch) const {
    const std::optional<ProcessUsage> f = ReadProcessUsage(fieldlog_);
    const std::optional<ProcessUsage> c = ReadProcessUsage(clickhouse_);
    *fl = f ? f->cpu : absl::ZeroDuration();
    *ch = c ? c->cpu : absl::ZeroDuration();
  }

  pid_t fieldlog_, clickhouse_;
  absl::Duration fl_, ch_;
};

// One question while it is asked: added to `questions`, announced on stderr,
// and charged with both servers' CPU from construction to destruction.
class Asking {
 public:
  Asking(std::vector<Question>* questions, std::string name, std::string description,
         std::string target, pid_t fieldlog, pid_t clickhouse)
      : question_(questions->emplace_back()), meter_(fieldlog, clickhouse) {
    question_.name = std::move(name);
    question_.description = std::move(description);
    question_.target = std::move(target);
    std::cerr << "query-scale: " << question_.description << "\n";
  }
  ~Asking() { meter_.Charge(&question_); }
  Asking(const Asking&) = delete;
  Asking& operator=(const Asking&) = delete;

  Question& question() { return question_; }

 private:
  Question& question_;
  CpuMeter meter_;
};

template <typename F>
absl::Duration Time(F&& f) {
  const absl::Time start = absl::Now();
  f();
  return absl::Now() - start;
}

std::string FieldsSql() {
  return "SELECT device_id, seq, time_us, level, tag, message, user_id, session_id FROM "
         "scale.logs WHERE app = 'scale'";
}

std::string UserDevicesSql(const std::string& user) {
  return absl::StrCat(
      " AND device_id IN (SELECT device_id FROM scale.user_devices WHERE app = 'scale' AND "
      "user_id = ",
      Quote(user), ")");
}

std::string RangeSql(int64_t from, int64_t to) {
  return absl::StrCat(" AND time_us >= ", from, " AND time_us < ", to);
}

// What an hour's app-wide scan reads in the store as written: the blocks
// whose [min, max] meets the hour (all a meta without time buckets could
// tell), those its time buckets let through (BlockMetaMeetsRange, what
// Affected reads now), and of those the ones that hold the word (what a
// filter of the words each block holds would leave).
struct BlockLayout {
  uint64_t blocks = 0;
  uint64_t without_buckets = 0;                // metas written before time buckets
  double span_blocks = 0, span_lines = 0;      // per hour: [min, max] meets it
  double bucket_blocks = 0, bucket_lines = 0;  // per hour: a bucket with lines meets it
  double word_blocks = 0;                      // per hour: of those, holds the word
  double list_ms = 0;                          // listing every block of the app
  double list_hour_ms = 0;  // listing the blocks that meet one hour (what Affected does)
};

BlockLayout MeasureLayout(const std::string& db,
                          const std::vector<std::pair<int64_t, int64_t>>& hours,
                          absl::string_view word) {
  BlockLayout layout;
  store::StoreOptions options;
  options.path = db;
  options.default_retention_days = 0;
  absl::StatusOr<std::unique_ptr<store::Store>> opened = store::Store::Open(options);
  if (!opened.ok()) Fail("opening the store", opened.status());
  std::optional<store::AppRecord> app = (*opened)->catalog().FindApp(kApp);
  if (!app) Fail("opening the store", absl::NotFoundError("no app"));
  store::Reader reader(**opened);
  // How long an app-wide scan's listing takes (every meta of the app).
  const absl::Time list_start = absl::Now();
  absl::StatusOr<std::vector<store::AppBlockRef>> blocks =
      reader.ListAppBlocks(app->app_id(), 0, std::numeric_limits<int64_t>::max());
  if (!blocks.ok()) Fail("listing blocks", blocks.status());
  layout.list_ms = absl::ToDoubleMilliseconds(absl::Now() - list_start);
  {
    const absl::Time start = absl::Now();
    absl::StatusOr<std::vector<store::AppBlockRef>> hour = reader.ListAppBlocks(
        app->app_id(), hours.empty() ? 0 : hours[0].first, hours.empty() ? 0 : hours[0].second);
    layout.list_hour_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  }
  const double n = static_cast<double>(std::max<size_t>(1, hours.size()));
  for (const store::AppBlockRef& ref : *blocks) {
    ++layout.blocks;
    const store::BlockMeta& meta = ref.block.meta;
    if (meta.time_buckets() == 0) ++layout.without_buckets;
    const int64_t lo = meta.min_time_unix_micros();
    const int64_t hi = meta.max_time_unix_micros();
    bool meets_any = false;
    for (const auto& [from, to] : hours) meets_any |= !(hi < from || lo >= to);
    if (!meets_any) continue;
    absl::StatusOr<store::BlockReader> block =
        reader.ReadBlock(app->app_id(), ref.device_id, ref.block.first_seq);
    if (!block.ok()) Fail("reading a block", block.status());
    bool has_word = false;
    for (size_t row = 0; row < block->size() && !has_word; ++row) {
      has_word = absl::StrContains(block->message(row), word);
    }
    const double lines = static_cast<double>(block->size());
    for (const auto& [from, to] : hours) {
      if (hi < from || lo >= to) continue;
      layout.span_blocks += 1 / n;
      layout.span_lines += lines / n;
      if (!store::BlockMetaMeetsRange(meta, from, to)) continue;
      layout.bucket_blocks += 1 / n;
      layout.bucket_lines += lines / n;
      if (has_word) layout.word_blocks += 1 / n;
    }
  }
  return layout;
}

bool Wanted(const Flags& flags, absl::string_view name) {
  return flags.only.empty() ||
         std::find(flags.only.begin(), flags.only.end(), name) != flags.only.end();
}

int Run(const Flags& flags) {
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(flags.http);
  if (!endpoint.ok()) Fail("--http", endpoint.status());
  const std::string server_dir = flags.data_dir + "/server";
  const std::string marker = server_dir + "/scale.json";

  // The spec; a store of the same spec is reused, with its week.
  ScaleSpec spec = flags.spec;
  const nlohmann::json spec_json = SpecJson(spec);
  bool reuse = false;
  std::string token;
  if (!flags.force_load) {
    std::ifstream in(marker);
    if (in) {
      nlohmann::json stored = nlohmann::json::parse(in, nullptr, false);
      if (!stored.is_discarded() && stored.value("spec", nlohmann::json()) == spec_json) {
        reuse = true;
        spec.start_us = stored["start_us"].get<int64_t>();
        token = stored["read_token"].get<std::string>();
      }
    }
  }
  if (!reuse) spec.start_us = absl::ToUnixMicros(absl::Now()) - spec.span_us - 600'000'000;
  std::cerr << "query-scale: building the fleet\n";
  const ScaleFleet fleet(spec);
  FieldlogLoad fl_load;
  nlohmann::json stored_loads;
  if (reuse) {
    std::ifstream in(marker);
    stored_loads = nlohmann::json::parse(in);
    fl_load.reused = true;
    fl_load.read_token = token;
    fl_load.load_seconds = stored_loads.value("load_seconds", 0.0);
    fl_load.compact_seconds = stored_loads.value("compact_seconds", 0.0);
    fl_load.bytes = DirectoryBytes(server_dir + "/db");
    std::cerr << "query-scale: reusing the fieldlog store in " << server_dir << "\n";
  } else {
    fl_load = LoadFieldlog(fleet, server_dir, flags.load_threads);
    nlohmann::json m = {{"spec", spec_json},
                        {"start_us", spec.start_us},
                        {"read_token", fl_load.read_token},
                        {"load_seconds", fl_load.load_seconds},
                        {"compact_seconds", fl_load.compact_seconds}};
    std::ofstream(marker) << m.dump(2) << "\n";
  }
  nlohmann::json ch_spec = spec_json;
  ch_spec["start_us"] = spec.start_us;
  const ClickHouseLoad ch_load = LoadClickHouse(fleet, *endpoint, flags.ch_pid, flags.ch_batch,
                                                flags.ch_connections, ch_spec.dump());
  if (ch_load.reused) std::cerr << "query-scale: reusing ClickHouse's table\n";

  std::vector<std::pair<int64_t, int64_t>> hours;
  for (int h = 0; h < flags.hours; ++h) {
    // Spread over the week, at odd hours.
    const int64_t from = spec.start_us + (static_cast<int64_t>(h) * 7 % 160 + 2) * kHourUs +
                         static_cast<int64_t>(Mix(h) % 3600) * 1'000'000;
    hours.emplace_back(from, from + kHourUs);
  }
  std::cerr << "query-scale: measuring the store's block layout\n";
  const BlockLayout layout = MeasureLayout(server_dir + "/db", hours, "PaymentTimeout");

  const std::string binary = flags.server_bin;
  absl::StatusOr<std::unique_ptr<ServerUnderTest>> server = ServerUnderTest::Spawn(
      binary, server_dir, {"--sync", flags.server_sync, "--http-listen", ""});
  if (!server.ok()) Fail("starting fieldlog-server", server.status());
  std::cerr << "query-scale: fieldlog-server on " << (*server)->address() << "\n";

  FieldlogClient fl((*server)->address(), fl_load.read_token);
  ClickHouseAsker ch(*endpoint);
  const int64_t week_from = spec.start_us - kHourUs;
  const int64_t week_to = spec.start_us + spec.span_us + kHourUs;
  std::vector<std::string> problems;
  const auto note = [&](Question& q, bool same, const std::string& detail) {
    ++q.asked;
    if (same) {
      ++q.agreed;
    } else if (problems.size() < 30) {
      problems.push_back(absl::StrCat(q.name, ": ", detail));
    }
  };

  // Warm both up a little (connections, caches of the small tables).
  for (int i = 0; i < 5; ++i) {
    v1::SearchRequest r;
    r.set_user_id(fleet.ids().UserId(i));
    r.set_newest_first(true);
    r.set_from_unix_micros(week_from);
    r.set_to_unix_micros(week_to);
    fl.Search(r, false);
    ch.Lines(absl::StrCat(FieldsSql(), UserDevicesSql(fleet.ids().UserId(i)),
                          " ORDER BY time_us DESC LIMIT 10"));
  }

  std::vector<Question> questions;
  std::vector<int> users;
  for (int i = 0; i < flags.samples; ++i) {
    users.push_back(
        static_cast<int>(Mix(spec.seed * 101 + i) % static_cast<uint64_t>(fleet.users())));
  }

  // Q1: a user's newest 500 lines, across her devices.
  if (Wanted(flags, "user_newest_500")) {
    Asking asking(&questions, "user_newest_500",
                  "a user's newest 500 lines (all her devices, merged)", "p99 < 10 ms, >= 10x",
                  (*server)->pid(), flags.ch_pid);
    Question& q = asking.question();
    for (int u : users) {
      const std::string user = fleet.ids().UserId(u);
      v1::SearchRequest r;
      r.set_user_id(user);
      r.set_newest_first(true);
      r.set_limit(500);
      r.set_from_unix_micros(week_from);
      r.set_to_unix_micros(week_to);
      Answer a, b;
      q.fieldlog.Add(Time([&] { a = fl.Search(r, false); }), 0);
      q.clickhouse.Add(Time([&] {
                         b = ch.Lines(absl::StrCat(
                             FieldsSql(), UserDevicesSql(user), RangeSql(week_from, week_to),
                             " ORDER BY time_us DESC, device_id DESC, seq DESC LIMIT 500"));
                       }),
                       0);
      q.fieldlog.lines += a.lines;
      q.clickhouse.lines += b.lines;
      note(q, a == b, absl::StrCat(user, ": fieldlog ", a.lines, " lines, ClickHouse ", b.lines));
    }
  }

  // Q2: a device's full day, oldest first, every page; on the busy devices
  // (the scan rate) and on random devices (the latency most tickets see).
  const int64_t day_from = spec.start_us + 3 * kDayUs;
  const int64_t day_to = day_from + kDayUs;
  for (int busy = 1; busy >= 0; --busy) {
    if (!Wanted(flags, busy ? "device_day_busy" : "device_day_random")) continue;
    Asking asking(&questions, busy ? "device_day_busy" : "device_day_random",
                  busy ? "a busy device's full day, oldest first, all pages"
                       : "a random device's full day, oldest first, all pages",
                  busy ? "> 2 M lines/s, >= 10x" : ">= 10x", (*server)->pid(), flags.ch_pid);
    Question& q = asking.question();
    for (int i = 0; i < flags.samples; ++i) {
      int d;
      int64_t from = day_from, to = day_to;
      if (busy) {
        const std::vector<int>& heavy = fleet.heavy_devices();
        d = heavy[static_cast<size_t>(i) % heavy.size()];
        // Different days of the week for the same device.
        const int64_t day = static_cast<int64_t>(i / heavy.size()) % 6;
        from = spec.start_us + day * kDayUs;
        to = from + kDayUs;
      } else {
        d = static_cast<int>(Mix(spec.seed * 211 + i) % static_cast<uint64_t>(fleet.devices()));
      }
      const std::string device = fleet.ids().DeviceId(d);
      v1::SearchRequest r;
      r.set_device_id(device);
      r.set_limit(10000);
      r.set_from_unix_micros(from);
      r.set_to_unix_micros(to);
      Answer a, b;
      const absl::Duration fl_time = Time([&] { a = fl.Search(r, true); });
      const absl::Duration ch_time = Time([&] {
        b = ch.Lines(absl::StrCat(FieldsSql(), " AND device_id = ", Quote(device),
                                  RangeSql(from, to), " ORDER BY time_us, seq"));
      });
      q.fieldlog.Add(fl_time, a.lines);
      q.clickhouse.Add(ch_time, b.lines);
      note(q, a == b, absl::StrCat(device, ": fieldlog ", a.lines, " lines, ClickHouse ", b.lines));
    }
  }

  // Q2b: a busy device's day searched for a text it logged a few times:
  // every line of the day is scanned, few are returned, so lines/s here is
  // the scan rate (lines of the day / time).
  if (Wanted(flags, "device_day_grep")) {
    Asking asking(&questions, "device_day_grep",
                  absl::StrCat("a busy device's day searched for '", kAffectedText, "'"),
                  "> 2 M lines/s, >= 10x", (*server)->pid(), flags.ch_pid);
    Question& q = asking.question();
    const std::vector<int>& heavy = fleet.heavy_devices();
    for (int i = 0; i < flags.samples; ++i) {
      const int d = heavy[static_cast<size_t>(i) % heavy.size()];
      const int64_t from =
          spec.start_us + static_cast<int64_t>(i / heavy.size()) % 6 * kDayUs + 3 * kHourUs;
      const int64_t to = from + kDayUs;
      const DeviceSchedule schedule = fleet.Schedule(d);
      const uint64_t day_lines = static_cast<uint64_t>(
          std::lower_bound(schedule.times.begin(), schedule.times.end(), to) -
          std::lower_bound(schedule.times.begin(), schedule.times.end(), from));
      const std::string device = fleet.ids().DeviceId(d);
      v1::SearchRequest r;
      r.set_device_id(device);
      r.set_text(kAffectedText);
      r.set_limit(500);
      r.set_from_unix_micros(from);
      r.set_to_unix_micros(to);
      Answer a, b;
      q.fieldlog.Add(Time([&] { a = fl.Search(r, true); }), day_lines);
      q.clickhouse.Add(Time([&] {
                         b = ch.Lines(absl::StrCat(
                             FieldsSql(), " AND device_id = ", Quote(device), RangeSql(from, to),
                             " AND positionCaseInsensitive(message, ", Quote(kAffectedText),
                             ") > 0 ORDER BY time_us, seq LIMIT 500"));
                       }),
                       day_lines);
      note(q, a == b, absl::StrCat(device, ": fieldlog ", a.lines, " lines, ClickHouse ", b.lines));
    }
  }

  // Q3: a regex over one user's week.
  if (Wanted(flags, "user_week_regex")) {
    Asking asking(&questions, "user_week_regex",
                  absl::StrCat("a regex over a user's week (", kUserRegex, "), newest 500"), "",
                  (*server)->pid(), flags.ch_pid);
    Question& q = asking.question();
    for (int u : users) {
      const std::string user = fleet.ids().UserId(u);
      v1::SearchRequest r;
      r.set_user_id(user);
      r.set_regex(kUserRegex);
      r.set_newest_first(true);
      r.set_limit(500);
      r.set_from_unix_micros(spec.start_us);
      r.set_to_unix_micros(spec.start_us + spec.span_us);
      Answer a, b;
      q.fieldlog.Add(Time([&] { a = fl.Search(r, false); }), 0);
      q.clickhouse.Add(
          Time([&] {
            b = ch.Lines(absl::StrCat(FieldsSql(), UserDevicesSql(user),
                                      RangeSql(spec.start_us, spec.start_us + spec.span_us),
                                      " AND match(message, ", Quote(kUserRegex),
                                      ") ORDER BY time_us DESC, device_id DESC, seq DESC LIMIT "
                                      "500"));
          }),
          0);
      q.fieldlog.lines += a.lines;
      q.clickhouse.lines += b.lines;
      note(q, a == b, absl::StrCat(user, ": fieldlog ", a.lines, " lines, ClickHouse ", b.lines));
    }
  }

  // Q4: affected, one hour of the whole app, by text and by regex; checked
  // against the planted lines.
  std::vector<AffectedAnswer> expected_text(hours.size()), expected_regex(hours.size());
  {
    std::vector<absl::flat_hash_set<int>> text_users(hours.size()), regex_users(hours.size()),
        text_devices(hours.size()), regex_devices(hours.size());
    for (int d = 0; d < fleet.devices(); ++d) {
      const DeviceSchedule s = fleet.Schedule(d);
      for (size_t j = 0; j < s.times.size(); ++j) {
        if (s.planted[j] != Planted::kPaymentTimeout && s.planted[j] != Planted::kPaymentDeclined) {
          continue;
        }
        for (size_t h = 0; h < hours.size(); ++h) {
          if (s.times[j] < hours[h].first || s.times[j] >= hours[h].second) continue;
          ++expected_regex[h].lines;
          regex_users[h].insert(fleet.ids().UserOf(d));
          regex_devices[h].insert(d);
          if (s.planted[j] == Planted::kPaymentTimeout) {
            ++expected_text[h].lines;
            text_users[h].insert(fleet.ids().UserOf(d));
            text_devices[h].insert(d);
          }
        }
      }
    }
    for (size_t h = 0; h < hours.size(); ++h) {
      expected_text[h].users = text_users[h].size();
      expected_text[h].devices = text_devices[h].size();
      expected_regex[h].users = regex_users[h].size();
      expected_regex[h].devices = regex_devices[h].size();
    }
  }
  for (int by_regex = 0; by_regex < 2; ++by_regex) {
    if (!Wanted(flags, by_regex ? "affected_hour_regex" : "affected_hour_text")) continue;
    Asking asking(
        &questions, by_regex ? "affected_hour_regex" : "affected_hour_text",
        by_regex ? absl::StrCat("affected users+devices, one hour, regex ", kAffectedRegex)
                 : absl::StrCat("affected users+devices, one hour, text '", kAffectedText, "'"),
        "< 1 s, >= 5x", (*server)->pid(), flags.ch_pid);
    Question& q = asking.question();
    for (size_t h = 0; h < hours.size(); ++h) {
      const auto [from, to] = hours[h];
      AffectedAnswer a, b;
      q.fieldlog.Add(Time([&] {
                       a = by_regex ? fl.Affected("", kAffectedRegex, from, to)
                                    : fl.Affected(kAffectedText, "", from, to);
                     }),
                     0);
      const std::string predicate =
          by_regex
              ? absl::StrCat("match(message, ", Quote(kAffectedRegex), ")")
              : absl::StrCat("positionCaseInsensitive(message, ", Quote(kAffectedText), ") > 0");
      q.clickhouse.Add(
          Time([&] {
            b = ch.Affected(absl::StrCat(
                "SELECT user_id, device_id, count(), min(time_us), max(time_us) "
                "FROM scale.logs WHERE app = 'scale'",
                RangeSql(from, to), " AND ", predicate, " GROUP BY user_id, device_id"));
          }),
          0);
      const AffectedAnswer& want = by_regex ? expected_regex[h] : expected_text[h];
      q.fieldlog.lines += a.lines;
      q.clickhouse.lines += b.lines;
      note(q, a == want && b == want,
           absl::StrCat("hour ", h, ": expected ", Describe(want), "; fieldlog ", Describe(a),
                        "; ClickHouse ", Describe(b)));
    }
  }
  const std::optional<ProcessUsage> fl_usage = ReadProcessUsage((*server)->pid());
  if (absl::Status s = (*server)->Stop(); !s.ok()) std::cerr << s.message() << "\n";

  // The table.
  const auto ms = [](const Histogram& h, double q) { return h.Quantile(q) / 1e3; };
  std::cout << "\n== issue 5 query benchmark: fieldlog vs ClickHouse, same data, same run ==\n"
            << absl::StrFormat(
                   "data: %d lines, %d devices (%d busy at %d lines/day), %d users, 7 days\n",
                   fleet.total_lines(), fleet.devices(), fleet.heavy_devices().size(),
                   spec.heavy_lines_per_day, fleet.users())
            << absl::StrFormat(
                   "fieldlog-server --sync %s; ClickHouse over HTTP, one query at a time\n"
                   "load: fieldlog %.0f s (generating + store::Writer, %d threads) + %.0f s "
                   "compaction, %.1f B/line%s\n",
                   flags.server_sync, fl_load.load_seconds, flags.load_threads,
                   fl_load.compact_seconds,
                   static_cast<double>(fl_load.bytes) / static_cast<double>(fleet.total_lines()),
                   fl_load.reused ? " (store reused from an earlier run)" : "")
            << absl::StrFormat(
                   "      ClickHouse %.0f s (INSERTs of %d rows, %d connections) + %.0f s "
                   "OPTIMIZE FINAL, %.1f B/line%s\n",
                   ch_load.load_seconds, flags.ch_batch, flags.ch_connections,
                   ch_load.optimize_seconds,
                   static_cast<double>(ch_load.bytes) / static_cast<double>(fleet.total_lines()),
                   ch_load.reused ? " (table reused from an earlier run)" : "")
            << "\n";
  std::cout << absl::StrFormat("%-22s %6s | %9s %9s | %9s %9s | %7s %7s | %8s %8s %6s | %-22s %s\n",
                               "question", "n", "fl p50", "fl p99", "CH p50", "CH p99", "x p50",
                               "x p99", "fl CPU/q", "CH CPU/q", "x CPU", "target", "answers");
  nlohmann::ordered_json json_questions = nlohmann::ordered_json::array();
  for (const Question& q : questions) {
    const double f50 = ms(q.fieldlog.latency_us, 0.5), f99 = ms(q.fieldlog.latency_us, 0.99);
    const double c50 = ms(q.clickhouse.latency_us, 0.5), c99 = ms(q.clickhouse.latency_us, 0.99);
    const double n = static_cast<double>(std::max<uint64_t>(1, q.asked));
    const double fcpu = absl::ToDoubleMilliseconds(q.fieldlog_cpu) / n;
    const double ccpu = absl::ToDoubleMilliseconds(q.clickhouse_cpu) / n;
    std::cout << absl::StrFormat(
        "%-22s %6d | %7.2fms %7.2fms | %7.2fms %7.2fms | %6.1fx %6.1fx | %6.2fms %6.2fms %5.1fx | "
        "%-22s %d/%d same\n",
        q.name, q.asked, f50, f99, c50, c99, c50 / f50, c99 / f99, fcpu, ccpu,
        fcpu > 0 ? ccpu / fcpu : 0.0, q.target, q.agreed, q.asked);
    nlohmann::ordered_json j = {{"name", q.name},
                                {"description", q.description},
                                {"target", q.target},
                                {"asked", q.asked},
                                {"same_answers", q.agreed},
                                {"fieldlog_p50_ms", f50},
                                {"fieldlog_p99_ms", f99},
                                {"clickhouse_p50_ms", c50},
                                {"clickhouse_p99_ms", c99},
                                {"fieldlog_server_cpu_ms_per_query", fcpu},
                                {"clickhouse_server_cpu_ms_per_query", ccpu},
                                {"fieldlog_lines", q.fieldlog.lines},
                                {"clickhouse_lines", q.clickhouse.lines}};
    if (q.name.rfind("device_day", 0) == 0) {
      // For device_day_grep, lines are the day's lines scanned, not returned.
      const double fl_rate =
          static_cast<double>(q.fieldlog.lines) / std::max(1e-9, Seconds(q.fieldlog.time));
      const double ch_rate =
          static_cast<double>(q.clickhouse.lines) / std::max(1e-9, Seconds(q.clickhouse.time));
      std::cout << absl::StrFormat(
          "%-22s %6s |   lines/s: fieldlog %s, ClickHouse %s (%.1fx); %.0f lines a day on "
          "average\n",
          "", "", HumanNumber(fl_rate), HumanNumber(ch_rate), fl_rate / ch_rate,
          static_cast<double>(q.fieldlog.lines) / std::max<uint64_t>(1, q.asked));
      j["fieldlog_lines_per_sec"] = fl_rate;
      j["clickhouse_lines_per_sec"] = ch_rate;
    }
    json_questions.push_back(j);
  }
  std::cout << "\n\"x\": ClickHouse's time / fieldlog's (above 1: fieldlog faster). "
               "\"CPU/q\": the server's CPU per query (from /proc, over all of a question's "
               "queries; robust to a busy machine).\n\"same\": answers identical (line counts "
               "and identities; affected counts equal to the planted lines).\n";
  if (fl_usage) {
    std::cout << absl::StrFormat("fieldlog-server peak RSS %.0f MiB\n",
                                 static_cast<double>(fl_usage->peak_rss_bytes) / (1 << 20));
  }
  if (!hours.empty()) {
    std::cout << absl::StrFormat(
        "affected, one hour (the store as written, %d blocks, %d metas without time buckets): "
        "%.0f blocks (%.0f lines) meet the hour by [min, max];\n  their time buckets let "
        "through %.0f blocks (%.0f lines), what fieldlog reads; of those, %.0f hold "
        "'PaymentTimeout' (what a filter of each block's words would leave)\n",
        layout.blocks, layout.without_buckets, layout.span_blocks, layout.span_lines,
        layout.bucket_blocks, layout.bucket_lines, layout.word_blocks);
    std::cout << absl::StrFormat(
        "  (listing the metas: %.0f ms for all blocks, %.0f ms for one hour's, in one thread "
        "before the scan)\n",
        layout.list_ms, layout.list_hour_ms);
  }
  for (const std::string& p : problems) std::cout << "PROBLEM: " << p << "\n";

  if (!flags.json.empty()) {
    nlohmann::ordered_json out = {{"benchmark", "query-scale"},
                                  {"cores", std::thread::hardware_concurrency()},
                                  {"data",
                                   {{"lines", fleet.total_lines()},
                                    {"devices", fleet.devices()},
                                    {"busy_devices", fleet.heavy_devices().size()},
                                    {"users", fleet.users()},
                                    {"days", spec.span_us / kDayUs},
                                    {"seed", spec.seed}}},
                                  {"load",
                                   {{"fieldlog_seconds", fl_load.load_seconds},
                                    {"fieldlog_compact_seconds", fl_load.compact_seconds},
                                    {"fieldlog_bytes", fl_load.bytes},
                                    {"fieldlog_reused", fl_load.reused},
                                    {"clickhouse_seconds", ch_load.load_seconds},
                                    {"clickhouse_optimize_seconds", ch_load.optimize_seconds},
                                    {"clickhouse_bytes", ch_load.bytes},
                                    {"clickhouse_reused", ch_load.reused}}},
                                  {"questions", json_questions},
                                  {"problems", problems}};
    std::ofstream(flags.json) << out.dump(2) << "\n";
  }
  return problems.empty() ? 0 : 3;
}

}  // namespace
}  // namespace fieldlog::bench

int main(int argc, char** argv) {
  using namespace fieldlog::bench;
  CLI::App app{"query-scale: issue 5's query benchmark, fieldlog next to ClickHouse"};
  app.require_subcommand(1);
  const ScriptCommands script_commands(&app);

  CLI::App* run = app.add_subcommand("run", "Load both systems (or reuse), ask, compare");
  Flags flags;
  run->add_option("--data-dir", flags.data_dir, "Where fieldlog's store lives (kept)")->required();
  run->add_option("--http", flags.http, "HOST:PORT of ClickHouse's HTTP interface")->required();
  run->add_option("--pid", flags.ch_pid, "clickhouse-server's pid (for its CPU)");
  run->add_option("--server-bin", flags.server_bin, "fieldlog-server binary")->required();
  run->add_option("--json", flags.json, "Write the results here");
  run->add_option("--devices", flags.spec.devices)->capture_default_str();
  run->add_option("--lines", flags.spec.lines)->capture_default_str();
  run->add_option("--busy-devices", flags.spec.heavy_devices)->capture_default_str();
  run->add_option("--busy-lines-per-day", flags.spec.heavy_lines_per_day)->capture_default_str();
  run->add_option("--seed", flags.spec.seed)->capture_default_str();
  run->add_option("--samples", flags.samples, "Users / devices asked per question")
      ->capture_default_str();
  run->add_option("--hours", flags.hours, "Hours asked per affected question")
      ->capture_default_str();
  run->add_option("--load-threads", flags.load_threads)->capture_default_str();
  run->add_option("--ch-batch", flags.ch_batch, "Rows per ClickHouse INSERT")
      ->capture_default_str();
  run->add_option("--server-sync", flags.server_sync,
                  "fieldlog-server --sync (interval, its default, fsyncs each search's audit "
                  "record)")
      ->capture_default_str();
  run->add_option("--only", flags.only, "Ask only these questions (names as in the table)");
  run->add_flag("--force-load", flags.force_load, "Load again even if a store of the spec exists");
  CLI11_PARSE(app, argc, argv);
  if (std::optional<int> code = script_commands.Run()) return *code;
  return Run(flags);
}
