#include "benchmarks/parse_ack.h"

#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "benchmarks/progress.h"
#include "benchmarks/report.h"
#include "common/limits.h"
#include "fieldlog/v1/ingest.grpc.pb.h"

namespace fieldlog::bench {
namespace {

constexpr char kStreamMethod[] = "/fieldlog.v1.IngestService/Stream";

double CpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// ---- server ----

// Reads requests, answers each batch with an Ack. Deletes itself in OnDone,
// as gRPC's callback API prescribes.
class ParseAckReactor final
    : public grpc::ServerBidiReactor<v1::IngestRequest, v1::IngestResponse> {
 public:
  ParseAckReactor() { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    if (!ok) {
      done_reading_ = true;
      if (!writing_) FinishLocked();
      return;
    }
    v1::IngestResponse reply;
    if (request_.has_batch()) {
      reply.mutable_ack()->set_batch_id(request_.batch().batch_id());
      reply.mutable_ack()->set_accepted(static_cast<uint32_t>(request_.batch().entries_size()));
    } else {
      reply.mutable_welcome()->set_app("parse-ack");
    }
    replies_.push_back(std::move(reply));
    if (!writing_) {
      writing_ = true;
      StartWrite(&replies_.front());
    }
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    replies_.pop_front();
    writing_ = false;
    if (ok && !replies_.empty()) {
      writing_ = true;
      StartWrite(&replies_.front());
    } else if (done_reading_ || !ok) {
      FinishLocked();
    }
  }

  void OnDone() override { delete this; }

 private:
  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  absl::Mutex mu_;
  v1::IngestRequest request_;
  std::deque<v1::IngestResponse> replies_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_reading_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

class ParseAckService final : public v1::IngestService::CallbackService {
  grpc::ServerBidiReactor<v1::IngestRequest, v1::IngestResponse>* Stream(
      grpc::CallbackServerContext* context) override {
    return new ParseAckReactor();
  }
};

// ---- client ----

// One stream: keeps `in_flight` batches outstanding until it has sent its
// quota, then half-closes and waits for the last acks.
class ClientStream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  ClientStream(grpc::GenericStub* stub, const std::vector<grpc::ByteBuffer>* batches,
               uint64_t quota, int in_flight, size_t batch_entries,
               std::atomic<uint64_t>* acked_entries)
      : batches_(batches),
        quota_(quota),
        in_flight_(in_flight),
        batch_entries_(batch_entries),
        acked_entries_(acked_entries) {
    stub->PrepareBidiStreamingCall(&context_, kStreamMethod, grpc::StubOptions(), this);
  }

  void Start() {
    AddHold();
    {
      absl::MutexLock lock(&mu_);
      for (int i = 0; i < in_flight_ && sent_ < quota_; ++i) QueueLocked();
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
    acked_entries_->fetch_add(batch_entries_, std::memory_order_relaxed);
    {
      absl::MutexLock lock(&mu_);
      ++acked_;
      if (sent_ < quota_) QueueLocked();
      if (acked_ == quota_) {
        closing_ = true;
        WriteNextLocked();
      }
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  bool WaitDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }
  void Cancel() { context_.TryCancel(); }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  void QueueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    queue_.push_back((*batches_)[sent_ % batches_->size()]);
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
  const std::vector<grpc::ByteBuffer>* batches_;
  const uint64_t quota_;
  const int in_flight_;
  const size_t batch_entries_;
  std::atomic<uint64_t>* acked_entries_;
  grpc::ByteBuffer response_;

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool holding_ ABSL_GUARDED_BY(mu_) = true;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

// Batches of the fleet's first devices' lines, serialized once.
std::vector<grpc::ByteBuffer> MakeBatches(const Fleet& fleet, size_t batch_entries) {
  std::vector<grpc::ByteBuffer> batches;
  const int devices = std::min(fleet.devices(), 8);
  for (int d = 0; d < devices; ++d) {
    const GeneratedLines lines = fleet.Lines(d);
    v1::IngestRequest request;
    v1::Batch* batch = request.mutable_batch();
    batch->set_batch_id(static_cast<uint64_t>(d) + 1);
    batch->set_user_id(fleet.UserId(fleet.UserOf(d)));
    batch->set_session_id("6f1c2a4e-93b4-4b7e-8f0e-2f3d4c5b6a79");
    batch->set_sent_at_unix_micros(absl::ToUnixMicros(absl::Now()));
    for (size_t i = 0; i < batch_entries; ++i) {
      const LineView line = lines[i % lines.size()];
      v1::Entry* entry = batch->add_entries();
      entry->set_seq(i + 1);
      entry->set_time_unix_micros(line.time_us);
      entry->set_level(line.level);
      entry->set_tag(line.tag.data(), line.tag.size());
      entry->set_message(line.message.data(), line.message.size());
    }
    const std::string bytes = request.SerializeAsString();
    grpc::Slice slice(bytes);
    batches.emplace_back(&slice, 1);
  }
  return batches;
}

}  // namespace

int ParseAckServerMain(const std::string& listen_file) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  ParseAckService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxRequestBytes));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "parse-ack server: cannot listen on 127.0.0.1\n");
    return 1;
  }
  {
    std::ofstream(listen_file + ".tmp") << "127.0.0.1:" << port << "\n";
    std::rename((listen_file + ".tmp").c_str(), listen_file.c_str());
  }
  int signal = 0;
  sigwait(&stop, &signal);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}

absl::StatusOr<ParseAckResult> RunParseAck(const Fleet& fleet, const ParseAckOptions& options) {
  const std::vector<grpc::ByteBuffer> batches = MakeBatches(fleet, options.batch_entries);
  const int streams = options.connections * options.streams_per_connection;
  const uint64_t total_batches =
      std::max<uint64_t>(1, options.total_entries / options.batch_entries);
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int c = 0; c < options.connections; ++c) {
    grpc::ChannelArguments args;
    // Its own connection per channel, as separate devices' processes have.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxSendMessageSize(static_cast<int>(kMaxRequestBytes));
    channels.push_back(grpc::CreateCustomChannel(options.address,
                                                 grpc::InsecureChannelCredentials(), args));
    if (!channels.back()->WaitForConnected(std::chrono::system_clock::now() +
                                           std::chrono::seconds(10))) {
      return absl::UnavailableError("cannot connect to the parse-and-ack server");
    }
    stubs.push_back(std::make_unique<grpc::GenericStub>(channels.back()));
  }

  std::atomic<uint64_t> acked{0};
  std::vector<std::unique_ptr<ClientStream>> clients;
  for (int s = 0; s < streams; ++s) {
    const uint64_t quota = total_batches / streams + (static_cast<uint64_t>(s) <
                                                      total_batches % streams ? 1 : 0);
    if (quota == 0) continue;
    clients.push_back(std::make_unique<ClientStream>(stubs[s % stubs.size()].get(), &batches,
                                                     quota, options.batches_in_flight,
                                                     options.batch_entries, &acked));
  }
  ProgressBar bar("transport", total_batches * options.batch_entries, options.progress);
  const double cpu_start = CpuSeconds();
  const absl::Time start = absl::Now();
  for (auto& client : clients) client->Start();
  const absl::Time deadline = start + options.max_duration;
  bool all_done = false;
  while (!all_done && absl::Now() < deadline) {
    all_done = true;
    for (auto& client : clients) {
      if (!client->WaitDone(absl::Milliseconds(100))) {
        all_done = false;
        break;
      }
    }
    bar.Update(acked.load());
  }
  ParseAckResult result;
  result.elapsed = absl::Now() - start;
  result.client_cpu_seconds = CpuSeconds() - cpu_start;
  result.entries = acked.load();
  if (!all_done) {
    for (auto& client : clients) client->Cancel();
    for (auto& client : clients) client->WaitDone(absl::Seconds(10));
    return absl::DeadlineExceededError("the parse-and-ack run did not finish in time");
  }
  for (auto& client : clients) {
    grpc::Status status = client->status();
    if (!status.ok()) {
      return absl::UnavailableError(
          absl::StrCat("parse-and-ack stream failed: ", status.error_message()));
    }
  }
  bar.Finish(absl::StrFormat("%s entries, %s entries/s", HumanNumber(result.entries),
                             HumanNumber(result.entries / absl::ToDoubleSeconds(result.elapsed))));
  return result;
}

}  // namespace fieldlog::bench
