// A fake IngestService for agent tests: real gRPC on 127.0.0.1:0 (optionally
// TLS), scripted to throttle streams, send Control messages and report what it
// received, so the agent's side of throttling and remote control can be tested
// before (and independently of) the real collector's.
#ifndef FIELDLOG_TESTS_TESTING_AGENT_FAKE_COLLECTOR_H_
#define FIELDLOG_TESTS_TESTING_AGENT_FAKE_COLLECTOR_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "fieldlog/v1/ingest.grpc.pb.h"

namespace fieldlog::testing {

struct ReceivedEntry {
  v1::Entry entry;
  std::string session_id, user_id;
};

class FakeCollector final : public v1::IngestService::Service {
 public:
  struct Tls {
    std::string cert_pem, key_pem;
  };
  // `accept_gzip` false: gzip-compressed requests fail (UNIMPLEMENTED).
  explicit FakeCollector(const Tls* tls = nullptr, bool accept_gzip = true);
  ~FakeCollector() override;

  const std::string& address() const { return address_; }

  // The next `n` streams end at once with `code` and grpc-retry-pushback-ms.
  void Throttle(int n, grpc::StatusCode code, int pushback_ms);
  // The Welcome of later streams carries this control; the watermark is the
  // highest seq received (or `watermark` if higher).
  void SetWelcomeControl(const v1::Control& control);
  void SetWatermark(uint64_t watermark);
  // Whether later Welcomes list CODEC_ZSTD, as the real collector's do
  // (default), or nothing, as a collector older than compressed_batch.
  void AdvertiseZstd(bool advertise);
  // Sends `control` on every open stream now.
  void SendControl(const v1::Control& control);

  // How the batches arrived: plain `batch`, or `compressed_batch` (then also
  // the frames' bytes and the bytes of the batches they held).
  struct BatchForms {
    int plain = 0, zstd = 0;
    size_t zstd_frame_bytes = 0, zstd_batch_bytes = 0;
  };
  BatchForms batch_forms() const;

  std::vector<ReceivedEntry> entries() const;
  std::vector<std::chrono::steady_clock::time_point> stream_starts() const;
  std::vector<v1::Hello> hellos() const;
  // Waits until `n` entries arrived; false after `timeout`.
  bool WaitForEntries(size_t n, std::chrono::milliseconds timeout) const;

  grpc::Status Stream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::IngestResponse, v1::IngestRequest>* stream) override;

 private:
  struct Open {
    grpc::ServerReaderWriter<v1::IngestResponse, v1::IngestRequest>* stream;
    absl::Mutex write_mu;
  };

  mutable absl::Mutex mu_;
  int throttle_left_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::StatusCode throttle_code_ ABSL_GUARDED_BY(mu_) = grpc::StatusCode::OK;
  int pushback_ms_ ABSL_GUARDED_BY(mu_) = 0;
  v1::Control welcome_control_ ABSL_GUARDED_BY(mu_);
  uint64_t watermark_ ABSL_GUARDED_BY(mu_) = 0;
  bool advertise_zstd_ ABSL_GUARDED_BY(mu_) = true;
  std::vector<ReceivedEntry> entries_ ABSL_GUARDED_BY(mu_);
  BatchForms forms_ ABSL_GUARDED_BY(mu_);
  std::vector<std::chrono::steady_clock::time_point> starts_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Hello> hellos_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Open>> open_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace fieldlog::testing

#endif  // FIELDLOG_TESTS_TESTING_AGENT_FAKE_COLLECTOR_H_
