// Sender: the agent's side of the ingest stream. It reads the spool, cuts
// batches (by count, bytes, age, and wherever the session or user changes),
// keeps up to max_in_flight of them on the wire, releases from the spool what
// the collector acknowledged, and reconnects with exponential backoff and
// jitter, or after the delay a throttling server asked for
// (RESOURCE_EXHAUSTED or UNAVAILABLE with grpc-retry-pushback-ms). It applies
// the server's Control messages: minimum upload level, "upload debug until",
// flush now.
//
// Threads: Step() and everything else runs on the agent's background thread,
// except Push() (gRPC's threads deliver stream events) and stats() (any).
#ifndef FIELDLOG_AGENT_SRC_SENDER_H_
#define FIELDLOG_AGENT_SRC_SENDER_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/src/batch_compressor.h"
#include "agent/src/spool.h"
#include "agent/src/stream_client.h"
#include "fieldlog/agent.h"
#include "fieldlog/v1/ingest.pb.h"

namespace fieldlog::agent {

struct SenderStats {
  uint64_t acknowledged = 0;
  uint64_t rejected = 0;
  uint64_t not_uploaded = 0;
  uint64_t batches_sent = 0;
  uint64_t reconnects = 0;
  uint64_t throttled = 0;
  bool connected = false;
  int last_status_code = 0;
  std::string last_error;
};

class Sender {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    std::string server;
    std::string ingest_key;
    size_t batch_max_entries = 512;
    size_t batch_max_bytes = 256 * 1024;
    std::chrono::milliseconds batch_max_age{1000};
    size_t max_in_flight = 4;
    std::chrono::milliseconds initial_backoff{250};
    std::chrono::milliseconds max_backoff{30000};
    Compression compression = Compression::kZstd;
    bool tls = false;
    std::string tls_ca_pem;
    std::string tls_server_name;
    uint8_t min_upload_level = 1;
  };

  // `save_base` persists a seq base learned from the collector; `wake`
  // wakes the background thread when a stream event arrives.
  Sender(Options options, Spool* spool, std::optional<uint64_t> seq_base,
         std::function<void(uint64_t)> save_base, std::function<void()> wake);
  ~Sender();

  // The Hello's device (id, user, session, attributes). With
  // `reconnect_when_idle`, the stream is renewed once nothing is in flight
  // so the collector sees the new device facts.
  void SetDevice(v1::Device device, bool reconnect_when_idle);

  // Handles stream events, connects when there is something to send (and
  // `uploads_allowed`), sends the batches that are due.
  void Step(bool uploads_allowed);
  // When Step() must run again without being woken.
  Clock::time_point NextDeadline() const;
  // Everything spooled up to `seq` is sent without waiting for batch age.
  void FlushUpTo(uint64_t seq) { flush_upto_ = std::max(flush_upto_, seq); }
  // True once after the server sent Control.flush_now.
  bool TakeFlushNow() { return std::exchange(flush_now_, false); }
  // Ends the stream and waits for gRPC to let go of it.
  void Close();

  std::optional<uint64_t> seq_base() const { return seq_base_; }
  // Device-clock Unix micros until which the server wants debug lines.
  int64_t debug_until_us() const { return debug_until_us_; }

  // Any thread.
  void Push(StreamEvent event);
  SenderStats stats() const;

 private:
  struct Inflight {
    uint64_t batch_id;
    uint64_t last_seq;  // spool seq released by its ack (skipped entries included)
    uint64_t lines;
  };
  struct OpenBatch {
    std::string session_id, user_id, entries;
    size_t count = 0, lines = 0;
    uint64_t last_seq = 0;
    bool closed = false;  // the next entry belongs to another session or user
    Clock::time_point opened_at;
  };
  struct HeldEntry {
    uint64_t seq;
    uint8_t level, kind;
    std::string body, session_id, user_id;
  };

  void Handle(StreamEvent& event);
  void HandleWelcome(const v1::Welcome& welcome);
  void HandleAck(const v1::Ack& ack);
  void HandleDone(const StreamEvent& event);
  void ApplyControl(const v1::Control& control);
  void OpenChannel();
  void Connect();
  void SendDue();
  bool AddToOpen(uint64_t seq, uint8_t level, uint8_t kind, std::string_view body,
                 std::string_view session_id, std::string_view user_id);
  void Release(uint64_t seq);
  void ResetReading();
  bool WantStream() const;
  uint8_t UploadLevel() const;
  std::chrono::milliseconds NextBackoff();
  uint64_t Wire(uint64_t seq) const { return *seq_base_ + seq; }

  const Options options_;
  Spool* const spool_;
  std::optional<uint64_t> seq_base_;
  const std::function<void(uint64_t)> save_base_;
  const std::function<void()> wake_;

  // Background thread.
  std::shared_ptr<grpc::Channel> channel_;  // null after a failed connection
  std::unique_ptr<grpc::GenericStub> stub_;
  v1::Device device_;
  bool renew_when_idle_ = false;
  std::unique_ptr<StreamClient> stream_;
  bool stream_done_ = false;
  bool welcomed_ = false;
  bool closing_ = false;
  std::deque<Inflight> inflight_;
  OpenBatch open_;
  std::optional<HeldEntry> held_;
  uint64_t consumed_ = 0;  // highest spool seq put in a batch or skipped
  uint64_t flush_upto_ = 0;
  bool flush_now_ = false;
  uint64_t last_batch_id_ = 0;
  uint64_t attempts_ = 0;
  int invalid_argument_failures_ = 0;
  uint8_t upload_level_;
  int64_t debug_until_us_ = 0;
  int64_t clock_offset_us_ = 0;  // server minus device, from the last ack
  std::chrono::milliseconds backoff_{0};
  Clock::time_point reconnect_at_{};
  std::mt19937_64 random_;
  // Set when options_.compression is kZstd; used while the collector's
  // Welcome lists CODEC_ZSTD (otherwise batches go plain, gzipped by gRPC).
  std::unique_ptr<BatchCompressor> compressor_;
  bool collector_reads_zstd_ = false;

  mutable absl::Mutex mu_;
  std::deque<StreamEvent> events_ ABSL_GUARDED_BY(mu_);
  SenderStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_SENDER_H_
