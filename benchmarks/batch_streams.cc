#include "benchmarks/batch_streams.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "benchmarks/progress.h"
#include "benchmarks/report.h"
#include "common/limits.h"
#include "fieldlog/v1/ingest.pb.h"

namespace fieldlog::bench {
namespace {

constexpr char kStreamMethod[] = "/fieldlog.v1.IngestService/Stream";

double CpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

grpc::ByteBuffer ToByteBuffer(const v1::IngestRequest& request) {
  const std::string bytes = request.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

struct Totals {
  std::atomic<uint64_t> acked_entries{0};
  std::atomic<uint64_t> rejected_entries{0};
  std::atomic<uint64_t> acked_bytes{0};
};

// The lanes whose stream has ended, for the driver to reuse.
class FinishedLanes {
 public:
  void Push(int lane) {
    absl::MutexLock lock(&mu_);
    lanes_.push_back(lane);
  }
  // Waits up to `timeout` for at least one; returns and clears them.
  std::vector<int> Take(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &FinishedLanes::AnyLocked), timeout);
    std::vector<int> lanes;
    lanes.swap(lanes_);
    return lanes;
  }

 private:
  bool AnyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !lanes_.empty(); }

  absl::Mutex mu_;
  std::vector<int> lanes_ ABSL_GUARDED_BY(mu_);
};

// One plan's stream: the hello, then the batches with `in_flight` of them
// unacknowledged at most; half-closes when the last one is acknowledged.
// Its owner destroys it only after OnDone has reported the lane finished,
// which is OnDone's last access to the object.
class PlanStream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  PlanStream(grpc::GenericStub* stub, const StreamPlan* plan, const std::string& ingest_key,
             int in_flight, int lane, Totals* totals, FinishedLanes* finished)
      : plan_(plan), in_flight_(in_flight), lane_(lane), totals_(totals), finished_(finished) {
    if (!ingest_key.empty()) context_.AddMetadata("authorization", "Bearer " + ingest_key);
    stub->PrepareBidiStreamingCall(&context_, kStreamMethod, grpc::StubOptions(), this);
  }

  void Start() {
    AddHold();
    {
      absl::MutexLock lock(&mu_);
      queue_.push_back(plan_->hello);
      for (int i = 0; i < in_flight_ && sent_ < plan_->batches.size(); ++i) QueueBatchLocked();
      closing_ = plan_->batches.empty();
      WriteNextLocked();
    }
    StartRead(&response_);
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      ReleaseLocked();
      return;
    }
    queue_.pop_front();
    WriteNextLocked();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::MutexLock lock(&mu_);
      ReleaseLocked();
      return;
    }
    v1::IngestResponse reply;
    std::vector<grpc::Slice> slices;
    if (response_.Dump(&slices).ok()) {
      std::string bytes;
      for (const grpc::Slice& s : slices)
        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      reply.ParseFromString(bytes);
    }
    if (reply.has_ack()) {
      const v1::Ack& ack = reply.ack();
      totals_->acked_entries.fetch_add(ack.accepted() + ack.duplicates(),
                                       std::memory_order_relaxed);
      totals_->rejected_entries.fetch_add(static_cast<uint64_t>(ack.rejected_size()),
                                          std::memory_order_relaxed);
      const uint64_t index = ack.batch_id() - 1;
      if (index < plan_->batches.size()) {
        totals_->acked_bytes.fetch_add(plan_->batches[index].Length(), std::memory_order_relaxed);
      }
      absl::MutexLock lock(&mu_);
      ++acked_;
      if (sent_ < plan_->batches.size()) QueueBatchLocked();
      if (acked_ == plan_->batches.size()) {
        closing_ = true;
        WriteNextLocked();
      }
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    {
      absl::MutexLock lock(&mu_);
      status_ = status;
    }
    FinishedLanes* finished = finished_;
    finished->Push(lane_);  // the last access to this object
  }

  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  void Cancel() { context_.TryCancel(); }

 private:
  void QueueBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    queue_.push_back(plan_->batches[sent_]);
    ++sent_;
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_) return;
    if (!queue_.empty()) {
      writing_ = true;
      StartWrite(&queue_.front());
    } else if (closing_ && holding_) {
      StartWritesDone();
      ReleaseLocked();
    }
  }

  void ReleaseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (holding_) {
      holding_ = false;
      RemoveHold();
    }
  }

  grpc::ClientContext context_;
  const StreamPlan* const plan_;
  const int in_flight_;
  const int lane_;
  Totals* const totals_;
  FinishedLanes* const finished_;
  grpc::ByteBuffer response_;  // owned by the one outstanding read

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> queue_ ABSL_GUARDED_BY(mu_);
  size_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  size_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool holding_ ABSL_GUARDED_BY(mu_) = true;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::vector<StreamPlan> MakeDevicePlans(const Fleet& fleet, size_t batch_entries) {
  batch_entries = std::max<size_t>(1, batch_entries);
  std::vector<StreamPlan> plans(static_cast<size_t>(fleet.devices()));
  for (int d = 0; d < fleet.devices(); ++d) {
    StreamPlan& plan = plans[static_cast<size_t>(d)];
    const std::string user = fleet.UserId(fleet.UserOf(d));
    const std::string session = absl::StrFormat("%08x-0000-4000-8000-%012x", d, d);
    v1::IngestRequest hello;
    v1::Device* device = hello.mutable_hello()->mutable_device();
    device->set_device_id(fleet.DeviceId(d));
    device->set_user_id(user);
    device->set_session_id(session);
    hello.mutable_hello()->set_agent("fieldlog-bench/batch-streams");
    plan.hello = ToByteBuffer(hello);

    const GeneratedLines lines = fleet.Lines(d);
    for (size_t first = 0; first < lines.size(); first += batch_entries) {
      v1::IngestRequest request;
      v1::Batch* batch = request.mutable_batch();
      batch->set_batch_id(plan.batches.size() + 1);
      batch->set_user_id(user);
      batch->set_session_id(session);
      const size_t end = std::min(lines.size(), first + batch_entries);
      for (size_t i = first; i < end; ++i) {
        FillEntry(lines[i], i + 1, batch->add_entries());
      }
      plan.entries += end - first;
      plan.batches.push_back(ToByteBuffer(request));
      plan.bytes += plan.batches.back().Length();
    }
  }
  return plans;
}

absl::StatusOr<StreamRunResult> RunStreams(const std::vector<StreamPlan>& plans,
                                           const StreamRunOptions& options) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int c = 0; c < std::max(1, options.connections); ++c) {
    grpc::ChannelArguments args;
    // Its own connection per channel, as separate devices' processes have.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxSendMessageSize(static_cast<int>(kMaxRequestBytes));
    channels.push_back(
        grpc::CreateCustomChannel(options.address, grpc::InsecureChannelCredentials(), args));
    if (!channels.back()->WaitForConnected(std::chrono::system_clock::now() +
                                           std::chrono::seconds(10))) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", options.address));
    }
    stubs.push_back(std::make_unique<grpc::GenericStub>(channels.back()));
  }

  uint64_t total_entries = 0;
  for (const StreamPlan& plan : plans) total_entries += plan.entries;
  ProgressBar bar(options.progress_label, total_entries, !options.progress_label.empty());
  Totals totals;
  FinishedLanes finished;
  const int lanes = std::max(1, std::min<int>(options.lanes, static_cast<int>(plans.size())));
  std::vector<std::unique_ptr<PlanStream>> streams(static_cast<size_t>(lanes));
  size_t next_plan = 0;
  int open = 0;
  const auto start_next = [&](int lane) {
    auto& slot = streams[static_cast<size_t>(lane)];
    slot = std::make_unique<PlanStream>(stubs[static_cast<size_t>(lane) % stubs.size()].get(),
                                        &plans[next_plan++], options.ingest_key, options.in_flight,
                                        lane, &totals, &finished);
    ++open;
    slot->Start();
  };

  const double cpu_start = CpuSeconds();
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options.max_duration;
  for (int lane = 0; lane < lanes; ++lane) start_next(lane);
  absl::Status failure;
  while (open > 0) {
    if (absl::Now() > deadline && failure.ok()) {
      failure = absl::DeadlineExceededError(absl::StrCat(
          "the streams did not finish within ", absl::FormatDuration(options.max_duration)));
      for (auto& stream : streams) {
        if (stream != nullptr) stream->Cancel();
      }
    }
    for (int lane : finished.Take(absl::Milliseconds(100))) {
      auto& slot = streams[static_cast<size_t>(lane)];
      const grpc::Status status = slot->status();
      slot.reset();
      --open;
      if (!status.ok() && failure.ok()) {
        failure = absl::UnavailableError(absl::StrCat(
            "a stream ended with status ", status.error_code(), ": ", status.error_message()));
      }
      if (failure.ok() && next_plan < plans.size()) start_next(lane);
    }
    bar.Update(totals.acked_entries.load(std::memory_order_relaxed));
  }
  StreamRunResult result;
  result.elapsed = absl::Now() - start;
  result.client_cpu_seconds = CpuSeconds() - cpu_start;
  result.acked_entries = totals.acked_entries.load();
  result.rejected_entries = totals.rejected_entries.load();
  result.acked_bytes = totals.acked_bytes.load();
  if (!failure.ok()) return failure;
  bar.Finish(absl::StrFormat("%s entries, %s entries/s",
                             HumanNumber(static_cast<double>(result.acked_entries)),
                             HumanNumber(static_cast<double>(result.acked_entries) /
                                         absl::ToDoubleSeconds(result.elapsed))));
  return result;
}

}  // namespace fieldlog::bench
