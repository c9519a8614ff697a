// agent_bench: what the agent costs the app, next to spdlog's async logger in
// the same run, and what one agent ships end to end.
//
//   agent_bench [--no-e2e]              the Google Benchmarks below, then
//                                       (unless --no-e2e) the end-to-end run
//                                       in a child process
//   agent_bench --e2e [zstd|gzip|none]  only the end-to-end run (pinned to CPU 0)
//                                       with that upload compression
//   agent_bench --offline [LINES]       an agent without a collector: CPU per
//                                       line and spool files below and at its
//                                       spool's cap (LINES: 1,000,000)
//
// BM_FieldlogLog / BM_SpdlogAsync: the caller's cost of one 100-byte line,
// with and without three attributes, at 1 and 4 threads. Lines are logged in
// bursts of 256; between bursts a thread waits while its logger is more than
// 8,000 lines behind, so both loggers are measured at their fast path rather
// than at a full queue (fieldlog would drop and count, spdlog's "block"
// policy would wait); the `dropped` counter shows fieldlog dropped nothing.
//
// How the time is taken, and why two ways. The clock is the TSC (rdtscp). On
// these virtual machines it advances in steps of 26 cycles (10 ns at 2.6 GHz;
// the run prints `tsc_step_ns`) and an empty rdtscp pair costs 1-2 steps, so
// timing every call on its own cannot resolve a 30-40 ns call: the median of
// single-call readings is a multiple of 10 ns, off by up to a step, and the
// per-call timer stalls the pipeline between calls. So:
// - p50_ns (and mean_ns) come from bursts timed in groups of 16 consecutive
//   calls, one rdtscp pair per group: the group's cycles minus the same run's
//   empty-pair median, divided by 16. p50_ns is the median of these per-call
//   group averages (resolution under 1 ns; a rare slow call inside a group
//   moves that group's average, not the median). mean_ns is all groups'
//   time over all their calls.
// - p99_ns and p999_ns come from the other bursts, each call timed alone
//   (minus the empty-pair median): tails are tens to hundreds of ns, where
//   a 10 ns step does not matter. Bursts alternate between the two modes.
// Percentiles are per thread, averaged over threads.
//
// End to end: fieldlog-server runs in its own process on CPU 1; this process
// (the app thread, the agent's background thread and gRPC's threads) is
// pinned to CPU 0. It logs 2,000,000 lines and waits until every one is
// acknowledged; it prints lines/s and the process's resident memory at rest
// (agent started, idle) and under load (peak), each beyond the same process
// before the agent started.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "agent/src/batch_compressor.h"
#include "agent/src/record.h"
#include "agent/src/ring_buffer.h"
#include "benchmarks/corpus.h"
#include "fieldlog/agent.h"
#include "fieldlog/v1/admin.grpc.pb.h"
#include "fieldlog/v1/ingest.pb.h"

namespace {

constexpr int kBurst = 256;
// 100 bytes, shaped like the loghub Android sample.
const std::string kMessage =
    "PhoneStatusBar: setSystemUiVisibility vis=0 mask=1 oldVal=40000 newVal=0 diff=1 fullscreen=tr";

std::string TempDirectory(const char* name) {
  std::string pattern = std::filesystem::temp_directory_path().string() + "/" + name + "-XXXXXX";
  return ::mkdtemp(pattern.data());
}

// TSC cycles to nanoseconds, the TSC's step and the cost of an empty
// measurement.
struct Tsc {
  double ns_per_cycle = 1;
  uint64_t overhead = 0;
  uint64_t step = 0;
  Tsc() {
    const auto t0 = std::chrono::steady_clock::now();
    const uint64_t c0 = __rdtsc();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const uint64_t c1 = __rdtsc();
    const auto t1 = std::chrono::steady_clock::now();
    ns_per_cycle = std::chrono::duration<double, std::nano>(t1 - t0).count() / (c1 - c0);
    std::vector<uint64_t> empty(100000);
    unsigned aux;
    for (auto& e : empty) {
      const uint64_t a = __rdtscp(&aux);
      e = __rdtscp(&aux) - a;
    }
    std::sort(empty.begin(), empty.end());
    overhead = empty[empty.size() / 2];
    step = *std::upper_bound(empty.begin(), empty.end(), uint64_t{0});
  }
};
const Tsc& tsc() {
  static const Tsc t;
  return t;
}

constexpr int kGroup = 16;  // calls per timed group (p50, mean)

// One thread's readings: single calls (for the tails) and groups of kGroup
// calls (for the median and the mean), in cycles including one empty pair.
struct Samples {
  std::vector<uint64_t> single, group;
  Samples() {
    single.reserve(1000 * kBurst);
    group.reserve(1000 * kBurst / kGroup);
  }
  // Times one burst of `log(i)` calls, alternating the two modes.
  template <typename F>
  void Burst(int burst, int* i, F&& log) {
    unsigned aux;
    if (burst % 2 == 0) {
      for (int k = 0; k < kBurst; ++k, ++*i) {
        const uint64_t t0 = __rdtscp(&aux);
        log(*i);
        const uint64_t t1 = __rdtscp(&aux);
        if (single.size() < single.capacity()) single.push_back(t1 - t0);
      }
    } else {
      for (int k = 0; k < kBurst; k += kGroup) {
        const uint64_t t0 = __rdtscp(&aux);
        for (int g = 0; g < kGroup; ++g, ++*i) log(*i);
        const uint64_t t1 = __rdtscp(&aux);
        if (group.size() < group.capacity()) group.push_back(t1 - t0);
      }
    }
  }
};

// The q-quantile of readings of `calls` calls each, in ns a call, the
// empty pair taken off. Sorts `v`; 0 when it is empty.
double PercentileNs(std::vector<uint64_t>& v, double q, double calls) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double c =
      static_cast<double>(v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]);
  return std::max(0.0, c - static_cast<double>(tsc().overhead)) / calls * tsc().ns_per_cycle;
}

double GroupMedianNs(Samples& s) { return PercentileNs(s.group, 0.50, kGroup); }

void ReportPercentiles(benchmark::State& state, Samples& s) {
  if (s.single.empty() || s.group.empty()) return;
  const double overhead = static_cast<double>(tsc().overhead);
  const auto ns = PercentileNs;
  double total = 0;
  for (uint64_t c : s.group) total += std::max(0.0, c - overhead);
  using benchmark::Counter;
  state.counters["p50_ns"] = Counter(ns(s.group, 0.50, kGroup), Counter::kAvgThreads);
  state.counters["mean_ns"] = Counter(
      total / (s.group.size() * kGroup) * tsc().ns_per_cycle, Counter::kAvgThreads);
  state.counters["p99_ns"] = Counter(ns(s.single, 0.99, 1), Counter::kAvgThreads);
  state.counters["p999_ns"] = Counter(ns(s.single, 0.999, 1), Counter::kAvgThreads);
}

// ---- fieldlog ----

fieldlog::Agent* fieldlog_agent = nullptr;

// Untimed bursts before a thread's measured ones: 120 x 256 lines pass
// through the whole of a 4 MiB ring at least once, so its pages are in
// memory (a thread's ring is touched as used: its first pass costs one page
// fault per 4 KiB, once per thread) and the code is warm. spdlog gets the
// same warm-up.
constexpr int kWarmBursts = 120;

void LetAgentKeepUp(fieldlog::Agent& agent) {
  // Let the background thread keep up (the caller's fast path is measured;
  // this wait is not in the percentiles).
  for (int w = 0; w < 1000; ++w) {
    const fieldlog::AgentStats s = agent.stats();
    if (s.logged - s.spooled < 8000) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// The same-run reference for BM_FieldlogLog: the record copy alone (the
// agent's WriteLine of the same line into a private 16 KiB ring, emptied at
// once), without the clock, the level check, the thread's ring lookup or a
// consumer. Its ring stays in the core's cache, so it also leaves out the
// cost of writing into lines that left it (RingBuffer::PrefetchForWrite).
// Log() minus this is what the agent adds around the copy. On these virtual
// machines both move between two levels together, for a second or more at a
// time (docs/agent.md, Performance): when they do, the machine moved, not the
// agent.
class RecordCopyReference {
 public:
  explicit RecordCopyReference(bool attributes) : attributes_(attributes) {}
  void operator()(int n) {
    const fieldlog::Attribute attributes[3] = {
        {"cart_items", n}, {"provider", "stripe"}, {"retry", true}};
    const fieldlog::agent::LineFields fields{static_cast<uint8_t>(fieldlog::Level::kInfo),
                                             0,
                                             1'795'000'000'000'000,
                                             0,
                                             "PhoneStatusBar",
                                             kMessage,
                                             nullptr,
                                             0,
                                             nullptr,
                                             attributes_ ? attributes : nullptr,
                                             attributes_ ? 3u : 0u};
    fieldlog::agent::WriteLine(&ring_, fields);
    size_t size = 0;
    ring_.Peek(&size);
    ring_.Release(size);
  }

 private:
  const bool attributes_;
  fieldlog::agent::RingBuffer ring_{16 * 1024};
};

void BM_FieldlogLog(benchmark::State& state) {
  const bool attributes = state.range(0) != 0;
  fieldlog::Agent& agent = *fieldlog_agent;
  const auto log = [&](int n) {
    if (attributes) {
      agent.Log(fieldlog::Level::kInfo, "PhoneStatusBar", kMessage,
                {{"cart_items", n}, {"provider", "stripe"}, {"retry", true}});
    } else {
      agent.Log(fieldlog::Level::kInfo, "PhoneStatusBar", kMessage);
    }
  };
  int i = 0, burst = 0;
  for (int w = 0; w < kWarmBursts; ++w) {
    for (int k = 0; k < kBurst; ++k) log(i++);
    LetAgentKeepUp(agent);
  }
  Samples samples, reference_samples;
  RecordCopyReference reference(attributes);
  int reference_calls = 0;
  const uint64_t dropped_before = agent.stats().dropped;
  for (auto _ : state) {
    samples.Burst(burst, &i, log);
    // The reference's bursts interleave with the measured ones: in both modes
    // (an odd burst number times groups), right after.
    reference_samples.Burst(burst | 1, &reference_calls, reference);
    ++burst;
    LetAgentKeepUp(agent);
  }
  ReportPercentiles(state, samples);
  state.counters["record_copy_p50_ns"] =
      benchmark::Counter(GroupMedianNs(reference_samples), benchmark::Counter::kAvgThreads);
  if (state.thread_index() == 0) {
    state.counters["dropped"] = static_cast<double>(agent.stats().dropped - dropped_before);
  }
}

// ---- spdlog async, the same lines to a file ----

std::shared_ptr<spdlog::async_logger> spdlog_logger;

void BM_SpdlogAsync(benchmark::State& state) {
  const bool attributes = state.range(0) != 0;
  spdlog::async_logger& logger = *spdlog_logger;
  const auto log = [&](int n) {
    if (attributes) {
      logger.info("{} cart_items={} provider={} retry={}", kMessage, n, "stripe", true);
    } else {
      logger.info(kMessage);
    }
  };
  const auto keep_up = [] {
    for (int w = 0; w < 1000 && spdlog::thread_pool()->queue_size() > 8000; ++w) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  };
  int i = 0, burst = 0;
  for (int w = 0; w < kWarmBursts; ++w) {
    for (int k = 0; k < kBurst; ++k) log(i++);
    keep_up();
  }
  Samples samples;
  for (auto _ : state) {
    samples.Burst(burst++, &i, log);
    keep_up();
  }
  ReportPercentiles(state, samples);
}

BENCHMARK(BM_FieldlogLog)
    ->ArgName("attributes")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(4)
    ->UseRealTime();
BENCHMARK(BM_SpdlogAsync)
    ->ArgName("attributes")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(4)
    ->UseRealTime();

// ---- end to end ----

double RssMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// BM_BatchCompression: what each upload compression costs the sender and
// saves the user's data plan, on one 512-line batch (the sender's default
// cut) of loghub-shaped lines: gzip as gRPC does it (zlib's default level, a
// fresh stream per message), and zstd at levels 1 to 9 through the agent's own
// BatchCompressor (5 is the agent's). Counters: bytes per line before and after, lines per
// second of one core.
std::string CorpusBatch(int lines) {
  fieldlog::bench::LineGenerator generator(7);
  fieldlog::v1::Batch batch;
  batch.set_batch_id(1);
  batch.set_session_id("0b7c6f5e-8a6d-4c1e-9a51-2f0e7d3c9b11");
  batch.set_user_id("alice@example.com");
  for (int i = 0; i < lines; ++i) {
    const fieldlog::bench::CorpusLine line = generator.Next();
    fieldlog::v1::Entry* e = batch.add_entries();
    e->set_seq(1000 + i);
    e->set_time_unix_micros(1'795'000'000'000'000 + 1500 * i);
    e->set_level(line.level);
    e->set_tag(line.tag);
    e->set_message(line.message);
  }
  return batch.SerializeAsString();
}

size_t Gzip(const std::string& in, std::string* out) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 | 16, 8, Z_DEFAULT_STRATEGY);
  out->resize(deflateBound(&zs, in.size()));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out->data());
  zs.avail_out = static_cast<uInt>(out->size());
  deflate(&zs, Z_FINISH);
  const size_t n = zs.total_out;
  deflateEnd(&zs);
  return n;
}

void BM_BatchCompression(benchmark::State& state) {
  constexpr int kBatchLines = 512;
  const std::string batch = CorpusBatch(kBatchLines);
  const int codec = static_cast<int>(state.range(0));  // 0: gzip, else the zstd level
  fieldlog::agent::BatchCompressor zstd(codec == 0 ? 1 : codec);
  std::string out;
  size_t compressed = 0;
  for (auto _ : state) {
    if (codec == 0) {
      compressed = Gzip(batch, &out);
      benchmark::DoNotOptimize(out.data());
    } else {
      const std::optional<std::string_view> frame = zstd.Compress("", batch);
      compressed = frame.has_value() ? frame->size() : 0;
      benchmark::DoNotOptimize(frame);
    }
  }
  state.SetLabel(codec == 0 ? "gzip, as gRPC" : "zstd level " + std::to_string(codec));
  state.counters["raw_bytes_per_line"] = static_cast<double>(batch.size()) / kBatchLines;
  state.counters["bytes_per_line"] = static_cast<double>(compressed) / kBatchLines;
  state.counters["lines_per_second"] =
      benchmark::Counter(kBatchLines, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_BatchCompression)->ArgName("codec")->Arg(0)->Arg(1)->Arg(3)->Arg(5)->Arg(9);

void Pin(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(pid, sizeof(set), &set);
}

std::string BinDir() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
}

int RunEndToEnd(fieldlog::Compression compression, const char* compression_name) {
  Pin(0, 0);
  const std::string data = TempDirectory("agent-bench-server");
  const std::string listen_file = data + "/listen";
  const pid_t server = fork();
  if (server == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    const std::string bin = BinDir() + "/fieldlog-server";
    // No per-device rate limit: one device at full speed is the point here.
    execl(bin.c_str(), bin.c_str(), "--data-dir", data.c_str(), "--grpc-listen", "127.0.0.1:0",
          "--listen-file", listen_file.c_str(), "--device-rate-limit", "0",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  Pin(server, 1);
  std::string address, admin_token;
  for (int i = 0; i < 300 && address.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream(listen_file) >> address;
  }
  std::ifstream(data + "/admin_token") >> admin_token;
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto admin = fieldlog::v1::AdminService::NewStub(channel);
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + admin_token);
  fieldlog::v1::CreateAppRequest request;
  request.set_name("bench");
  fieldlog::v1::CreateAppResponse app;
  if (!admin->CreateApp(&context, request, &app).ok()) {
    std::fprintf(stderr, "cannot create the app on %s\n", address.c_str());
    kill(server, SIGKILL);
    return 1;
  }

  const double rss_before = RssMiB();
  fieldlog::AgentOptions options;
  options.server = address;
  options.ingest_key = app.ingest_key();
  options.storage_dir = TempDirectory("agent-bench-spool");
  options.compression = compression;
  options.spool_max_bytes = 256 << 20;
  options.queue_bytes_per_thread = 4 << 20;
  options.batch_max_entries = 2048;
  options.batch_max_bytes = 1 << 20;
  options.max_batches_in_flight = 8;
  std::string error;
  auto agent = fieldlog::Agent::Start(options, &error);
  if (agent == nullptr) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  agent->Log(fieldlog::Level::kInfo, "Bench", "warm up");
  agent->Flush(std::chrono::seconds(10));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double rss_rest = RssMiB() - rss_before;

  std::atomic<bool> done{false};
  std::atomic<double> peak{0};
  std::thread sampler([&] {
    while (!done) {
      peak = std::max(peak.load(), RssMiB() - rss_before);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const char* lines_env = std::getenv("AGENT_BENCH_LINES");  // for quick runs
  const int kLines = lines_env != nullptr ? std::atoi(lines_env) : 2'000'000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kLines; ++i) {
    agent->Log(fieldlog::Level::kInfo, "PhoneStatusBar", kMessage, {{"i", i}});
    // One core: give the agent's threads their turn before the buffer fills.
    if (i % 4096 == 4095) {
      while (true) {
        const fieldlog::AgentStats s = agent->stats();
        // Past half the buffer the agent is woken; wait below the full mark.
        if (s.logged - s.spooled < 16384) break;
        sched_yield();
      }
    }
  }
  const bool flushed = agent->Flush(std::chrono::seconds(120));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done = true;
  sampler.join();
  const fieldlog::AgentStats stats = agent->stats();
  std::printf(
      "{\"e2e\": {\"compression\": \"%s\", \"lines\": %d, \"acknowledged\": %llu, \"dropped\": %llu, "
      "\"flushed\": %s, \"throttled\": %llu, \"seconds\": %.3f, \"lines_per_second\": %.0f, "
      "\"rss_at_rest_mib\": %.1f, \"rss_under_load_peak_mib\": %.1f, "
      "\"queue_mib\": %.1f}}\n",
      compression_name, kLines, static_cast<unsigned long long>(stats.acknowledged),
      static_cast<unsigned long long>(stats.dropped), flushed ? "true" : "false",
      static_cast<unsigned long long>(stats.throttled), seconds,
      stats.acknowledged / seconds, rss_rest, peak.load(),
      options.queue_bytes_per_thread / 1048576.0);
  agent.reset();
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  std::filesystem::remove_all(data);
  std::filesystem::remove_all(options.storage_dir);
  return flushed ? 0 : 1;
}

}  // namespace

// ---- offline, below and at the spool's cap ----

// An agent whose collector is nobody (its lines stay in the spool in `dir`),
// draining its queues every 10 ms; null (the error printed) when it cannot
// start.
std::unique_ptr<fieldlog::Agent> StartOfflineAgent(const std::string& dir, size_t spool_max_bytes,
                                                   size_t queue_bytes_per_thread) {
  fieldlog::AgentOptions options;
  options.server = "127.0.0.1:1";
  options.ingest_key = "fl_ik_bench";
  options.storage_dir = dir;
  options.spool_max_bytes = spool_max_bytes;
  options.spool_fsync = false;
  options.queue_bytes_per_thread = queue_bytes_per_thread;
  options.flush_interval = std::chrono::milliseconds(10);
  std::string error;
  std::unique_ptr<fieldlog::Agent> agent = fieldlog::Agent::Start(options, &error);
  if (agent == nullptr) std::fprintf(stderr, "%s\n", error.c_str());
  return agent;
}

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// An agent with no collector keeps its lines in its spool. Logs `lines` / 5
// lines (a quarter of them debug, with one attribute) to fill it, then
// measures the process's CPU over `lines` more (1,000,000 by default; fewer
// for the smoke run under ctest) until all are spooled: once with a cap the
// lines stay under (256 MiB) and once at the default cap (8 MiB), where every
// eighth of the cap logged makes the spool evict (debug first, then info,
// then the oldest). The app's thread waits while the agent is 500 lines
// behind, so nothing is dropped; CPU is the whole process's (the app thread
// and the agent's).
int RunOffline(int lines) {
  for (const size_t cap_mib : {size_t{256}, size_t{8}}) {
    const std::string dir = TempDirectory("agent-bench-offline");
    auto agent =
        StartOfflineAgent(dir, cap_mib << 20, fieldlog::AgentOptions().queue_bytes_per_thread);
    if (agent == nullptr) return 1;
    const auto log = [&](int lines) {
      for (int i = 0; i < lines; ++i) {
        agent->Log(i % 4 == 0 ? fieldlog::Level::kDebug : fieldlog::Level::kInfo, "PhoneStatusBar",
                   kMessage, {{"n", i}});
        if (i % 256 == 255) {
          for (int w = 0; w < 10000; ++w) {
            const fieldlog::AgentStats s = agent->stats();
            if (s.logged - s.spooled < 500) break;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
          }
        }
      }
      for (int w = 0; w < 100000 && agent->stats().spooled < agent->stats().logged; ++w) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    };
    log(lines / 5);
    const double cpu0 = ProcessCpuSeconds();
    log(lines);
    const double cpu = ProcessCpuSeconds() - cpu0;
    const fieldlog::AgentStats s = agent->stats();
    // Segment files, wherever under `dir` the agent keeps its spool.
    size_t spool_files = 0;
    for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
      spool_files += f.path().extension() == ".seg";
    }
    std::printf(
        "{\"offline\": {\"spool_cap_mib\": %zu, \"lines\": %d, \"cpu_ns_per_line\": %.0f, "
        "\"evicted\": %llu, \"dropped\": %llu, \"spool_mib\": %.1f, \"spool_files\": %zu}}\n",
        cap_mib, lines, cpu / lines * 1e9, static_cast<unsigned long long>(s.evicted),
        static_cast<unsigned long long>(s.dropped), static_cast<double>(s.spool_bytes) / 1048576.0,
        spool_files);
    std::fflush(stdout);
    agent.reset();
    std::filesystem::remove_all(dir);
  }
  return 0;
}

int main(int argc, char** argv) {
  // As an app built against a release Abseil runs: Debian's leaves the mutex
  // deadlock detector on, and its bookkeeping in the agent's threads is not
  // the agent's cost (docs/agent.md, Performance).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc > 1 && std::strcmp(argv[1], "--offline") == 0) {
    // agent_bench --offline [LINES]
    const int lines = argc > 2 ? std::atoi(argv[2]) : 1'000'000;
    if (lines < 5) {
      std::fprintf(stderr, "agent_bench --offline LINES: LINES must be at least 5\n");
      return 2;
    }
    return RunOffline(lines);
  }
  if (argc > 1 && std::strcmp(argv[1], "--e2e") == 0) {
    const std::string name = argc > 2 ? argv[2] : "zstd";
    if (name == "zstd") return RunEndToEnd(fieldlog::Compression::kZstd, "zstd");
    if (name == "gzip") return RunEndToEnd(fieldlog::Compression::kGzip, "gzip");
    if (name == "none") return RunEndToEnd(fieldlog::Compression::kNone, "none");
    std::fprintf(stderr, "--e2e takes zstd, gzip or none, not %s\n", name.c_str());
    return 2;
  }
  bool e2e = true;
  for (int a = 1; a < argc; ++a) {
    if (std::strcmp(argv[a], "--no-e2e") == 0) {
      e2e = false;
      std::copy(argv + a + 1, argv + argc + 1, argv + a);
      --argc;
      break;
    }
  }
  benchmark::AddCustomContext("tsc_step_ns", std::to_string(tsc().step * tsc().ns_per_cycle));
  benchmark::AddCustomContext("empty_rdtscp_pair_ns",
                              std::to_string(tsc().overhead * tsc().ns_per_cycle));
  const std::string spool = TempDirectory("agent-bench-log");
  // A 4 MiB queue: about 26,000 lines per thread.
  auto agent = StartOfflineAgent(spool, 256 << 20, 4 << 20);
  if (agent == nullptr) return 1;
  fieldlog_agent = agent.get();
  spdlog::init_thread_pool(1 << 20, 1);
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(spool + "/spdlog.log", true);
  spdlog_logger = std::make_shared<spdlog::async_logger>("bench", file, spdlog::thread_pool(),
                                                         spdlog::async_overflow_policy::block);

  // Abseil's clock (the agent's timestamps) calibrates itself against the
  // kernel's during about the first half second of a process, at about 50 ns
  // a call instead of 10 here; an app pays that once. Measure after it.
  for (const auto start = std::chrono::steady_clock::now();
       std::chrono::steady_clock::now() - start < std::chrono::seconds(2);) {
    for (int k = 0; k < kBurst; ++k) agent->Log(fieldlog::Level::kInfo, "Warm", kMessage);
    LetAgentKeepUp(*agent);
  }

  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  agent.reset();
  spdlog_logger.reset();
  spdlog::shutdown();
  std::filesystem::remove_all(spool);

  // The end-to-end runs, each in a child pinned to one core.
  if (!e2e) return 0;
  for (const char* mode : {"zstd", "gzip", "none"}) {
    const std::string command =
        "'" + std::filesystem::read_symlink("/proc/self/exe").string() + "' --e2e " + mode;
    std::fflush(stdout);
    if (std::system(command.c_str()) != 0) std::fprintf(stderr, "end-to-end run failed\n");
  }
  return 0;
}
