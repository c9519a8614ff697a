#include "benchmarks/ingest_worker.h"

#include <sys/resource.h>
#include <unistd.h>
#include <time.h>

#include <atomic>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "benchmarks/histogram.h"
#include "benchmarks/proc_stats.h"
#include "fieldlog/agent.h"
#include "nlohmann/json.hpp"

namespace fieldlog::bench {
namespace {

std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }

double CpuSecondsOfSelf() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// The agent as shipped, except what only makes sense on a real device: a
// thousand simulated devices share this machine's one disk, so a spool fsync
// per device every flush interval (which protects each phone's lines from a
// power cut, on its own flash) would measure the bench host's disk instead of
// fieldlog. Written against whichever agent version is built (the spool came
// with the agent rewrite, issue 3).
// --agent-compression sets the upload compression when asked to: on loopback
// it buys nothing and costs CPU on both ends, on a phone it saves mobile data.
template <typename Options>
void SimulationTuning(Options* options, const std::string& compression) {
  if constexpr (requires { options->spool_fsync; }) options->spool_fsync = false;
  if (compression == "zstd") options->compression = Compression::kZstd;
  if (compression == "gzip") options->compression = Compression::kGzip;
  if (compression == "none") options->compression = Compression::kNone;
}

// stdout is the protocol channel: one JSON object per line, whole lines only.
void Emit(const nlohmann::json& event) {
  static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  std::cout << event.dump() << std::endl;
}

// The harness's own hot locks (a slot per append and per poll, the latency
// histogram per acknowledged chunk) are std::mutex: Debian's Abseil is built
// with absl::Mutex deadlock detection on, a graph lookup per lock, and the
// harness must not add that to what the agents are measured to cost.
using HarnessMutex = std::mutex;
using HarnessLock = std::lock_guard<std::mutex>;

// One simulated device while it is active.
struct Slot {
  HarnessMutex mu;
  int device = -1;  // -1: empty
  std::unique_ptr<Agent> agent;  // guarded by mu
  GeneratedLines lines;  // owned by the driver thread
  size_t next = 0;       // lines appended (driver thread)
  // Lines resolved (acknowledged or rejected) per the agent's stats; written
  // by the poller, read by the driver.
  std::atomic<uint64_t> resolved{0};
  // Chunks appended and not yet acknowledged, oldest first.
  struct Chunk {
    uint64_t upto;     // lines appended to the device after this chunk
    uint64_t lines;    // lines in the chunk
    int64_t at_ns;     // when it was appended
  };
  std::deque<Chunk> chunks;  // guarded by mu
};

class Worker {
 public:
  explicit Worker(const WorkerOptions& options) : options_(options), fleet_(options.fleet) {
    const int devices = options_.end_device - options_.first_device;
    slots_ = std::vector<Slot>(
        static_cast<size_t>(std::max(1, std::min(devices, options_.concurrent_devices))));
    next_device_ = options_.first_device;
    waves_ = devices > options_.concurrent_devices;
    total_lines_ = static_cast<size_t>(options_.fleet.lines_per_device);
    // Devices in waves log everything at full speed; there is no steady part.
    saturated_lines_ = waves_ ? total_lines_ : std::min(total_lines_, options_.saturated_lines);
  }

  int Run() {
    // The first wave connects before the clock starts.
    for (Slot& slot : slots_) {
      if (!Activate(&slot)) return Fail(last_error_);
    }
    WaitConnected(absl::Seconds(3));
    // What the idle agents cost this process (a figure for choosing workers).
    const std::optional<ProcessUsage> idle = ReadProcessUsage(::getpid());
    Emit({{"event", "ready"},
          {"agents", options_.end_device - options_.first_device},
          {"threads", idle ? idle->threads : 0},
          {"rss_bytes", idle ? idle->rss_bytes : 0}});
    std::thread flusher([this] { RunFlusher(); });
    std::vector<std::thread> reapers;
    for (int i = 0; i < kReapers; ++i) reapers.emplace_back([this] { RunReaper(); });
    struct StopHelpers {
      Worker* worker;
      std::thread& flusher;
      std::vector<std::thread>& reapers;
      ~StopHelpers() {
        {
          absl::MutexLock lock(&worker->flush_mu_);
          worker->flusher_stop_ = true;
        }
        flusher.join();
        {
          absl::MutexLock lock(&worker->reap_mu_);
          worker->reapers_stop_ = true;
        }
        for (std::thread& t : reapers) t.join();
      }
    } stop_helpers{this, flusher, reapers};
    std::string command;
    if (!std::getline(std::cin, command) || command != "go") return 1;
    const absl::Time deadline = absl::Now() + options_.max_duration;

    // Part 1: every device logs its first lines as fast as the system takes
    // them.
    nlohmann::json saturated = RunPart(/*rate=*/0, deadline);
    saturated["event"] = "saturated";
    Emit(saturated);

    // Part 2, when the coordinator asks: the rest at a steady rate.
    if (!std::getline(std::cin, command)) return 1;
    double rate = 0;
    nlohmann::json done;
    absl::string_view request = command;
    if (absl::ConsumePrefix(&request, "steady ") && absl::SimpleAtod(request, &rate) && rate > 0 &&
        saturated_lines_ < total_lines_) {
      done = RunPart(rate, deadline);
    } else {
      done = Totals();
    }
    done["event"] = "done";
    Emit(done);
    for (Slot& slot : slots_) Retire(&slot);
    return 0;
  }

 private:
  int Fail(const std::string& message) {
    Emit({{"event", "error"}, {"message", message}});
    return 1;
  }

  // Runs one part: rate 0 logs lines [0, saturated_lines_) as fast as the
  // windows allow; rate > 0 logs the rest at `rate` lines/s over this
  // worker's devices. Returns the part's totals.
  nlohmann::json RunPart(double rate, absl::Time deadline) {
    {
      HarnessLock lock(stats_mu_);
      latency_ = Histogram();
    }
    stop_ = false;
    const int64_t start_ns = MonotonicNanos();
    last_ack_ns_ = start_ns;
    const double cpu_at_start = CpuSecondsOfSelf();
    // Each poll reads every agent's stats(), which takes the agent's locks
    // (with Debian's Abseil, a deadlock-detection graph lookup each; at 2 ms
    // the poller was a quarter of the workers' CPU at the steady rate): every
    // 10 ms at full speed, where only throughput counts, every 5 ms at the
    // steady rate, where log-to-ack times are hundreds of milliseconds.
    const absl::Duration poll_every = rate == 0 ? absl::Milliseconds(10) : absl::Milliseconds(5);
    std::thread poller([this, deadline, poll_every] { Poll(deadline, poll_every); });
    if (rate == 0) {
      Drive(saturated_lines_, deadline);
    } else {
      Pace(rate, deadline);
    }
    poller.join();
    nlohmann::json totals = Totals();
    totals["start_ns"] = start_ns;
    totals["last_ack_ns"] = last_ack_ns_.load();
    totals["cpu_seconds"] = CpuSecondsOfSelf() - cpu_at_start;
    totals["timed_out"] = absl::Now() >= deadline;
    HarnessLock lock(stats_mu_);
    totals["log_to_ack_us"] = latency_.ToJson();
    return totals;
  }

  // Starts the next device of this worker in `slot`; false on a bad option.
  bool Activate(Slot* slot) {
    if (next_device_ >= options_.end_device) return true;
    const int device = next_device_++;
    AgentOptions agent_options;
    agent_options.server = options_.server;
    agent_options.ingest_key = options_.ingest_key;
    agent_options.device_id = fleet_.DeviceId(device);
    agent_options.device_attributes = {{"device.model", device % 3 == 0 ? "Pixel 7" : "SM-A536B"},
                                       {"os.name", "Android"},
                                       {"os.version", device % 2 == 0 ? "14" : "13"},
                                       {"app.version", "4.12.0"}};
    if (!options_.agents_dir.empty()) {
      agent_options.storage_dir = absl::StrCat(options_.agents_dir, "/", device);
    }
    SimulationTuning(&agent_options, options_.agent_compression);
    std::string error;
    std::unique_ptr<Agent> agent = Agent::Start(agent_options, &error);
    if (agent == nullptr) {
      last_error_ = error;
      return false;
    }
    agent->SetUser(fleet_.UserId(fleet_.UserOf(device)));
    slot->lines = fleet_.Lines(device);
    slot->next = 0;
    slot->resolved = 0;
    HarnessLock lock(slot->mu);
    slot->device = device;
    slot->agent = std::move(agent);
    slot->chunks.clear();
    return true;
  }

  // Shuts the slot's agent down (its lines are all acknowledged by now).
  void Retire(Slot* slot) {
    std::unique_ptr<Agent> agent;
    {
      HarnessLock lock(slot->mu);
      agent = std::move(slot->agent);
      slot->device = -1;
    }
    if (agent == nullptr) return;
    const AgentStats stats = agent->stats();
    {
      HarnessLock lock(stats_mu_);
      retired_.logged += stats.logged;
      retired_.acknowledged += stats.acknowledged;
      retired_.rejected += stats.rejected;
      retired_.dropped += stats.dropped;
      retired_.reconnects += stats.reconnects;
      if (!stats.last_error.empty()) last_agent_error_ = stats.last_error;
    }
    // Shutdown waits for the stream to close; the reapers do it, so the
    // driver starts the next device at once.
    absl::MutexLock lock(&reap_mu_);
    reap_mu_.Await(absl::Condition(
        +[](Worker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->reap_mu_) {
          return w->reap_queue_.size() < kMaxReaping;
        },
        this));
    reap_queue_.push_back(std::move(agent));
  }

  // A reaper: shuts retired agents down and destroys them, until told to
  // stop and the queue is empty.
  void RunReaper() {
    for (;;) {
      std::unique_ptr<Agent> agent;
      {
        absl::MutexLock lock(&reap_mu_);
        reap_mu_.Await(absl::Condition(
            +[](Worker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->reap_mu_) {
              return !w->reap_queue_.empty() || w->reapers_stop_;
            },
            this));
        if (reap_queue_.empty()) return;
        agent = std::move(reap_queue_.front());
        reap_queue_.pop_front();
      }
      agent->Shutdown(std::chrono::seconds(2));
      agent.reset();
    }
  }

  // Waits (up to `timeout`) for agents that connect as soon as they start,
  // so connection setup stays out of the measured time. An agent that
  // connects only once it has lines to send (the spooling agent does) connects
  // inside the measured time, as it would in the field.
  void WaitConnected(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      bool all = true;
      for (Slot& slot : slots_) {
        HarnessLock lock(slot.mu);
        if (slot.agent != nullptr && !slot.agent->stats().connected) {
          all = false;
          break;
        }
      }
      if (all) return;
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

  // Flush() may wait for the agent's spool, so the driver hands it to this
  // thread instead of stalling the other devices.
  void RunFlusher() {
    for (;;) {
      Slot* slot = nullptr;
      {
        absl::MutexLock lock(&flush_mu_);
        flush_mu_.Await(absl::Condition(
            +[](Worker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->flush_mu_) {
              return !w->flush_queue_.empty() || w->flusher_stop_;
            },
            this));
        if (flush_queue_.empty()) return;
        slot = flush_queue_.front();
        flush_queue_.pop_front();
      }
      HarnessLock lock(slot->mu);
      // Zero timeout: asks the agent to send its partial batch now rather
      // than when it is a batch age old, without waiting for the ack.
      if (slot->agent != nullptr) slot->agent->Flush(std::chrono::milliseconds(0));
    }
  }

  // Appends lines [slot.next, end) to the slot's agent and remembers them as
  // one chunk; asks the agent to send at once when they are its last.
  void AppendChunk(Slot& slot, size_t end, size_t part_end) {
    HarnessLock lock(slot.mu);
    for (size_t i = slot.next; i < end; ++i) {
      const LineView line = slot.lines[i];
      EntryFields fields;
      fields.level = static_cast<Level>(line.level);
      fields.tag = ToStd(line.tag);
      fields.message = ToStd(line.message);
      fields.time_unix_micros = line.time_us;
      slot.agent->Append(fields);
    }
    slot.chunks.push_back({end, end - slot.next, MonotonicNanos()});
    slot.next = end;
    if (end == part_end) {
      absl::MutexLock flush_lock(&flush_mu_);
      flush_queue_.push_back(&slot);
    }
  }

  // Part 1's driver: visits the active devices in turn and appends a chunk
  // to each one whose window has room, until every device has `part_end`
  // lines acknowledged.
  void Drive(size_t part_end, absl::Time deadline) {
    while (absl::Now() < deadline) {
      bool progressed = false, pending = false;
      for (Slot& slot : slots_) {
        if (slot.device < 0) continue;
        const uint64_t resolved = slot.resolved.load(std::memory_order_acquire);
        if (resolved >= part_end) {
          if (waves_) {
            // Its turn is over: the next device of the worker takes the slot.
            Retire(&slot);
            if (!Activate(&slot)) Emit({{"event", "error"}, {"message", last_error_}});
            progressed = true;
            pending = pending || slot.device >= 0;
          }
          continue;
        }
        pending = true;
        if (slot.next >= part_end) continue;
        if (slot.next - resolved + options_.chunk > options_.window) continue;
        AppendChunk(slot, std::min(part_end, slot.next + options_.chunk), part_end);
        progressed = true;
      }
      if (!pending) break;
      // Nothing had room: give the cores to the agents and the server.
      if (!progressed) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    stop_ = true;
  }

  // Part 2's driver: every device logs its remaining lines at an equal share
  // of `rate`, until all are acknowledged. Devices start at staggered times
  // within a second: in a fleet they are independent, and starting together
  // would line their agents' batch ages up into a burst every second.
  void Pace(double rate, absl::Time deadline) {
    size_t active = 0;
    for (Slot& slot : slots_) active += slot.device >= 0 ? 1 : 0;
    const double per_device = rate / static_cast<double>(std::max<size_t>(active, 1));
    const size_t first = saturated_lines_;
    const int64_t start_ns = MonotonicNanos();
    while (absl::Now() < deadline) {
      const int64_t now_ns = MonotonicNanos();
      bool pending = false;
      for (Slot& slot : slots_) {
        if (slot.device < 0) continue;
        if (slot.resolved.load(std::memory_order_acquire) < total_lines_) pending = true;
        const int64_t offset_ns = static_cast<int64_t>(Mix(slot.device) % 1'000'000'000);
        const double seconds = static_cast<double>(now_ns - start_ns - offset_ns) / 1e9;
        if (seconds <= 0) continue;
        const size_t due =
            std::min(total_lines_, first + 1 + static_cast<size_t>(per_device * seconds));
        if (slot.next < due) AppendChunk(slot, due, total_lines_);
      }
      if (!pending) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stop_ = true;
  }

  // The poller: every `every`, reads each agent's acknowledged count, turns
  // acknowledged chunks into latency samples and reports progress.
  void Poll(absl::Time deadline, absl::Duration every) {
    absl::Time next_progress = absl::Now();
    while (!stop_ && absl::Now() < deadline) {
      const int64_t now = MonotonicNanos();
      for (Slot& slot : slots_) {
        HarnessLock lock(slot.mu);
        if (slot.agent == nullptr) continue;
        const AgentStats stats = slot.agent->stats();
        // Dropped lines (an agent's buffer was full) will never be
        // acknowledged: they count as resolved so the run ends, and the
        // coordinator reports them as a problem.
        const uint64_t resolved = stats.acknowledged + stats.rejected + stats.dropped;
        if (resolved > slot.resolved.load(std::memory_order_relaxed)) {
          last_ack_ns_ = now;
          while (!slot.chunks.empty() && slot.chunks.front().upto <= resolved) {
            const Slot::Chunk chunk = slot.chunks.front();
            slot.chunks.pop_front();
            HarnessLock stats_lock(stats_mu_);
            latency_.Add(static_cast<double>(now - chunk.at_ns) / 1e3, chunk.lines);
          }
          slot.resolved.store(resolved, std::memory_order_release);
        }
      }
      if (absl::Now() >= next_progress) {
        nlohmann::json progress = Totals();
        progress["event"] = "progress";
        Emit(progress);
        next_progress = absl::Now() + absl::Milliseconds(200);
      }
      absl::SleepFor(every);
    }
  }

  nlohmann::json Totals() {
    AgentStats sum;
    for (Slot& slot : slots_) {
      HarnessLock lock(slot.mu);
      if (slot.agent == nullptr) continue;
      const AgentStats s = slot.agent->stats();
      sum.logged += s.logged;
      sum.acknowledged += s.acknowledged;
      sum.rejected += s.rejected;
      sum.dropped += s.dropped;
      sum.reconnects += s.reconnects;
      if (!s.last_error.empty()) sum.last_error = s.last_error;
    }
    HarnessLock lock(stats_mu_);
    nlohmann::json totals = {{"logged", sum.logged + retired_.logged},
                             {"acked", sum.acknowledged + retired_.acknowledged},
                             {"rejected", sum.rejected + retired_.rejected},
                             {"dropped", sum.dropped + retired_.dropped},
                             {"reconnects", sum.reconnects + retired_.reconnects}};
    const std::string& error = sum.last_error.empty() ? last_agent_error_ : sum.last_error;
    if (!error.empty()) totals["last_error"] = error;
    return totals;
  }

  const WorkerOptions options_;
  const Fleet fleet_;
  std::vector<Slot> slots_;
  int next_device_ = 0;
  bool waves_ = false;
  size_t total_lines_ = 0;
  size_t saturated_lines_ = 0;
  std::string last_error_;
  std::atomic<int64_t> last_ack_ns_{0};
  std::atomic<bool> stop_{false};

  // Retired agents waiting for a reaper; Retire blocks past kMaxReaping.
  static constexpr int kReapers = 4;
  static constexpr size_t kMaxReaping = 256;
  absl::Mutex reap_mu_;
  std::deque<std::unique_ptr<Agent>> reap_queue_ ABSL_GUARDED_BY(reap_mu_);
  bool reapers_stop_ ABSL_GUARDED_BY(reap_mu_) = false;

  absl::Mutex flush_mu_;
  std::deque<Slot*> flush_queue_ ABSL_GUARDED_BY(flush_mu_);
  bool flusher_stop_ ABSL_GUARDED_BY(flush_mu_) = false;

  HarnessMutex stats_mu_;
  // Guarded by stats_mu_:
  Histogram latency_;
  AgentStats retired_;
  std::string last_agent_error_;
};

}  // namespace

int64_t MonotonicNanos() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int RunIngestWorker(const WorkerOptions& options) {
  Worker worker(options);
  return worker.Run();
}

}  // namespace fieldlog::bench
