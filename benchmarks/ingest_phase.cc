#include "benchmarks/ingest_phase.h"

#include <signal.h>

#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "benchmarks/ack_probe.h"
#include "benchmarks/ingest_worker.h"
#include "benchmarks/proc_stats.h"
#include "benchmarks/progress.h"
#include "benchmarks/report.h"
#include "benchmarks/subprocess.h"
#include "nlohmann/json.hpp"

namespace fieldlog::bench {
namespace {

struct WorkerState {
  std::unique_ptr<Subprocess> process;
  int devices = 0;
  // Written by the worker's follower thread, under the phase's mutex.
  nlohmann::json last_progress = nlohmann::json::object();
  nlohmann::json saturated;  // null until the worker finished part 1
  nlohmann::json done;       // null until it finished part 2
  std::string error;
  uint64_t peak_rss = 0;
  int idle_threads = 0;     // with its agents started, before the load
  uint64_t idle_rss = 0;
};

std::vector<std::string> WorkerArgv(const IngestPhaseOptions& o, int first, int end,
                                    int concurrent) {
  const FleetSpec& f = o.fleet;
  return {o.self_binary,
          "worker",
          "--server", o.server,
          "--key", o.ingest_key,
          "--seed", absl::StrCat(f.seed),
          "--devices", absl::StrCat(f.devices),
          "--lines-per-device", absl::StrCat(f.lines_per_device),
          "--saturated-lines", absl::StrCat(o.saturated_lines),
          "--start-us", absl::StrCat(f.start_us),
          "--span-us", absl::StrCat(f.span_us),
          "--rare-every", absl::StrCat(f.rare_every),
          "--first-device", absl::StrCat(first),
          "--end-device", absl::StrCat(end),
          "--concurrent-devices", absl::StrCat(concurrent),
          "--window", absl::StrCat(o.window),
          "--chunk", absl::StrCat(o.chunk),
          "--max-seconds", absl::StrCat(absl::ToInt64Seconds(o.max_duration)),
          "--agents-dir", o.agents_dir,
          "--agent-compression", o.agent_compression};
}

// Reads one worker's events until it is done, failed or gone.
void Follow(WorkerState* worker, absl::Mutex* mu, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::optional<std::string> line = worker->process->ReadLine(absl::Seconds(1));
    if (std::optional<ProcessUsage> usage = ReadProcessUsage(worker->process->pid())) {
      absl::MutexLock lock(mu);
      worker->peak_rss = std::max(worker->peak_rss, usage->peak_rss_bytes);
    }
    if (!line) {
      if (std::optional<int> code = worker->process->Wait(absl::ZeroDuration())) {
        absl::MutexLock lock(mu);
        worker->error = absl::StrCat("the worker exited (", *code, ") before it was done");
        return;
      }
      continue;
    }
    nlohmann::json event = nlohmann::json::parse(*line, nullptr, false);
    if (!event.is_object()) continue;
    absl::MutexLock lock(mu);
    const std::string kind = event.value("event", "");
    if (kind == "progress") {
      worker->last_progress = event;
    } else if (kind == "saturated") {
      worker->saturated = event;
      worker->last_progress = event;
    } else if (kind == "done") {
      worker->done = event;
      worker->last_progress = event;
      return;
    } else if (kind == "error") {
      worker->error = event.value("message", "unknown error");
      return;
    }
  }
  absl::MutexLock lock(mu);
  if (worker->done.is_null() && worker->error.empty()) {
    worker->error = "the worker stopped answering before it was done";
  }
}

IngestPart PartOf(const std::vector<WorkerState>& states, const nlohmann::json WorkerState::*part,
                  int64_t start_ns, uint64_t acked_before) {
  IngestPart p;
  int64_t last_ack_ns = start_ns;
  uint64_t acked = 0;
  for (const WorkerState& w : states) {
    const nlohmann::json& j = w.*part;
    acked += j.value("acked", uint64_t{0});
    p.workers_cpu_seconds += j.value("cpu_seconds", 0.0);
    last_ack_ns = std::max(last_ack_ns, j.value("last_ack_ns", int64_t{0}));
    p.log_to_ack_us.Merge(Histogram::FromJson(j.value("log_to_ack_us", nlohmann::json{})));
  }
  p.acked = acked - acked_before;
  p.elapsed = absl::Nanoseconds(last_ack_ns - start_ns);
  return p;
}

// Waits until every worker has `part` (or failed), drawing the progress bar.
absl::Status AwaitPart(std::vector<WorkerState>& states, absl::Mutex& mu,
                       const nlohmann::json WorkerState::*part, ProgressBar& bar,
                       uint64_t acked_before, int64_t start_ns) {
  for (;;) {
    uint64_t acked = 0;
    bool all = true;
    {
      absl::MutexLock lock(&mu);
      for (const WorkerState& w : states) {
        if (!w.error.empty()) return absl::UnavailableError(absl::StrCat("bench worker: ", w.error));
        acked += w.last_progress.value("acked", uint64_t{0});
        all = all && !(w.*part).is_null();
      }
    }
    const uint64_t part_acked = acked - std::min(acked, acked_before);
    const double seconds = static_cast<double>(MonotonicNanos() - start_ns) / 1e9;
    bar.Update(part_acked, absl::StrFormat("%s lines acknowledged, %s lines/s",
                                           HumanNumber(part_acked),
                                           HumanNumber(part_acked / std::max(seconds, 1e-3))));
    if (all) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(100));
  }
}

}  // namespace

absl::StatusOr<IngestResult> RunIngestPhase(const Fleet& fleet,
                                            const IngestPhaseOptions& options) {
  const int devices = options.fleet.devices;
  const int workers = std::max(1, std::min(options.workers, devices));
  std::vector<WorkerState> states(static_cast<size_t>(workers));
  for (int w = 0; w < workers; ++w) {
    const int first = static_cast<int>(static_cast<int64_t>(devices) * w / workers);
    const int end = static_cast<int>(static_cast<int64_t>(devices) * (w + 1) / workers);
    const int concurrent = std::max(1, (options.concurrent_devices + workers - 1) / workers);
    SubprocessOptions process;
    process.argv = WorkerArgv(options, first, end, concurrent);
    process.pipe_stdin = true;
    process.pipe_stdout = true;
    absl::StatusOr<std::unique_ptr<Subprocess>> started = Subprocess::Start(process);
    if (!started.ok()) return started.status();
    states[w].process = *std::move(started);
    states[w].devices = end - first;
  }
  for (WorkerState& w : states) {
    for (;;) {
      std::optional<std::string> line = w.process->ReadLine(absl::Seconds(120));
      if (!line) return absl::UnavailableError("a bench worker did not get ready within 2 minutes");
      nlohmann::json event = nlohmann::json::parse(*line, nullptr, false);
      if (!event.is_object()) continue;
      if (event.value("event", "") == "ready") {
        w.idle_threads = event.value("threads", 0);
        w.idle_rss = event.value("rss_bytes", uint64_t{0});
        break;
      }
      if (event.value("event", "") == "error") {
        return absl::UnavailableError(absl::StrCat("bench worker: ", event.value("message", "")));
      }
    }
  }

  IngestResult result;
  absl::Mutex mu;
  const std::optional<ProcessUsage> server_before =
      options.server_pid > 0 ? ReadProcessUsage(options.server_pid) : std::nullopt;
  const int64_t go_ns = MonotonicNanos();
  for (WorkerState& w : states) w.process->WriteLine("go");
  std::vector<std::thread> followers;
  const absl::Duration follow_timeout = options.max_duration + absl::Minutes(2);
  for (WorkerState& w : states) {
    followers.emplace_back([&w, &mu, follow_timeout] { Follow(&w, &mu, follow_timeout); });
  }
  // However this ends, the followers are joined and the workers stopped.
  struct Cleanup {
    std::vector<WorkerState>& states;
    std::vector<std::thread>& followers;
    bool finished = false;
    ~Cleanup() {
      for (WorkerState& w : states) {
        w.process->CloseStdin();
        // A failed run does not wait for the others to finish their load.
        if (!finished) w.process->Stop(SIGKILL, absl::Seconds(5));
      }
      for (std::thread& t : followers) t.join();
      for (WorkerState& w : states) w.process->Wait(absl::Seconds(30));
    }
  } cleanup{states, followers};

  const uint64_t part1_lines = static_cast<uint64_t>(devices) *
                               std::min<uint64_t>(options.saturated_lines,
                                                  options.fleet.lines_per_device);
  {
    ProgressBar bar("ingest", part1_lines, options.progress);
    if (absl::Status s = AwaitPart(states, mu, &WorkerState::saturated, bar, 0, go_ns); !s.ok()) {
      return s;
    }
    absl::MutexLock lock(&mu);
    result.saturated = PartOf(states, &WorkerState::saturated, go_ns, 0);
    bar.Finish(absl::StrFormat("%s lines in %.1f s, %s lines/s", HumanNumber(result.saturated.acked),
                               absl::ToDoubleSeconds(result.saturated.elapsed),
                               HumanNumber(result.saturated.acked /
                                           absl::ToDoubleSeconds(result.saturated.elapsed))));
  }
  std::optional<ProcessUsage> server_after_part1;
  if (options.server_pid > 0) {
    server_after_part1 = ReadProcessUsage(options.server_pid);
    if (server_before && server_after_part1) {
      result.server_cpu_seconds =
          absl::ToDoubleSeconds(server_after_part1->cpu - server_before->cpu);
    }
  }

  // Part 2 at a fraction of part 1's rate, shared by the workers by devices.
  const uint64_t part2_lines = fleet.total_lines() - std::min(fleet.total_lines(), part1_lines);
  const bool waves = options.concurrent_devices < devices;
  const double rate = static_cast<double>(result.saturated.acked) /
                      std::max(1e-9, absl::ToDoubleSeconds(result.saturated.elapsed));
  if (part2_lines > 0 && !waves && options.steady_load > 0) {
    result.steady_target_rate = rate * options.steady_load;
    std::unique_ptr<AckProbe> probe;
    if (options.ack_probes > 0) {
      AckProbeOptions probe_options;
      probe_options.address = options.server;
      probe_options.ingest_key = options.ingest_key;
      probe_options.probes = options.ack_probes;
      probe = std::make_unique<AckProbe>(fleet, probe_options);
      result.probe_batch_lines = probe_options.batch_lines;
    }
    const int64_t steady_ns = MonotonicNanos();
    for (WorkerState& w : states) {
      w.process->WriteLine(absl::StrFormat(
          "steady %.1f", result.steady_target_rate * w.devices / static_cast<double>(devices)));
    }
    ProgressBar bar("steady", part2_lines, options.progress);
    if (absl::Status s = AwaitPart(states, mu, &WorkerState::done, bar, result.saturated.acked,
                                   steady_ns);
        !s.ok()) {
      return s;
    }
    if (options.server_pid > 0) {
      const std::optional<ProcessUsage> server_after = ReadProcessUsage(options.server_pid);
      if (server_after_part1 && server_after) {
        result.steady_server_cpu_seconds =
            absl::ToDoubleSeconds(server_after->cpu - server_after_part1->cpu);
      }
    }
    if (probe != nullptr) {
      result.ack_round_trip_us = probe->Stop();
      result.probe_lines = probe->lines();
      result.probe_error = probe->error();
    }
    absl::MutexLock lock(&mu);
    result.steady = PartOf(states, &WorkerState::done, steady_ns, result.saturated.acked);
    bar.Finish(absl::StrFormat("%s lines in %.1f s at %s lines/s asked", HumanNumber(result.steady.acked),
                               absl::ToDoubleSeconds(result.steady.elapsed),
                               HumanNumber(result.steady_target_rate)));
  } else {
    for (WorkerState& w : states) w.process->WriteLine("end");
    ProgressBar bar("finish", 1, false);
    if (absl::Status s = AwaitPart(states, mu, &WorkerState::done, bar, 0, go_ns); !s.ok()) {
      return s;
    }
  }

  if (options.server_pid > 0) {
    if (std::optional<ProcessUsage> usage = ReadProcessUsage(options.server_pid)) {
      result.server_peak_rss_bytes = usage->peak_rss_bytes;
    }
  }
  cleanup.finished = true;
  absl::MutexLock lock(&mu);
  for (const WorkerState& w : states) {
    const nlohmann::json& d = w.done;
    result.logged += d.value("logged", uint64_t{0});
    result.acked += d.value("acked", uint64_t{0});
    result.rejected += d.value("rejected", uint64_t{0});
    result.dropped += d.value("dropped", uint64_t{0});
    result.reconnects += d.value("reconnects", uint64_t{0});
    if (d.contains("last_error")) result.last_agent_error = d["last_error"].get<std::string>();
    result.workers_peak_rss_bytes = std::max(result.workers_peak_rss_bytes, w.peak_rss);
    result.idle_threads += w.idle_threads;
    result.idle_rss_bytes += w.idle_rss;
    result.timed_out = result.timed_out || d.value("timed_out", false) ||
                       w.saturated.value("timed_out", false);
  }
  return result;
}

}  // namespace fieldlog::bench
