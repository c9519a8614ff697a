#include "tests/testing/agent_fake_collector.h"

#include <algorithm>

#include "collector/compressed_batch.h"

namespace fieldlog::testing {

FakeCollector::FakeCollector(const Tls* tls, bool accept_gzip) {
  grpc::ServerBuilder builder;
  int port = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (tls != nullptr) {
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back({tls->key_pem, tls->cert_pem});
    credentials = grpc::SslServerCredentials(options);
  }
  builder.AddListeningPort("127.0.0.1:0", credentials, &port);
  builder.RegisterService(this);
  if (!accept_gzip) builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  server_ = builder.BuildAndStart();
  address_ = "127.0.0.1:" + std::to_string(port);
}

FakeCollector::~FakeCollector() { server_->Shutdown(std::chrono::system_clock::now()); }

void FakeCollector::Throttle(int n, grpc::StatusCode code, int pushback_ms) {
  absl::MutexLock lock(&mu_);
  throttle_left_ = n;
  throttle_code_ = code;
  pushback_ms_ = pushback_ms;
}

void FakeCollector::SetWelcomeControl(const v1::Control& control) {
  absl::MutexLock lock(&mu_);
  welcome_control_ = control;
}

void FakeCollector::SetWatermark(uint64_t watermark) {
  absl::MutexLock lock(&mu_);
  watermark_ = watermark;
}

void FakeCollector::SendControl(const v1::Control& control) {
  std::vector<std::shared_ptr<Open>> open;
  {
    absl::MutexLock lock(&mu_);
    open = open_;
  }
  v1::IngestResponse response;
  *response.mutable_control() = control;
  for (auto& o : open) {
    absl::MutexLock lock(&o->write_mu);
    o->stream->Write(response);
  }
}

void FakeCollector::AdvertiseZstd(bool advertise) {
  absl::MutexLock lock(&mu_);
  advertise_zstd_ = advertise;
}

FakeCollector::BatchForms FakeCollector::batch_forms() const {
  absl::MutexLock lock(&mu_);
  return forms_;
}

std::vector<ReceivedEntry> FakeCollector::entries() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}
std::vector<std::chrono::steady_clock::time_point> FakeCollector::stream_starts() const {
  absl::MutexLock lock(&mu_);
  return starts_;
}
std::vector<v1::Hello> FakeCollector::hellos() const {
  absl::MutexLock lock(&mu_);
  return hellos_;
}

bool FakeCollector::WaitForEntries(size_t n, std::chrono::milliseconds timeout) const {
  absl::MutexLock lock(&mu_);
  const auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return entries_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::FromChrono(timeout));
}

grpc::Status FakeCollector::Stream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::IngestResponse, v1::IngestRequest>* stream) {
  auto open = std::make_shared<Open>();
  open->stream = stream;
  {
    absl::MutexLock lock(&mu_);
    starts_.push_back(std::chrono::steady_clock::now());
    if (throttle_left_ > 0) {
      --throttle_left_;
      context->AddTrailingMetadata("grpc-retry-pushback-ms", std::to_string(pushback_ms_));
      return grpc::Status(throttle_code_, "slow down");
    }
  }
  v1::IngestRequest request;
  if (!stream->Read(&request) || !request.has_hello()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello first");
  }
  const v1::Hello hello = request.hello();
  v1::IngestResponse welcome;
  {
    absl::MutexLock lock(&mu_);
    hellos_.push_back(hello);
    welcome.mutable_welcome()->set_app("fake");
    welcome.mutable_welcome()->set_watermark(watermark_);
    *welcome.mutable_welcome()->mutable_control() = welcome_control_;
    if (advertise_zstd_) {
      welcome.mutable_welcome()->add_batch_codecs(v1::CompressedBatch::CODEC_ZSTD);
    }
    open_.push_back(open);
  }
  {
    absl::MutexLock lock(&open->write_mu);
    stream->Write(welcome);
  }
  while (stream->Read(&request)) {
    v1::Batch batch;
    if (request.has_batch()) {
      batch = request.batch();
    } else if (request.has_compressed_batch()) {
      // The collector's own decompression, so the fake reads what it reads.
      if (absl::Status s = collector::DecompressBatch(request.compressed_batch(), &batch); !s.ok()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message()));
      }
    } else {
      break;
    }
    v1::IngestResponse ack;
    {
      absl::MutexLock lock(&mu_);
      if (request.has_batch()) {
        ++forms_.plain;
      } else {
        ++forms_.zstd;
        forms_.zstd_frame_bytes += request.compressed_batch().data().size();
        forms_.zstd_batch_bytes += batch.ByteSizeLong();
      }
      for (const v1::Entry& e : batch.entries()) {
        entries_.push_back({e, batch.session_id(), batch.user_id()});
        watermark_ = std::max(watermark_, e.seq());
      }
      ack.mutable_ack()->set_batch_id(batch.batch_id());
      ack.mutable_ack()->set_accepted(batch.entries_size());
      ack.mutable_ack()->set_watermark(watermark_);
    }
    absl::MutexLock lock(&open->write_mu);
    stream->Write(ack);
  }
  absl::MutexLock lock(&mu_);
  std::erase(open_, open);
  return grpc::Status::OK;
}

}  // namespace fieldlog::testing
