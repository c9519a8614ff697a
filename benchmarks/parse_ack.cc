#include "benchmarks/parse_ack.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/limits.h"
#include "fieldlog/v1/ingest.grpc.pb.h"

namespace fieldlog::bench {
namespace {

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

}  // namespace fieldlog::bench
