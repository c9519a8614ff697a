// fieldlog-bench: the end-to-end ingestion benchmark CI runs.
//
//   fieldlog-bench [--devices 1000] [--lines-per-device 2000] [--json out.json]
//                  [--compare benchmarks/baseline.json]
//
// One run, in this order, on the same generated fleet (benchmarks/fleet.h):
//   transport  the same-run parse-and-ack gRPC reference (parse_ack.h)
//   ceiling    the same-run key-per-line RocksDB loop (key_per_line.h)
//   collector  fieldlog-server alone, fed pre-encoded batches, once per
//              --sync policy (collector_phase.h)
//   ingest     fieldlog-server started on a temporary directory (or --server),
//              the fleet through the real agent library in worker processes
//              (ingest_phase.h)
//   storage    server stopped, full compaction, bytes per line (storage_phase.h)
//   queries    server restarted, the support questions (query_phase.h)
// then the table, --json, and --compare against a baseline.
//
// Exit codes: 0 ok; 1 a gated figure regressed past the tolerance; 2 bad
// flags or files; 3 the run failed or gave wrong answers.
//
// Hidden subcommands used by the run itself: `worker` (ingest_worker.h) and
// `parse-ack-server` (parse_ack.h).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "benchmarks/batch_streams.h"
#include "benchmarks/collector_phase.h"
#include "benchmarks/compare.h"
#include "benchmarks/fleet.h"
#include "benchmarks/ingest_phase.h"
#include "benchmarks/ingest_worker.h"
#include "benchmarks/key_per_line.h"
#include "benchmarks/parse_ack.h"
#include "benchmarks/proc_stats.h"
#include "benchmarks/progress.h"
#include "benchmarks/query_phase.h"
#include "benchmarks/report.h"
#include "benchmarks/server_process.h"
#include "benchmarks/storage_phase.h"
#include "benchmarks/subprocess.h"

namespace fieldlog::bench {
namespace {

constexpr int kExitRegression = 1;
constexpr int kExitUsage = 2;
constexpr int kExitFailed = 3;
// The batch size of the references and the collector phase, as the issue
// states them (the agents send up to 512).
constexpr size_t kStreamBatchEntries = 1000;

struct Flags {
  // The fleet.
  int devices = 1000;
  int lines_per_device = 2000;
  int steady_lines = 500;
  double steady_load = 0.25;
  uint64_t seed = 1;
  int rare_every = 50000;
  // How it is driven.
  int workers = 2;
  std::string agent_compression = "default";
  int concurrent_devices = 0;  // 0: all devices at once
  size_t window = 1024;
  size_t chunk = 256;
  int max_seconds = 900;
  int ack_probes = 2;
  // The server.
  std::string server;
  std::string admin_token;
  int server_pid = -1;
  std::string server_bin;
  std::string sync = "interval";
  std::vector<std::string> server_args;
  std::string work_dir;
  bool keep = false;
  // Phases.
  bool no_parse_ack = false;
  bool no_ceiling = false;
  bool no_collector = false;
  std::vector<std::string> collector_sync = {"none", "batch", "interval"};
  int stream_lanes = 16;
  bool no_storage = false;
  bool no_queries = false;
  bool no_app_text = false;
  int query_repeats = 100;
  // Output and comparison.
  std::string json;
  std::string compare;
  std::string from_json;
  double tolerance = 0.25;
  std::string gate = "ratios";
  std::string progress = "auto";
};

std::string Trim(std::string s) { return std::string(absl::StripAsciiWhitespace(s)); }

// Output of a shell command, trimmed ("" on failure).
std::string CommandOutput(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) return "";
  std::string out;
  char buffer[256];
  while (std::fgets(buffer, sizeof(buffer), pipe.get()) != nullptr) out += buffer;
  return Trim(out);
}

nlohmann::ordered_json Conditions(const Flags& flags, const FleetSpec& fleet) {
  nlohmann::ordered_json c;
  const std::string git = absl::StrCat("git -C '", FIELDLOG_SOURCE_DIR, "' ");
  c["commit"] = CommandOutput(git + "rev-parse HEAD 2>/dev/null");
  c["commit_dirty"] =
      !CommandOutput(git + "status --porcelain --untracked-files=no 2>/dev/null").empty();
  c["started_at"] = absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone());
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  c["host"] = host;
  c["cores"] = std::thread::hardware_concurrency();
  c["cpu_model"] = CpuModel();
  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) == 3) c["load_average_at_start"] = {load[0], load[1], load[2]};
  nlohmann::ordered_json o;
  o["devices"] = flags.devices;
  o["lines_per_device"] = flags.lines_per_device;
  o["steady_lines_per_device"] = flags.steady_lines;
  o["steady_load"] = flags.steady_load;
  o["seed"] = flags.seed;
  o["rare_every"] = flags.rare_every;
  o["workers"] = flags.workers;
  o["agent_compression"] = flags.agent_compression;
  o["concurrent_devices"] = flags.concurrent_devices;
  o["window"] = flags.window;
  o["chunk"] = flags.chunk;
  o["sync"] = flags.sync;
  o["collector_sync"] = flags.no_collector ? std::vector<std::string>() : flags.collector_sync;
  o["stream_lanes"] = flags.stream_lanes;
  o["stream_batch_entries"] = kStreamBatchEntries;
  o["server_args"] = flags.server_args;
  o["server"] = flags.server.empty() ? "started by fieldlog-bench" : flags.server;
  o["query_repeats"] = flags.query_repeats;
  o["agent_batch_max_entries"] = 512;  // the agent's default, left as shipped
  c["options"] = o;
  c["fleet_start_unix_micros"] = fleet.start_us;
  return c;
}

class Run {
 public:
  explicit Run(const Flags& flags) : flags_(flags) {}

  // Runs every phase; returns the exit code (the report is filled as far as
  // the run got).
  int Execute(Report* report) {
    progress_ = flags_.progress == "always" ||
                (flags_.progress == "auto" && ProgressBar::StderrIsTerminal());
    FleetSpec spec;
    spec.seed = flags_.seed;
    spec.devices = flags_.devices;
    spec.lines_per_device = flags_.lines_per_device + flags_.steady_lines;
    spec.rare_every = flags_.rare_every;
    // A day of logs that ended a few minutes ago: every time is valid for the
    // collector (at most 30 days old, never in the future).
    spec.start_us = absl::ToUnixMicros(absl::Now()) - spec.span_us - 300'000'000;
    fleet_ = std::make_unique<Fleet>(spec);
    report->conditions() = Conditions(flags_, spec);
    report->conditions()["users"] = fleet_->users();
    report->conditions()["lines"] = fleet_->total_lines();
    report->conditions()["full_speed_lines"] =
        static_cast<uint64_t>(flags_.devices) * static_cast<uint64_t>(flags_.lines_per_device);

    if (absl::Status s = MakeWorkDir(); !s.ok()) return Fail(s);
    Note(absl::StrFormat(
        "fieldlog-bench: %d devices (%d users), %d lines each, %d workers; work "
        "dir %s",
        flags_.devices, fleet_->users(), flags_.lines_per_device, flags_.workers, work_dir_));
    ComputeTextBytes();

    if (!flags_.no_parse_ack) {
      if (absl::Status s = ParseAckPhase(report); !s.ok()) return Fail(s);
    }
    if (!flags_.no_ceiling) {
      if (absl::Status s = CeilingPhase(report); !s.ok()) return Fail(s);
    }
    if (!flags_.no_collector) {
      for (const std::string& sync : flags_.collector_sync) {
        if (absl::Status s = CollectorPhase(sync, report); !s.ok()) return Fail(s);
      }
    }
    plans_.clear();  // a few hundred MB the agents' phases do not need
    if (absl::Status s = StartServer(); !s.ok()) return Fail(s);
    if (absl::Status s = IngestPhase(report); !s.ok()) return Fail(s);
    if (!flags_.no_storage && server_->owned()) {
      if (absl::Status s = StoragePhase(report); !s.ok()) return Fail(s);
    }
    if (!flags_.no_queries) {
      if (absl::Status s = QueryPhase(report); !s.ok()) return Fail(s);
    }
    if (absl::Status s = server_->Stop(); !s.ok()) problems_.push_back(std::string(s.message()));
    server_.reset();
    Cleanup();
    for (const std::string& p : problems_) std::cerr << "fieldlog-bench: PROBLEM: " << p << "\n";
    report->conditions()["problems"] = problems_;
    return problems_.empty() ? 0 : kExitFailed;
  }

 private:
  int Fail(const absl::Status& status) {
    std::cerr << "fieldlog-bench: " << status.message() << "\n";
    server_.reset();
    Cleanup();
    return kExitFailed;
  }

  void Note(const std::string& line) { std::cerr << line << "\n"; }

  absl::Status MakeWorkDir() {
    if (!flags_.work_dir.empty()) {
      work_dir_ = flags_.work_dir;
      std::filesystem::create_directories(work_dir_);
      return absl::OkStatus();
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = absl::StrCat(tmp ? tmp : "/tmp", "/fieldlog-bench-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) return absl::InternalError("mkdtemp failed");
    work_dir_ = pattern;
    owns_work_dir_ = true;
    return absl::OkStatus();
  }

  void Cleanup() {
    if (owns_work_dir_ && !flags_.keep && !work_dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(work_dir_, ignored);
    }
  }

  void ComputeTextBytes() {
    // The average over a sample of devices: the corpus mix is uniform.
    uint64_t bytes = 0, lines = 0;
    for (int d = 0; d < std::min(fleet_->devices(), 20); ++d) {
      const GeneratedLines l = fleet_->Lines(d);
      bytes += l.text_bytes();
      lines += l.size();
    }
    text_bytes_per_line_ = lines == 0 ? 0 : static_cast<double>(bytes) / static_cast<double>(lines);
  }

  absl::Status ParseAckPhase(Report* report) {
    const std::string listen_file = work_dir_ + "/parse-ack-address";
    SubprocessOptions process;
    process.argv = {SelfPath(), "parse-ack-server", "--listen-file", listen_file};
    process.output_path = work_dir_ + "/parse-ack.log";
    absl::StatusOr<std::unique_ptr<Subprocess>> child = Subprocess::Start(process);
    if (!child.ok()) return child.status();
    std::string address;
    for (int i = 0; i < 500 && address.empty(); ++i) {
      std::ifstream in(listen_file);
      std::getline(in, address);
      if (address.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (address.empty()) return absl::UnavailableError("the parse-and-ack server did not start");
    const std::vector<StreamPlan>& plans = Plans();
    const std::optional<ProcessUsage> before = ReadProcessUsage((*child)->pid());
    StreamRunOptions options = StreamOptions("transport");
    options.address = address;
    absl::StatusOr<StreamRunResult> result = RunStreams(plans, options);
    const std::optional<ProcessUsage> after = ReadProcessUsage((*child)->pid());
    (*child)->Stop(SIGTERM, absl::Seconds(10));
    if (!result.ok()) return result.status();
    parse_ack_rate_ =
        static_cast<double>(result->acked_entries) / absl::ToDoubleSeconds(result->elapsed);
    report->Set("reference.parse_ack_entries_per_sec", parse_ack_rate_, "entries/s",
                Better::kHigher, Gate::kAbsolute,
                "gRPC stream that only parses and acks 1,000-entry batches (same run)");
    if (before && after) {
      parse_ack_cpu_us_ = absl::ToDoubleMicroseconds(after->cpu - before->cpu) /
                          static_cast<double>(result->acked_entries);
      report->Set("reference.parse_ack_server_cpu_us_per_entry", parse_ack_cpu_us_, "us/entry",
                  Better::kLower, Gate::kAbsolute, "CPU of the parse-and-ack server per entry");
    }
    return absl::OkStatus();
  }

  // The fleet as pre-encoded device streams, made on first use and shared by
  // the parse-and-ack reference and the collector phase.
  const std::vector<StreamPlan>& Plans() {
    if (plans_.empty()) plans_ = MakeDevicePlans(*fleet_, kStreamBatchEntries);
    return plans_;
  }

  StreamRunOptions StreamOptions(const std::string& label) const {
    StreamRunOptions options;
    options.connections = flags_.workers;
    options.lanes = flags_.stream_lanes;
    options.max_duration = absl::Seconds(flags_.max_seconds);
    if (progress_) options.progress_label = label;
    return options;
  }

  absl::Status CollectorPhase(const std::string& sync, Report* report) {
    CollectorPhaseOptions options;
    options.server_binary =
        flags_.server_bin.empty() ? SelfDir() + "/fieldlog-server" : flags_.server_bin;
    options.data_dir = absl::StrCat(work_dir_, "/collector-", sync);
    options.sync = sync;
    options.server_args = flags_.server_args;
    options.streams = StreamOptions(absl::StrCat("collector --sync ", sync));
    absl::StatusOr<CollectorRun> run = RunCollectorPhase(Plans(), options);
    if (!run.ok()) return run.status();
    const double lines = static_cast<double>(run->lines);
    const double rate = lines / absl::ToDoubleSeconds(run->elapsed);
    const std::string name = absl::StrCat("collector.", sync, ".");
    const std::string what = absl::StrCat("--sync ", sync, ": ");
    report->Set(name + "lines_per_sec", rate, "lines/s", Better::kHigher, Gate::kAbsolute,
                what + "pre-encoded 1,000-entry batches -> collector -> RocksDB WAL -> ack");
    report->Set(name + "mb_per_sec", rate * text_bytes_per_line_ / 1e6, "MB/s", Better::kHigher,
                Gate::kAbsolute, what + "of log text (tag + message)");
    report->Set(name + "wire_mb_per_sec",
                static_cast<double>(run->wire_bytes) / 1e6 / absl::ToDoubleSeconds(run->elapsed),
                "MB/s", Better::kHigher, Gate::kAbsolute, what + "of serialized requests");
    if (key_per_line_rate_ > 0) {
      report->Set(name + "ratio_to_key_per_line", rate / key_per_line_rate_, "x", Better::kHigher,
                  Gate::kRatio,
                  what + "lines/s / same-run key-per-line lines/s (target >= 6 with interval)");
      report->SetTolerance(name + "ratio_to_key_per_line", 0.35);
    }
    if (key_per_line_settled_rate_ > 0) {
      report->Set(name + "ratio_to_key_per_line_settled", rate / key_per_line_settled_rate_, "x",
                  Better::kHigher, Gate::kRatio,
                  what +
                      "lines/s / same-run key-per-line lines/s counting its flush and "
                      "compactions");
      report->SetTolerance(name + "ratio_to_key_per_line_settled", 0.35);
    }
    if (parse_ack_rate_ > 0) {
      report->Set(name + "ratio_to_parse_ack", rate / parse_ack_rate_, "x", Better::kHigher,
                  Gate::kRatio,
                  what +
                      "lines/s / same-run parse-and-ack entries/s (target >= 0.5 with "
                      "interval)");
      report->SetTolerance(name + "ratio_to_parse_ack", 0.5);
    }
    // /proc counts CPU in 10 ms ticks: a run too short to register one has
    // no CPU figure rather than a zero.
    if (run->server_cpu_seconds > 0) {
      report->Set(name + "server_cpu_us_per_line", run->server_cpu_seconds * 1e6 / lines, "us/line",
                  Better::kLower, Gate::kAbsolute,
                  what + "server CPU per line (target <= 1 with interval)");
      if (key_per_line_cpu_us_ > 0) {
        report->Set(name + "server_cpu_ratio_to_key_per_line",
                    key_per_line_cpu_us_ / (run->server_cpu_seconds * 1e6 / lines), "x",
                    Better::kHigher, Gate::kRatio,
                    what + "key-per-line CPU per line / collector CPU per line");
        report->SetTolerance(name + "server_cpu_ratio_to_key_per_line", 0.35);
      }
      if (parse_ack_cpu_us_ > 0) {
        report->Set(name + "server_cpu_ratio_to_parse_ack",
                    parse_ack_cpu_us_ / (run->server_cpu_seconds * 1e6 / lines), "x",
                    Better::kHigher, Gate::kRatio,
                    what + "parse-and-ack server CPU per entry / collector CPU per line");
        report->SetTolerance(name + "server_cpu_ratio_to_parse_ack", 0.5);
      }
    }
    return absl::OkStatus();
  }

  absl::Status CeilingPhase(Report* report) {
    absl::StatusOr<KeyPerLineResult> result =
        RunKeyPerLine(*fleet_, work_dir_ + "/key-per-line", 4'000'000, progress_);
    if (!result.ok()) return result.status();
    const double lines = static_cast<double>(result->lines);
    key_per_line_rate_ = lines / absl::ToDoubleSeconds(result->write_time);
    key_per_line_bytes_ = static_cast<double>(result->disk_bytes) / lines;
    report->Set("ceiling.key_per_line_lines_per_sec", key_per_line_rate_, "lines/s",
                Better::kHigher, Gate::kAbsolute,
                "plain RocksDB WriteBatch loop, one key per line (same run, same entries)");
    key_per_line_settled_rate_ = lines / absl::ToDoubleSeconds(result->write_and_settle_time);
    report->Set("ceiling.key_per_line_settled_lines_per_sec", key_per_line_settled_rate_, "lines/s",
                Better::kHigher, Gate::kAbsolute, "the same, counting flush and compactions");
    key_per_line_cpu_us_ = result->cpu_seconds * 1e6 / lines;
    report->Set("ceiling.key_per_line_cpu_us_per_line", key_per_line_cpu_us_, "us/line",
                Better::kLower, Gate::kAbsolute, "CPU of the loop and RocksDB");
    report->Set("ceiling.key_per_line_bytes_per_line", key_per_line_bytes_, "B/line",
                Better::kLower, Gate::kSize, "its SST bytes per line after full compaction");
    return absl::OkStatus();
  }

  absl::Status StartServer() {
    if (!flags_.server.empty()) {
      std::string token = flags_.admin_token;
      if (token.empty() && std::getenv("FIELDLOG_TOKEN") != nullptr) {
        token = std::getenv("FIELDLOG_TOKEN");
      }
      server_ = ServerUnderTest::External(flags_.server, token, flags_.server_pid);
    } else {
      const std::string binary =
          flags_.server_bin.empty() ? SelfDir() + "/fieldlog-server" : flags_.server_bin;
      std::vector<std::string> args = {"--sync", flags_.sync};
      args.insert(args.end(), flags_.server_args.begin(), flags_.server_args.end());
      absl::StatusOr<std::unique_ptr<ServerUnderTest>> server =
          ServerUnderTest::Spawn(binary, work_dir_ + "/server", args);
      if (!server.ok()) return server.status();
      server_ = *std::move(server);
    }
    absl::StatusOr<AppCredentials> app =
        server_->CreateApp(absl::StrCat("bench-", absl::ToUnixSeconds(absl::Now())));
    if (!app.ok()) return app.status();
    app_ = *std::move(app);
    return absl::OkStatus();
  }

  absl::Status IngestPhase(Report* report) {
    IngestPhaseOptions options;
    options.self_binary = SelfPath();
    options.server = server_->address();
    options.ingest_key = app_.ingest_key;
    options.server_pid = server_->pid();
    options.fleet = fleet_->spec();
    options.saturated_lines = static_cast<size_t>(flags_.lines_per_device);
    options.steady_load = flags_.steady_load;
    options.workers = flags_.workers;
    options.concurrent_devices =
        flags_.concurrent_devices > 0 ? flags_.concurrent_devices : flags_.devices;
    options.agents_dir = work_dir_ + "/agents";
    options.agent_compression = flags_.agent_compression;
    options.window = flags_.window;
    options.chunk = flags_.chunk;
    options.max_duration = absl::Seconds(flags_.max_seconds);
    options.progress = progress_;
    options.ack_probes = flags_.ack_probes;
    absl::StatusOr<IngestResult> result = RunIngestPhase(*fleet_, options);
    if (!result.ok()) return result.status();
    lines_ = result->acked;
    stored_lines_ = result->acked + result->probe_lines;
    if (!result->probe_error.empty()) problems_.push_back(result->probe_error);
    const IngestPart& full = result->saturated;
    const double seconds = absl::ToDoubleSeconds(full.elapsed);
    const double lines = static_cast<double>(std::max<uint64_t>(full.acked, 1));
    fieldlog_rate_ = lines / seconds;
    if (result->acked != fleet_->total_lines()) {
      problems_.push_back(absl::StrCat(
          result->acked, " of ", fleet_->total_lines(), " lines acknowledged",
          result->timed_out ? " (timed out)" : "",
          result->last_agent_error.empty() ? ""
                                           : absl::StrCat("; agent: ", result->last_agent_error)));
    }
    if (result->rejected > 0 || result->dropped > 0) {
      problems_.push_back(absl::StrCat(result->rejected, " lines rejected, ", result->dropped,
                                       " dropped: ", result->last_agent_error));
    }
    report->conditions()["ingest_seconds"] = seconds;
    report->conditions()["agent_reconnects"] = result->reconnects;
    report->conditions()["workers_threads_before_load"] = result->idle_threads;
    report->conditions()["workers_rss_mb_before_load"] =
        static_cast<double>(result->idle_rss_bytes) / (1 << 20);
    report->Set("ingest.lines_per_sec", fieldlog_rate_, "lines/s", Better::kHigher, Gate::kAbsolute,
                "full speed, end to end: agent -> gRPC -> collector -> RocksDB WAL -> ack");
    report->Set("ingest.mb_per_sec", fieldlog_rate_ * text_bytes_per_line_ / 1e6, "MB/s",
                Better::kHigher, Gate::kAbsolute, "of log text (tag + message)");
    if (key_per_line_rate_ > 0) {
      report->Set("ingest.ratio_to_key_per_line", fieldlog_rate_ / key_per_line_rate_, "x",
                  Better::kHigher, Gate::kRatio,
                  "ingest lines/s / same-run key-per-line RocksDB lines/s (target >= 6)");
    }
    if (parse_ack_rate_ > 0) {
      report->Set("ingest.ratio_to_parse_ack", fieldlog_rate_ / parse_ack_rate_, "x",
                  Better::kHigher, Gate::kRatio,
                  "ingest lines/s / same-run parse-and-ack entries/s (target >= 0.5)");
    }
    // Measured spread on the shared 2-core machine, three runs back to back:
    // the key-per-line ratio moved +-13%, the parse-and-ack one twofold (the
    // reference is a short burst, the most exposed to whatever else runs).
    report->SetTolerance("ingest.ratio_to_key_per_line", 0.35);
    report->SetTolerance("ingest.ratio_to_parse_ack", 0.5);
    if (result->server_cpu_seconds >= 0) {
      report->Set("ingest.server_cpu_us_per_line", result->server_cpu_seconds * 1e6 / lines,
                  "us/line", Better::kLower, Gate::kAbsolute,
                  "server CPU (/proc/<pid>/stat) per line = CPU seconds per million lines");
      // The same comparisons by CPU cost rather than wall-clock rate: what the
      // server spends per line, whoever else shares the cores (the simulated
      // devices do, in this benchmark; on a real fleet they do not).
      const double server_us = result->server_cpu_seconds * 1e6 / lines;
      if (key_per_line_cpu_us_ > 0 && server_us > 0) {
        report->Set("ingest.server_cpu_ratio_to_key_per_line", key_per_line_cpu_us_ / server_us,
                    "x", Better::kHigher, Gate::kRatio,
                    "key-per-line CPU per line / fieldlog server CPU per line");
        report->SetTolerance("ingest.server_cpu_ratio_to_key_per_line", 0.35);
      }
      if (parse_ack_cpu_us_ > 0 && server_us > 0) {
        report->Set("ingest.server_cpu_ratio_to_parse_ack", parse_ack_cpu_us_ / server_us, "x",
                    Better::kHigher, Gate::kRatio,
                    "parse-and-ack server CPU per entry / fieldlog server CPU per line");
        report->SetTolerance("ingest.server_cpu_ratio_to_parse_ack", 0.5);
      }
      report->Set("ingest.server_peak_rss_mb",
                  static_cast<double>(result->server_peak_rss_bytes) / (1 << 20), "MiB",
                  Better::kLower, Gate::kAbsolute, "server VmHWM at the end of the ingest");
    }
    report->Set("ingest.agents_cpu_us_per_line", full.workers_cpu_seconds * 1e6 / lines, "us/line",
                Better::kLower, Gate::kAbsolute,
                "CPU of the simulated devices (agents, gRPC client, driver) per line");
    report->Set("ingest.worker_peak_rss_mb",
                static_cast<double>(result->workers_peak_rss_bytes) / (1 << 20), "MiB",
                Better::kLower, Gate::kAbsolute, "largest bench worker VmHWM");
    report->Set("ingest.full_speed_log_to_ack_p50_ms", full.log_to_ack_us.Quantile(0.5) / 1e3, "ms",
                Better::kLower, Gate::kAbsolute,
                "Append() -> acknowledged at full speed: mostly the queue the load builds");
    if (result->steady.acked > 0) {
      const IngestPart& steady = result->steady;
      report->Set(
          "ingest.steady_lines_per_sec",
          static_cast<double>(steady.acked) / absl::ToDoubleSeconds(steady.elapsed), "lines/s",
          Better::kHigher, Gate::kAbsolute,
          absl::StrFormat("the steady part, asked for %s lines/s (%.0f%% of full speed)",
                          HumanNumber(result->steady_target_rate), flags_.steady_load * 100));
      if (result->ack_round_trip_us.count() > 0) {
        const Histogram& rtt = result->ack_round_trip_us;
        report->Set("ingest.ack_latency_p50_ms", rtt.Quantile(0.5) / 1e3, "ms", Better::kLower,
                    Gate::kAbsolute,
                    absl::StrCat("steady load: ", result->probe_batch_lines,
                                 "-line batch sent -> its Ack (", rtt.count(), " probes)"));
        report->Set("ingest.ack_latency_p99_ms", rtt.Quantile(0.99) / 1e3, "ms", Better::kLower,
                    Gate::kAbsolute, "");
        report->Set("ingest.ack_latency_p999_ms", rtt.Quantile(0.999) / 1e3, "ms", Better::kLower,
                    Gate::kAbsolute, "");
      }
      const double steady_lines = static_cast<double>(steady.acked + result->probe_lines);
      if (result->steady_server_cpu_seconds >= 0) {
        report->Set("ingest.steady_server_cpu_us_per_line",
                    result->steady_server_cpu_seconds * 1e6 / steady_lines, "us/line",
                    Better::kLower, Gate::kAbsolute,
                    "server CPU per line at the steady rate (agents send small batches)");
      }
      report->Set("ingest.steady_agents_cpu_us_per_line",
                  steady.workers_cpu_seconds * 1e6 / static_cast<double>(steady.acked), "us/line",
                  Better::kLower, Gate::kAbsolute, "");
      report->Set("ingest.log_to_ack_p50_ms", steady.log_to_ack_us.Quantile(0.5) / 1e3, "ms",
                  Better::kLower, Gate::kAbsolute,
                  "steady load: Append() -> the agent counts it acknowledged");
      report->Set("ingest.log_to_ack_p99_ms", steady.log_to_ack_us.Quantile(0.99) / 1e3, "ms",
                  Better::kLower, Gate::kAbsolute, "");
      report->Set("ingest.log_to_ack_p999_ms", steady.log_to_ack_us.Quantile(0.999) / 1e3, "ms",
                  Better::kLower, Gate::kAbsolute, "");
    }
    return absl::OkStatus();
  }

  absl::Status StoragePhase(Report* report) {
    if (absl::Status s = server_->Stop(); !s.ok()) return s;
    absl::StatusOr<StorageResult> result = CompactAndMeasure(server_->data_dir() + "/db");
    if (!result.ok()) return result.status();
    // Every line stored: the fleet's and the ack probes'.
    const double lines = static_cast<double>(std::max<uint64_t>(stored_lines_, 1));
    fieldlog_bytes_ = static_cast<double>(result->total_bytes) / lines;
    report->Set("storage.bytes_per_line", fieldlog_bytes_, "B/line", Better::kLower, Gate::kSize,
                "SST bytes of every column family per line, after full compaction");
    report->Set("storage.block_bytes_per_line", static_cast<double>(result->blocks_bytes) / lines,
                "B/line", Better::kLower, Gate::kSize, "of which block payloads");
    report->Set("storage.meta_and_index_bytes_per_line",
                static_cast<double>(result->meta_bytes + result->index_bytes) / lines, "B/line",
                Better::kLower, Gate::kSize,
                "of which block metas, devices, users and the time index");
    report->Set("storage.raw_text_bytes_per_line", text_bytes_per_line_, "B/line", Better::kLower,
                Gate::kSize, "the lines' text as logged (tag + message)");
    report->Set("storage.compression_ratio", text_bytes_per_line_ / fieldlog_bytes_, "x",
                Better::kHigher, Gate::kRatio, "raw text bytes / bytes on disk");
    if (key_per_line_bytes_ > 0) {
      report->Set("storage.ratio_to_key_per_line", fieldlog_bytes_ / key_per_line_bytes_, "x",
                  Better::kLower, Gate::kRatio, "bytes/line / key-per-line RocksDB bytes/line");
    }
    // Sizes follow from the seed and the format alone (three runs agreed
    // within 0.5%): a tenth is a real change.
    for (const char* size : {"storage.bytes_per_line", "storage.block_bytes_per_line",
                             "storage.raw_text_bytes_per_line", "storage.compression_ratio",
                             "storage.ratio_to_key_per_line"}) {
      report->SetTolerance(size, 0.1);
    }
    report->Set("storage.compaction_seconds", absl::ToDoubleSeconds(result->compaction_time), "s",
                Better::kLower, Gate::kAbsolute, "the full compaction");
    return server_->Restart();
  }

  absl::Status QueryPhase(Report* report) {
    QueryPhaseOptions options;
    options.address = server_->address();
    options.read_token = app_.read_token;
    options.app = app_.app;
    options.repeats = flags_.query_repeats;
    options.app_text = !flags_.no_app_text;
    options.progress = progress_;
    absl::StatusOr<QueryResult> result = RunQueryPhase(*fleet_, options);
    if (!result.ok()) return result.status();
    for (const std::string& p : result->problems) problems_.push_back(p);
    const auto ms = [](const Histogram& h, double q) { return h.Quantile(q) / 1e3; };
    report->Set("query.user_page_p50_ms", ms(result->user_page_us, 0.5), "ms", Better::kLower,
                Gate::kAbsolute, "a user's newest 500 lines, across her devices");
    report->Set("query.user_page_p99_ms", ms(result->user_page_us, 0.99), "ms", Better::kLower,
                Gate::kAbsolute, "");
    report->Set("query.device_page_p50_ms", ms(result->device_page_us, 0.5), "ms", Better::kLower,
                Gate::kAbsolute, "a device's newest 500 lines");
    report->Set("query.device_page_p99_ms", ms(result->device_page_us, 0.99), "ms", Better::kLower,
                Gate::kAbsolute, "");
    report->Set("query.device_day_lines_per_sec",
                static_cast<double>(result->device_day_lines) /
                    std::max(1e-9, absl::ToDoubleSeconds(result->device_day_time)),
                "lines/s", Better::kHigher, Gate::kAbsolute,
                "a device's whole day, oldest first, all pages");
    report->Set("query.device_day_p50_ms", ms(result->device_day_us, 0.5), "ms", Better::kLower,
                Gate::kAbsolute, "");
    report->Set("query.user_text_p50_ms", ms(result->user_text_us, 0.5), "ms", Better::kLower,
                Gate::kAbsolute, "rare text in a user's day (usually no match: full scan)");
    report->Set("query.user_text_p99_ms", ms(result->user_text_us, 0.99), "ms", Better::kLower,
                Gate::kAbsolute, "");
    if (!flags_.no_app_text) {
      report->Set("query.app_text_ms", absl::ToDoubleMilliseconds(result->app_text_time), "ms",
                  Better::kLower, Gate::kAbsolute,
                  absl::StrCat("rare text across the app (", result->app_text_method, "), ",
                               result->app_text_matches, " lines"));
    }
    return absl::OkStatus();
  }

  const Flags& flags_;
  bool progress_ = false;
  std::unique_ptr<Fleet> fleet_;
  std::vector<StreamPlan> plans_;  // see Plans()
  std::string work_dir_;
  bool owns_work_dir_ = false;
  std::unique_ptr<ServerUnderTest> server_;
  AppCredentials app_;
  double text_bytes_per_line_ = 0;
  double parse_ack_rate_ = 0;
  double key_per_line_settled_rate_ = 0;
  double key_per_line_rate_ = 0;
  double key_per_line_bytes_ = 0;
  double key_per_line_cpu_us_ = 0;
  double parse_ack_cpu_us_ = 0;
  double fieldlog_rate_ = 0;
  double fieldlog_bytes_ = 0;
  uint64_t lines_ = 0;
  uint64_t stored_lines_ = 0;
  std::vector<std::string> problems_;
};

void PrintReport(const Report& report) {
  const auto& c = report.conditions();
  std::cout << "\nfieldlog-bench";
  if (c.contains("commit")) {
    std::cout << " @ " << c["commit"].get<std::string>().substr(0, 12)
              << (c.value("commit_dirty", false) ? "+dirty" : "");
  }
  if (c.contains("cores")) std::cout << ", " << c["cores"] << " cores";
  if (c.contains("options")) {
    const auto& o = c["options"];
    std::cout << ", " << o.value("devices", 0) << " devices x " << o.value("lines_per_device", 0)
              << " lines, " << o.value("workers", 0) << " workers";
  }
  if (c.contains("load_average_at_start")) {
    std::cout << ", load " << c["load_average_at_start"][0].get<double>();
  }
  std::cout << "\n\n" << report.Table() << std::flush;
}

int Main(int argc, char** argv) {
  CLI::App app{"fieldlog-bench: end-to-end ingestion benchmark (agent -> gRPC -> RocksDB)"};
  app.require_subcommand(0, 1);
  Flags flags;
  app.add_option("--devices", flags.devices, "Simulated devices")->capture_default_str();
  app.add_option("--lines-per-device", flags.lines_per_device,
                 "Lines each device logs at full speed (throughput, CPU per line)")
      ->capture_default_str();
  app.add_option("--steady-lines", flags.steady_lines,
                 "Lines each device logs afterwards at a steady rate (latencies; 0: skip)")
      ->capture_default_str();
  app.add_option("--steady-load", flags.steady_load,
                 "The steady rate, as a fraction of the full-speed rate")
      ->capture_default_str();
  app.add_option("--seed", flags.seed, "Seed of the generated fleet")->capture_default_str();
  app.add_option("--rare-every", flags.rare_every,
                 "One line in about this many carries the rare-search token")
      ->capture_default_str();
  app.add_option("--workers", flags.workers,
                 "Bench worker processes running the agents (each one connection)")
      ->capture_default_str();
  app.add_option("--agent-compression", flags.agent_compression,
                 "The agents' upload compression: default (as the agent ships), zstd, gzip, none")
      ->check(CLI::IsMember({"default", "zstd", "gzip", "none"}))
      ->capture_default_str();
  app.add_option("--concurrent-devices", flags.concurrent_devices,
                 "Agents alive at once over all workers (0: all devices); fewer runs the "
                 "devices in waves")
      ->capture_default_str();
  app.add_option("--window", flags.window,
                 "Lines a device has logged but not had acknowledged (keep it within what "
                 "the agent buffers per logging thread, or lines are dropped)")
      ->capture_default_str();
  app.add_option("--chunk", flags.chunk, "Lines appended per visit to a device")
      ->capture_default_str();
  app.add_option("--ack-probes", flags.ack_probes,
                 "Probe streams timing batch -> Ack during the ingest (0: none)")
      ->capture_default_str();
  app.add_option("--max-seconds", flags.max_seconds, "Give up the ingest phase after this long")
      ->capture_default_str();
  app.add_option("--server", flags.server,
                 "Benchmark a running server (host:port) instead of starting one; storage is "
                 "then not measured");
  app.add_option("--admin-token", flags.admin_token,
                 "With --server: its admin token (default: $FIELDLOG_TOKEN)");
  app.add_option("--server-pid", flags.server_pid, "With --server: its pid, to read its CPU");
  app.add_option("--server-bin", flags.server_bin,
                 "fieldlog-server to start (default: next to fieldlog-bench)");
  app.add_option("--sync", flags.sync, "The started server's --sync policy")->capture_default_str();
  app.add_option("--server-arg", flags.server_args,
                 "An extra flag for the started server (repeat for more), e.g. "
                 "--server-arg=--ingest-threads=2");
  app.add_option("--work-dir", flags.work_dir,
                 "Where the server's data and scratch files go "
                 "(default: a new directory under $TMPDIR)");
  app.add_flag("--keep", flags.keep, "Keep the temporary work directory");
  app.add_flag("--no-parse-ack", flags.no_parse_ack, "Skip the parse-and-ack reference");
  app.add_flag("--no-ceiling", flags.no_ceiling, "Skip the key-per-line ceiling");
  app.add_flag("--no-collector", flags.no_collector,
               "Skip the collector phase (the server fed pre-encoded batches per --sync policy)");
  app.add_option("--collector-sync", flags.collector_sync,
                 "The --sync policies the collector phase measures, in order")
      ->check(CLI::IsMember({"none", "batch", "interval"}))
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--stream-lanes", flags.stream_lanes,
                 "Streams open at once in the parse-and-ack and collector phases")
      ->capture_default_str();
  app.add_flag("--no-storage", flags.no_storage, "Skip compaction and the storage figures");
  app.add_flag("--no-queries", flags.no_queries, "Skip the query phase");
  app.add_flag("--no-app-text", flags.no_app_text, "Skip the app-wide text search");
  app.add_option("--query-repeats", flags.query_repeats, "Queries of each kind")
      ->capture_default_str();
  app.add_option("--json", flags.json, "Write every figure, its unit and the conditions here");
  app.add_option("--compare", flags.compare,
                 "Compare with this baseline (e.g. benchmarks/baseline.json); exit 1 when a "
                 "gated figure is worse by more than the tolerance");
  app.add_option("--from-json", flags.from_json,
                 "Do not run: take the figures from this earlier --json output");
  app.add_option("--tolerance", flags.tolerance,
                 "Allowed change for --compare (0.25 = 25%) of figures without a tolerance of "
                 "their own in the baseline")
      ->capture_default_str();
  app.add_option("--gate", flags.gate,
                 "What --compare fails on: ratios (same-run ratios and sizes) or all")
      ->check(CLI::IsMember({"ratios", "all"}))
      ->capture_default_str();
  app.add_option("--progress", flags.progress, "Progress bar: auto (on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();

  WorkerOptions worker;
  int64_t max_seconds = 600;
  CLI::App* worker_cmd = app.add_subcommand("worker", "")->group("");
  worker_cmd->add_option("--server", worker.server)->required();
  worker_cmd->add_option("--key", worker.ingest_key)->required();
  worker_cmd->add_option("--seed", worker.fleet.seed);
  worker_cmd->add_option("--devices", worker.fleet.devices);
  worker_cmd->add_option("--lines-per-device", worker.fleet.lines_per_device);
  worker_cmd->add_option("--saturated-lines", worker.saturated_lines);
  worker_cmd->add_option("--start-us", worker.fleet.start_us);
  worker_cmd->add_option("--span-us", worker.fleet.span_us);
  worker_cmd->add_option("--rare-every", worker.fleet.rare_every);
  worker_cmd->add_option("--first-device", worker.first_device);
  worker_cmd->add_option("--end-device", worker.end_device);
  worker_cmd->add_option("--concurrent-devices", worker.concurrent_devices);
  worker_cmd->add_option("--window", worker.window);
  worker_cmd->add_option("--chunk", worker.chunk);
  worker_cmd->add_option("--max-seconds", max_seconds);
  worker_cmd->add_option("--agents-dir", worker.agents_dir);
  worker_cmd->add_option("--agent-compression", worker.agent_compression);

  std::string listen_file;
  CLI::App* parse_ack_cmd = app.add_subcommand("parse-ack-server", "")->group("");
  parse_ack_cmd->add_option("--listen-file", listen_file)->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (worker_cmd->parsed()) {
    worker.max_duration = absl::Seconds(max_seconds);
    return RunIngestWorker(worker);
  }
  if (parse_ack_cmd->parsed()) return ParseAckServerMain(listen_file);

  if (flags.devices < 1 || flags.lines_per_device < 1 || flags.steady_lines < 0 ||
      flags.workers < 1 || flags.chunk < 1 || flags.window < flags.chunk) {
    std::cerr << "fieldlog-bench: --devices, --lines-per-device, --workers and --chunk must be "
                 "positive, --steady-lines not negative, and --window at least --chunk\n";
    return kExitUsage;
  }

  Report report;
  int code = 0;
  if (!flags.from_json.empty()) {
    absl::StatusOr<Report> loaded = Report::ReadFile(flags.from_json);
    if (!loaded.ok()) {
      std::cerr << "fieldlog-bench: " << loaded.status().message() << "\n";
      return kExitUsage;
    }
    report = *std::move(loaded);
  } else {
    Run run(flags);
    code = run.Execute(&report);
  }
  PrintReport(report);
  if (!flags.json.empty() && flags.from_json.empty()) {
    if (absl::Status s = report.WriteFile(flags.json); !s.ok()) {
      std::cerr << "fieldlog-bench: " << s.message() << "\n";
      return kExitUsage;
    }
    std::cout << "\nwrote " << flags.json << "\n";
  }
  if (code != 0) return code;
  if (!flags.compare.empty()) {
    absl::StatusOr<Report> baseline = Report::ReadFile(flags.compare);
    if (!baseline.ok()) {
      std::cerr << "fieldlog-bench: " << baseline.status().message() << "\n";
      return kExitUsage;
    }
    CompareOptions options;
    options.tolerance = flags.tolerance;
    options.gate_all = flags.gate == "all";
    const Comparison comparison = Compare(*baseline, report, options);
    std::cout << "\ncompared with " << flags.compare << " (tolerance "
              << absl::StrFormat("%.0f%%", options.tolerance * 100) << ", gating "
              << (options.gate_all ? "every figure" : "same-run ratios and sizes") << ")\n\n"
              << comparison.table;
    for (const std::string& w : comparison.warnings) std::cout << "warning: " << w << "\n";
    for (const std::string& f : comparison.failures) std::cout << "REGRESSION: " << f << "\n";
    if (!comparison.ok()) return kExitRegression;
    std::cout << "no gated regression\n";
  }
  return 0;
}

}  // namespace
}  // namespace fieldlog::bench

int main(int argc, char** argv) {
  // A crash in any process of a run (coordinator or worker) prints where.
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler(absl::FailureSignalHandlerOptions());
  // As in fieldlog-server (server/main.cc): Debian's Abseil leaves its mutex
  // deadlock detector on, and its bookkeeping is CPU the simulated devices
  // would take from the server on the same cores.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return fieldlog::bench::Main(argc, argv);
}
