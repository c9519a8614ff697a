// clickhouse-peer: the ClickHouse side of fieldlog-bench's peer comparison.
// benchmarks/peers/clickhouse/run.sh starts a ClickHouse server and drives
// this tool; it talks to ClickHouse over HTTP on 127.0.0.1 only.
//
//   clickhouse-peer free-port                 print a free loopback TCP port
//   clickhouse-peer wait --http HOST:PORT     wait until the server answers
//   clickhouse-peer run --http HOST:PORT --pid PID [fleet flags] --json OUT
//       load the fleet fieldlog-bench generates (same seed, same lines:
//       benchmarks/fleet.h) the way a collector would (TSV inserts of
//       --batch rows over --connections keep-alive connections), optionally
//       again in --large-batch rows, then compact (OPTIMIZE FINAL), measure
//       bytes on disk and ask fieldlog-bench's questions; writes a report in
//       fieldlog-bench's JSON format
//   clickhouse-peer table --pair DEVICES:FIELDLOG.json:CLICKHOUSE.json ...
//       print the side-by-side table
//
// The schema gives ClickHouse what fieldlog has: lines sorted by (device,
// time) and a small user -> devices table, so "a user's newest lines" reads
// only her devices' ranges instead of scanning the table.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "benchmarks/fleet.h"
#include "benchmarks/histogram.h"
#include "benchmarks/peers/clickhouse/clickhouse_client.h"
#include "benchmarks/proc_stats.h"
#include "benchmarks/report.h"

namespace fieldlog::bench {
namespace {

constexpr int kTurnLines = 512;  // lines a device contributes per turn, as agents batch

struct RunFlags {
  std::string http;
  int pid = -1;
  FleetSpec fleet;
  int batch = 1000;
  int large_batch = 0;
  int connections = 4;
  int query_repeats = 50;
  std::string json;
};

// The fleet as INSERT bodies of `batch` rows, devices taking turns of 512
// lines (the order a collector receives agents' batches in).
std::vector<std::string> MakeBatches(const Fleet& fleet, int batch) {
  std::vector<std::string> batches;
  std::vector<GeneratedLines> lines;
  std::vector<std::string> device_ids, user_ids, sessions;
  for (int d = 0; d < fleet.devices(); ++d) {
    lines.push_back(fleet.Lines(d));
    device_ids.push_back(fleet.DeviceId(d));
    user_ids.push_back(fleet.UserId(fleet.UserOf(d)));
    sessions.push_back(absl::StrFormat("%016x", Mix(d + 77)));
  }
  std::vector<size_t> next(lines.size(), 0);
  std::string body;
  int rows = 0;
  for (bool any = true; any;) {
    any = false;
    for (size_t d = 0; d < lines.size(); ++d) {
      for (int k = 0; k < kTurnLines && next[d] < lines[d].size(); ++k, ++next[d]) {
        const LineView l = lines[d][next[d]];
        absl::StrAppend(&body, device_ids[d], "\t", next[d] + 1, "\t", l.time_us, "\t",
                        static_cast<int>(l.level), "\t");
        AppendTsv(&body, l.tag);
        body.push_back('\t');
        AppendTsv(&body, l.message);
        absl::StrAppend(&body, "\t", user_ids[d], "\t", sessions[d], "\n");
        if (++rows == batch) {
          batches.push_back(std::move(body));
          body.clear();
          rows = 0;
        }
        any = true;
      }
    }
    if (!any) break;
  }
  if (rows > 0) batches.push_back(std::move(body));
  return batches;
}

struct LoadResult {
  absl::Duration elapsed;
  double server_cpu_seconds = 0;
  uint64_t retries = 0;
};

// Inserts `batches` into `table` over `connections` connections.
absl::StatusOr<LoadResult> Load(const Endpoint& endpoint, int pid, const std::string& table,
                                const std::vector<std::string>& batches, int connections) {
  const std::string insert = absl::StrCat("INSERT INTO ", table, " FORMAT TabSeparated");
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> retries{0};
  std::string error;
  absl::Mutex mu;
  const std::optional<ProcessUsage> before = ReadProcessUsage(pid);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      ClickHouseClient ch(endpoint);
      for (size_t i = next++; i < batches.size(); i = next++) {
        for (int attempt = 0;; ++attempt) {
          absl::StatusOr<std::string> r = ch.Query(insert, batches[i]);
          if (r.ok()) break;
          // Small inserts make many parts; ClickHouse refuses more until its
          // merges catch up ("Too many parts"): wait and retry, as a
          // collector would.
          if (attempt < 600 && r.status().message().find("Too many parts") != std::string::npos) {
            ++retries;
            absl::SleepFor(absl::Milliseconds(100));
            continue;
          }
          absl::MutexLock lock(&mu);
          error = std::string(r.status().message());
          next = batches.size();
          return;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (!error.empty()) return absl::InternalError(error);
  LoadResult result;
  result.elapsed = absl::Now() - start;
  const std::optional<ProcessUsage> after = ReadProcessUsage(pid);
  if (before && after) result.server_cpu_seconds = absl::ToDoubleSeconds(after->cpu - before->cpu);
  result.retries = retries.load();
  return result;
}

// Waits until ClickHouse has no merge running (bounded).
void AwaitMerges(ClickHouseClient& ch) {
  for (int i = 0; i < 3000; ++i) {
    absl::StatusOr<std::string> n = ch.Query("SELECT count() FROM system.merges");
    if (!n.ok() || absl::StripAsciiWhitespace(*n) == "0") return;
    absl::SleepFor(absl::Milliseconds(100));
  }
}

struct Timed {
  absl::Duration elapsed;
  uint64_t rows = 0;
};

absl::StatusOr<Timed> TimedQuery(ClickHouseClient& ch, const std::string& sql) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> body = ch.Query(sql + " FORMAT TabSeparated");
  if (!body.ok()) return body.status();
  Timed t;
  t.elapsed = absl::Now() - start;
  t.rows = static_cast<uint64_t>(std::count(body->begin(), body->end(), '\n'));
  return t;
}

int Run(const RunFlags& flags) {
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(flags.http);
  if (!endpoint.ok()) {
    std::cerr << endpoint.status().message() << "\n";
    return 2;
  }
  const Fleet fleet(flags.fleet);
  ClickHouseClient ch(*endpoint);
  const auto must = [](absl::StatusOr<std::string> r) {
    if (!r.ok()) {
      std::cerr << "clickhouse-peer: " << r.status().message() << "\n";
      std::exit(3);
    }
    return *r;
  };
  const std::string columns =
      "(device_id String, seq UInt64, time_us Int64, level UInt8, tag String, message String, "
      "user_id String, session_id String) ENGINE = MergeTree() ORDER BY (device_id, time_us, seq)";
  must(ch.Query("CREATE DATABASE IF NOT EXISTS bench"));
  for (const char* table : {"bench.logs", "bench.logs_large", "bench.user_devices"}) {
    must(ch.Query(absl::StrCat("DROP TABLE IF EXISTS ", table)));
  }
  must(ch.Query(absl::StrCat("CREATE TABLE bench.logs ", columns)));
  must(ch.Query(
      "CREATE TABLE bench.user_devices (user_id String, device_id String) ENGINE = MergeTree() "
      "ORDER BY (user_id, device_id)"));
  std::string user_devices;
  for (int d = 0; d < fleet.devices(); ++d) {
    absl::StrAppend(&user_devices, fleet.UserId(fleet.UserOf(d)), "\t", fleet.DeviceId(d), "\n");
  }
  must(ch.Query("INSERT INTO bench.user_devices FORMAT TabSeparated", user_devices));

  Report report;
  report.conditions()["system"] = "clickhouse";
  report.conditions()["version"] =
      std::string(absl::StripAsciiWhitespace(must(ch.Query("SELECT version()"))));
  report.conditions()["cores"] = std::thread::hardware_concurrency();
  report.conditions()["options"] = {
      {"devices", flags.fleet.devices},   {"lines_per_device", flags.fleet.lines_per_device},
      {"seed", flags.fleet.seed},         {"batch", flags.batch},
      {"large_batch", flags.large_batch}, {"connections", flags.connections}};
  const double lines = static_cast<double>(fleet.total_lines());

  std::cerr << "clickhouse-peer: preparing " << fleet.total_lines() << " lines of "
            << fleet.devices() << " devices\n";
  {
    const std::vector<std::string> batches = MakeBatches(fleet, flags.batch);
    std::cerr << "clickhouse-peer: loading in batches of " << flags.batch << " over "
              << flags.connections << " connections\n";
    absl::StatusOr<LoadResult> load =
        Load(*endpoint, flags.pid, "bench.logs", batches, flags.connections);
    if (!load.ok()) {
      std::cerr << "clickhouse-peer: " << load.status().message() << "\n";
      return 3;
    }
    const std::optional<ProcessUsage> before_settle = ReadProcessUsage(flags.pid);
    AwaitMerges(ch);
    const std::optional<ProcessUsage> after_settle = ReadProcessUsage(flags.pid);
    report.Set("ingest.lines_per_sec", lines / absl::ToDoubleSeconds(load->elapsed), "lines/s",
               Better::kHigher, Gate::kAbsolute,
               absl::StrCat("INSERT of ", flags.batch, "-row TSV batches, ", flags.connections,
                            " connections"));
    report.Set("ingest.server_cpu_us_per_line", load->server_cpu_seconds * 1e6 / lines, "us/line",
               Better::kLower, Gate::kAbsolute, "clickhouse-server CPU during the load");
    if (before_settle && after_settle) {
      report.Set("ingest.server_cpu_us_per_line_with_merges",
                 (load->server_cpu_seconds +
                  absl::ToDoubleSeconds(after_settle->cpu - before_settle->cpu)) *
                     1e6 / lines,
                 "us/line", Better::kLower, Gate::kAbsolute,
                 "the same, plus the background merges until none runs");
    }
    report.conditions()["insert_retries_too_many_parts"] = load->retries;
  }
  if (flags.large_batch > 0) {
    must(ch.Query(absl::StrCat("CREATE TABLE bench.logs_large ", columns)));
    const std::vector<std::string> batches = MakeBatches(fleet, flags.large_batch);
    std::cerr << "clickhouse-peer: loading again in batches of " << flags.large_batch << "\n";
    absl::StatusOr<LoadResult> load =
        Load(*endpoint, flags.pid, "bench.logs_large", batches, flags.connections);
    if (!load.ok()) {
      std::cerr << "clickhouse-peer: " << load.status().message() << "\n";
      return 3;
    }
    report.Set("ingest.large_batch_lines_per_sec", lines / absl::ToDoubleSeconds(load->elapsed),
               "lines/s", Better::kHigher, Gate::kAbsolute,
               absl::StrCat("the same data in ", flags.large_batch, "-row batches"));
    report.Set("ingest.large_batch_server_cpu_us_per_line", load->server_cpu_seconds * 1e6 / lines,
               "us/line", Better::kLower, Gate::kAbsolute, "");
    AwaitMerges(ch);
    must(ch.Query("DROP TABLE bench.logs_large"));
  }
  if (std::optional<ProcessUsage> usage = ReadProcessUsage(flags.pid)) {
    report.Set("ingest.server_peak_rss_mb", static_cast<double>(usage->peak_rss_bytes) / (1 << 20),
               "MiB", Better::kLower, Gate::kAbsolute, "clickhouse-server VmHWM");
  }

  std::cerr << "clickhouse-peer: OPTIMIZE TABLE ... FINAL\n";
  must(ch.Query("OPTIMIZE TABLE bench.logs FINAL"));
  must(ch.Query("OPTIMIZE TABLE bench.user_devices FINAL"));
  AwaitMerges(ch);
  uint64_t bytes = 0;
  absl::SimpleAtoi(absl::StripAsciiWhitespace(
                       must(ch.Query("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND "
                                     "database = 'bench'"))),
                   &bytes);
  report.Set("storage.bytes_per_line", static_cast<double>(bytes) / lines, "B/line", Better::kLower,
             Gate::kSize, "active parts after OPTIMIZE FINAL (zstd)");

  // The questions, with the users and devices fieldlog-bench picks.
  std::cerr << "clickhouse-peer: queries\n";
  const uint64_t per_device = static_cast<uint64_t>(flags.fleet.lines_per_device);
  const std::string fields = "SELECT time_us, device_id, seq, level, tag, message, user_id";
  Histogram user_page, device_page, device_day, user_text;
  uint64_t day_lines = 0;
  absl::Duration day_time;
  std::vector<std::string> problems;
  const auto check = [&](const absl::StatusOr<Timed>& t, uint64_t expected,
                         const std::string& what) {
    if (!t.ok()) {
      std::cerr << "clickhouse-peer: " << what << ": " << t.status().message() << "\n";
      std::exit(3);
    }
    if (t->rows != expected && problems.size() < 20) {
      problems.push_back(absl::StrCat(what, ": ", t->rows, " rows, expected ", expected));
    }
  };
  for (int i = 0; i < flags.query_repeats; ++i) {
    const int user = static_cast<int>(Mix(1000 + i) % static_cast<uint64_t>(fleet.users()));
    const int device = static_cast<int>(Mix(2000 + i) % static_cast<uint64_t>(fleet.devices()));
    const std::string user_id = Quote(fleet.UserId(user));
    const std::string device_id = Quote(fleet.DeviceId(device));
    const std::string of_user = absl::StrCat(
        "device_id IN (SELECT device_id FROM bench.user_devices WHERE user_id = ", user_id, ")");
    const uint64_t user_lines = per_device * static_cast<uint64_t>(fleet.DeviceCountOf(user));

    absl::StatusOr<Timed> t =
        TimedQuery(ch, absl::StrCat(fields, " FROM bench.logs WHERE ", of_user,
                                    " ORDER BY time_us DESC, device_id DESC, seq DESC LIMIT 500"));
    check(t, std::min<uint64_t>(500, user_lines), "user page");
    user_page.Add(absl::ToDoubleMicroseconds(t->elapsed));

    t = TimedQuery(ch, absl::StrCat(fields, " FROM bench.logs WHERE device_id = ", device_id,
                                    " ORDER BY time_us DESC, seq DESC LIMIT 500"));
    check(t, std::min<uint64_t>(500, per_device), "device page");
    device_page.Add(absl::ToDoubleMicroseconds(t->elapsed));

    t = TimedQuery(ch, absl::StrCat(fields, " FROM bench.logs WHERE device_id = ", device_id,
                                    " AND time_us >= ", flags.fleet.start_us - 3'600'000'000,
                                    " AND time_us < ",
                                    flags.fleet.start_us + flags.fleet.span_us + 3'600'000'000,
                                    " ORDER BY time_us, seq"));
    check(t, per_device, "device day");
    device_day.Add(absl::ToDoubleMicroseconds(t->elapsed));
    day_lines += t->rows;
    day_time += t->elapsed;

    t = TimedQuery(ch, absl::StrCat(fields, " FROM bench.logs WHERE ", of_user,
                                    " AND positionCaseInsensitive(message, ", Quote(kRareToken),
                                    ") > 0 ORDER BY time_us DESC LIMIT 500"));
    if (!t.ok()) check(t, 0, "user text");
    user_text.Add(absl::ToDoubleMicroseconds(t->elapsed));
  }
  // Across the app, as fieldlog's Affected answers it: which devices (and
  // their users) logged the rare token, with counts.
  Histogram app_text;
  const uint64_t expected_rare = fleet.RareLineCount();
  for (int i = 0; i < std::max(1, flags.query_repeats / 10); ++i) {
    const absl::Time start = absl::Now();
    absl::StatusOr<std::string> body = ch.Query(absl::StrCat(
        "SELECT device_id, any(user_id), count(), min(time_us), max(time_us) FROM bench.logs "
        "WHERE positionCaseInsensitive(message, ",
        Quote(kRareToken),
        ") > 0 GROUP BY device_id ORDER BY count() DESC LIMIT 10000 "
        "FORMAT TabSeparated"));
    const absl::Duration elapsed = absl::Now() - start;
    if (!body.ok()) {
      std::cerr << "clickhouse-peer: app text: " << body.status().message() << "\n";
      return 3;
    }
    uint64_t matches = 0;
    for (absl::string_view row : absl::StrSplit(*body, '\n', absl::SkipEmpty())) {
      std::vector<absl::string_view> cells = absl::StrSplit(row, '\t');
      uint64_t n = 0;
      if (cells.size() >= 3 && absl::SimpleAtoi(cells[2], &n)) matches += n;
    }
    if (matches != expected_rare && problems.size() < 20) {
      problems.push_back(absl::StrCat("app text: ", matches, " lines, expected ", expected_rare));
    }
    app_text.Add(absl::ToDoubleMicroseconds(elapsed));
  }
  const auto ms = [](const Histogram& h, double q) { return h.Quantile(q) / 1e3; };
  report.Set("query.user_page_p50_ms", ms(user_page, 0.5), "ms", Better::kLower, Gate::kAbsolute,
             "a user's newest 500 lines (her devices from bench.user_devices)");
  report.Set("query.user_page_p99_ms", ms(user_page, 0.99), "ms", Better::kLower, Gate::kAbsolute,
             "");
  report.Set("query.device_page_p50_ms", ms(device_page, 0.5), "ms", Better::kLower,
             Gate::kAbsolute, "a device's newest 500 lines");
  report.Set("query.device_page_p99_ms", ms(device_page, 0.99), "ms", Better::kLower,
             Gate::kAbsolute, "");
  report.Set("query.device_day_lines_per_sec",
             static_cast<double>(day_lines) / std::max(1e-9, absl::ToDoubleSeconds(day_time)),
             "lines/s", Better::kHigher, Gate::kAbsolute, "a device's whole day, oldest first");
  report.Set("query.device_day_p50_ms", ms(device_day, 0.5), "ms", Better::kLower, Gate::kAbsolute,
             "");
  report.Set("query.user_text_p50_ms", ms(user_text, 0.5), "ms", Better::kLower, Gate::kAbsolute,
             "rare text in a user's lines");
  report.Set("query.user_text_p99_ms", ms(user_text, 0.99), "ms", Better::kLower, Gate::kAbsolute,
             "");
  report.Set("query.app_text_ms", ms(app_text, 0.5), "ms", Better::kLower, Gate::kAbsolute,
             absl::StrCat("rare text across the app (median of ", app_text.count(), ")"));
  report.conditions()["problems"] = problems;
  for (const std::string& p : problems) std::cerr << "clickhouse-peer: PROBLEM: " << p << "\n";

  std::cout << report.Table();
  if (!flags.json.empty()) {
    if (absl::Status s = report.WriteFile(flags.json); !s.ok()) {
      std::cerr << s.message() << "\n";
      return 2;
    }
  }
  return problems.empty() ? 0 : 3;
}

// One row of the side-by-side table.
struct Row {
  std::string what;
  std::string unit;
  double fieldlog;
  double clickhouse;
  bool lower_is_better;
  std::string target;
};

double Value(const Report& r, const std::string& name) {
  const Figure* f = r.Find(name);
  return f == nullptr ? NAN : f->value;
}

int Table(const std::vector<std::string>& pairs) {
  std::vector<Row> rows;
  bool first = true;
  for (const std::string& pair : pairs) {
    std::vector<std::string> parts = absl::StrSplit(pair, ':');
    if (parts.size() != 3) {
      std::cerr << "--pair wants DEVICES:FIELDLOG_JSON:CLICKHOUSE_JSON\n";
      return 2;
    }
    absl::StatusOr<Report> fl = Report::ReadFile(parts[1]);
    absl::StatusOr<Report> ch = Report::ReadFile(parts[2]);
    if (!fl.ok() || !ch.ok()) {
      std::cerr << (fl.ok() ? ch.status() : fl.status()).message() << "\n";
      return 2;
    }
    const std::string at = absl::StrCat(" @ ", parts[0], " devices");
    if (first) {
      // Ingest and storage at the first (smallest) scale.
      rows.push_back({"ingest lines/s (batches of 1,000)" + at, "lines/s",
                      Value(*fl, "ingest.lines_per_sec"), Value(*ch, "ingest.lines_per_sec"), false,
                      ""});
      rows.push_back({"ingest lines/s, ClickHouse in batches of 100,000" + at, "lines/s",
                      Value(*fl, "ingest.lines_per_sec"),
                      Value(*ch, "ingest.large_batch_lines_per_sec"), false, ""});
      rows.push_back({"server CPU per line (batches of 1,000)" + at, "us/line",
                      Value(*fl, "ingest.server_cpu_us_per_line"),
                      Value(*ch, "ingest.server_cpu_us_per_line"), true, ""});
      rows.push_back({"server CPU per line, ClickHouse at 100,000" + at, "us/line",
                      Value(*fl, "ingest.server_cpu_us_per_line"),
                      Value(*ch, "ingest.large_batch_server_cpu_us_per_line"), true,
                      "fieldlog lower"});
      first = false;
    }
    rows.push_back({"bytes on disk per line" + at, "B/line", Value(*fl, "storage.bytes_per_line"),
                    Value(*ch, "storage.bytes_per_line"), true, "fieldlog lower, <= 20"});
    rows.push_back({"device's newest 500, p50" + at, "ms", Value(*fl, "query.device_page_p50_ms"),
                    Value(*ch, "query.device_page_p50_ms"), true, ">= 10x faster"});
    rows.push_back({"device's newest 500, p99" + at, "ms", Value(*fl, "query.device_page_p99_ms"),
                    Value(*ch, "query.device_page_p99_ms"), true, ""});
    rows.push_back({"user's newest 500, p50" + at, "ms", Value(*fl, "query.user_page_p50_ms"),
                    Value(*ch, "query.user_page_p50_ms"), true, ">= 10x faster"});
    rows.push_back({"user's newest 500, p99" + at, "ms", Value(*fl, "query.user_page_p99_ms"),
                    Value(*ch, "query.user_page_p99_ms"), true, ""});
    rows.push_back({"device's day" + at, "lines/s", Value(*fl, "query.device_day_lines_per_sec"),
                    Value(*ch, "query.device_day_lines_per_sec"), false, ""});
    rows.push_back({"rare text across the app" + at, "ms", Value(*fl, "query.app_text_ms"),
                    Value(*ch, "query.app_text_ms"), true, ""});
  }
  size_t width = 10;
  for (const Row& r : rows) width = std::max(width, r.what.size());
  std::cout << absl::StrFormat("%-*s %10s %10s %-8s %9s  %s\n", static_cast<int>(width), "",
                               "fieldlog", "ClickHouse", "unit", "fieldlog", "target");
  std::cout << absl::StrFormat("%-*s %10s %10s %-8s %9s\n", static_cast<int>(width), "", "", "", "",
                               "is");
  for (const Row& r : rows) {
    // How many times better fieldlog is (below 1: worse).
    const double advantage =
        r.lower_is_better ? r.clickhouse / r.fieldlog : r.fieldlog / r.clickhouse;
    std::cout << absl::StrFormat("%-*s %10s %10s %-8s %8sx  %s\n", static_cast<int>(width), r.what,
                                 HumanNumber(r.fieldlog), HumanNumber(r.clickhouse), r.unit,
                                 HumanNumber(advantage), r.target);
  }
  std::cout << "\n\"fieldlog is Nx\": how many times better fieldlog is (below 1: worse).\n";
  return 0;
}

}  // namespace
}  // namespace fieldlog::bench

int main(int argc, char** argv) {
  using namespace fieldlog::bench;
  CLI::App app{"clickhouse-peer: the ClickHouse side of fieldlog-bench's peer comparison"};
  app.require_subcommand(1);
  const ScriptCommands script_commands(&app);

  CLI::App* run = app.add_subcommand("run", "Load the fleet, compact, ask the questions");
  RunFlags flags;
  flags.fleet.lines_per_device = 2000;
  int64_t start_us = 0;
  run->add_option("--http", flags.http, "HOST:PORT of ClickHouse's HTTP interface")->required();
  run->add_option("--pid", flags.pid, "clickhouse-server's pid (for its CPU)")->required();
  run->add_option("--devices", flags.fleet.devices)->capture_default_str();
  run->add_option("--lines-per-device", flags.fleet.lines_per_device)->capture_default_str();
  run->add_option("--seed", flags.fleet.seed)->capture_default_str();
  run->add_option("--rare-every", flags.fleet.rare_every)->capture_default_str();
  run->add_option("--start-us", start_us, "First device time (default: 23 h 5 min ago)");
  run->add_option("--batch", flags.batch, "Rows per INSERT")->capture_default_str();
  run->add_option("--large-batch", flags.large_batch,
                  "Also load the data in inserts of this many rows (0: no)")
      ->capture_default_str();
  run->add_option("--connections", flags.connections)->capture_default_str();
  run->add_option("--query-repeats", flags.query_repeats)->capture_default_str();
  run->add_option("--json", flags.json, "Write the report here");

  CLI::App* table = app.add_subcommand("table", "Print the side-by-side table");
  std::vector<std::string> pairs;
  table->add_option("--pair", pairs, "DEVICES:FIELDLOG_JSON:CLICKHOUSE_JSON")->required();
  CLI11_PARSE(app, argc, argv);

  if (std::optional<int> code = script_commands.Run()) return *code;
  if (app.got_subcommand("table")) return Table(pairs);
  flags.fleet.start_us = start_us != 0
                             ? start_us
                             : absl::ToUnixMicros(absl::Now()) - flags.fleet.span_us - 300'000'000;
  return Run(flags);
}
