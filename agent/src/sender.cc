#include "agent/src/sender.h"

#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/src/wire.h"
#include "common/limits.h"

namespace fieldlog::agent {
namespace {

constexpr std::string_view kAgentName = "fieldlog-cpp/0.2.0";
// Consecutive INVALID_ARGUMENT ends of the stream after which the oldest
// in-flight batch is given up as rejected, so one poison batch cannot stall a
// device forever.
constexpr int kMaxInvalidArgumentRetries = 3;
constexpr uint8_t kLevelDebug = 2;

int64_t NowUnixMicros() { return absl::ToUnixMicros(absl::Now()); }

}  // namespace

Sender::Sender(Options options, Spool* spool, std::optional<uint64_t> seq_base,
               std::function<void(uint64_t)> save_base, std::function<void()> wake)
    : options_(std::move(options)),
      spool_(spool),
      seq_base_(seq_base),
      save_base_(std::move(save_base)),
      wake_(std::move(wake)),
      upload_level_(options_.min_upload_level),
      random_(std::random_device{}()) {
  if (options_.compression == Compression::kZstd) {
    compressor_ = std::make_unique<BatchCompressor>();
  }
  OpenChannel();
}

void Sender::OpenChannel() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetMaxSendMessageSize(static_cast<int>(kMaxRequestBytes));
  // The agent does its own reconnect backoff; gRPC's would add to it.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // This channel's connection is its own (not shared through gRPC's global
  // pool), so that dropping the channel ends its reconnection attempts.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options_.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options_.tls_ca_pem;
    credentials = grpc::SslCredentials(ssl);
    if (!options_.tls_server_name.empty()) args.SetSslTargetNameOverride(options_.tls_server_name);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  channel_ = grpc::CreateCustomChannel(options_.server, credentials, args);
  stub_ = std::make_unique<grpc::GenericStub>(channel_);
}

Sender::~Sender() { Close(); }

void Sender::SetDevice(v1::Device device, bool reconnect_when_idle) {
  device_ = std::move(device);
  renew_when_idle_ = renew_when_idle_ || reconnect_when_idle;
}

void Sender::Push(StreamEvent event) {
  // Wake under mu_: Close() may return, and the Sender be destroyed, as soon
  // as it sees kDone under mu_, so nothing here may touch the Sender after
  // the lock is released (Waker::Wake takes no lock).
  absl::MutexLock lock(&mu_);
  events_.push_back(std::move(event));
  wake_();
}

SenderStats Sender::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Sender::Step(bool uploads_allowed) {
  std::deque<StreamEvent> events;
  {
    absl::MutexLock lock(&mu_);
    events.swap(events_);
  }
  for (StreamEvent& event : events) Handle(event);
  if (stream_ != nullptr && stream_done_) {
    stream_.reset();  // gRPC is done with it
    // A channel that could not connect keeps dialing the server on its own,
    // about once a second (gRPC's reconnect backoff), whatever the agent's
    // backoff says: a phone offline for an hour would wake its radio 3,600
    // times. Drop it; the next attempt, at the agent's time, opens a new one.
    const grpc_connectivity_state state = channel_->GetState(false);
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_CONNECTING) {
      stub_.reset();
      channel_.reset();
    }
  }
  if (stream_ != nullptr && !uploads_allowed && !closing_) {
    stream_->Cancel();
    closing_ = true;
  }
  if (stream_ == nullptr && uploads_allowed && WantStream() && Clock::now() >= reconnect_at_) {
    Connect();
  }
  if (stream_ != nullptr && welcomed_ && !closing_) {
    SendDue();
    if (renew_when_idle_ && inflight_.empty() && open_.count == 0) {
      closing_ = true;  // a clean end, then a new stream with the new hello
      stream_->Close();
    }
  }
}

Sender::Clock::time_point Sender::NextDeadline() const {
  const Clock::time_point now = Clock::now();
  Clock::time_point next = now + std::chrono::seconds(1);
  if (welcomed_ && open_.count > 0) next = std::min(next, open_.opened_at + options_.batch_max_age);
  if (stream_ == nullptr && WantStream()) next = std::min(next, reconnect_at_);
  return std::max(next, now);
}

bool Sender::WantStream() const {
  return spool_->last_seq() > spool_->released() || renew_when_idle_;
}

uint8_t Sender::UploadLevel() const {
  if (debug_until_us_ > 0 && NowUnixMicros() < debug_until_us_) {
    return std::min(upload_level_, kLevelDebug);
  }
  return upload_level_;
}

void Sender::Handle(StreamEvent& event) {
  if (event.type == StreamEvent::Type::kDone) {
    HandleDone(event);
    return;
  }
  const v1::IngestResponse& response = event.response;
  if (response.has_welcome()) {
    HandleWelcome(response.welcome());
  } else if (response.has_ack()) {
    HandleAck(response.ack());
  } else if (response.has_control()) {
    ApplyControl(response.control());
  }
}

void Sender::ApplyControl(const v1::Control& control) {
  upload_level_ = control.min_upload_level() != v1::LEVEL_UNSPECIFIED
                      ? static_cast<uint8_t>(control.min_upload_level())
                      : options_.min_upload_level;
  // The server speaks its own clock; keep the deadline in ours.
  debug_until_us_ = control.debug_until_unix_micros() > 0
                        ? control.debug_until_unix_micros() - clock_offset_us_
                        : 0;
  if (control.flush_now()) flush_now_ = true;
}

void Sender::HandleWelcome(const v1::Welcome& welcome) {
  welcomed_ = true;
  backoff_ = std::chrono::milliseconds(0);
  // Compress batches ourselves only for a collector that says it reads them:
  // an older one would refuse every batch.
  collector_reads_zstd_ =
      absl::c_linear_search(welcome.batch_codecs(), v1::CompressedBatch::CODEC_ZSTD);
  invalid_argument_failures_ = 0;
  if (!seq_base_) {
    seq_base_ = welcome.watermark();
    save_base_(*seq_base_);
  }
  // Entries at or below the watermark are stored already (their ack was
  // lost with an earlier connection).
  if (welcome.watermark() > *seq_base_) Release(welcome.watermark() - *seq_base_);
  ResetReading();
  if (welcome.has_control()) ApplyControl(welcome.control());
  absl::MutexLock lock(&mu_);
  stats_.connected = true;
}

void Sender::HandleAck(const v1::Ack& ack) {
  auto it = std::find_if(inflight_.begin(), inflight_.end(),
                         [&](const Inflight& b) { return b.batch_id == ack.batch_id(); });
  if (it == inflight_.end()) return;
  const Inflight batch = *it;
  inflight_.erase(inflight_.begin(), it + 1);
  clock_offset_us_ = ack.clock_offset_micros();
  Release(batch.last_seq);
  const uint64_t rejected = std::min<uint64_t>(ack.rejected_size(), batch.lines);
  absl::MutexLock lock(&mu_);
  stats_.acknowledged += batch.lines - rejected;
  stats_.rejected += rejected;
  if (ack.rejected_size() > 0) {
    stats_.last_error =
        absl::StrCat("entry seq ", ack.rejected(0).seq(), " rejected: ", ack.rejected(0).reason());
  }
}

void Sender::HandleDone(const StreamEvent& event) {
  const grpc::Status& status = event.status;
  const bool was_welcomed = welcomed_;
  stream_done_ = true;
  welcomed_ = false;
  closing_ = false;
  if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT && !inflight_.empty() &&
      ++invalid_argument_failures_ >= kMaxInvalidArgumentRetries) {
    const Inflight poison = inflight_.front();
    Release(poison.last_seq);
    invalid_argument_failures_ = 0;
    absl::MutexLock lock(&mu_);
    stats_.rejected += poison.lines;
  }
  inflight_.clear();
  ResetReading();
  std::chrono::milliseconds delay;
  const bool throttled =
      event.pushback_ms >= 0 && (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                                 status.error_code() == grpc::StatusCode::UNAVAILABLE);
  if (throttled) {
    // The server said how long to wait; add up to a quarter more so a fleet
    // told the same does not come back in lockstep.
    std::uniform_int_distribution<int64_t> jitter(0, event.pushback_ms / 4 + 1);
    delay = std::chrono::milliseconds(event.pushback_ms + jitter(random_));
    backoff_ = std::chrono::milliseconds(0);
  } else if (status.ok() && was_welcomed) {
    delay = std::chrono::milliseconds(0);  // a clean end (e.g. renewing the hello)
  } else {
    delay = NextBackoff();
  }
  reconnect_at_ = Clock::now() + delay;
  absl::MutexLock lock(&mu_);
  if (throttled) ++stats_.throttled;
  stats_.connected = false;
  stats_.last_status_code = status.error_code();
  if (!status.ok()) {
    stats_.last_error = absl::StrCat(
        "stream to ", options_.server,
        " ended: ", status.error_message().empty() ? "(no message)" : status.error_message());
  }
}

std::chrono::milliseconds Sender::NextBackoff() {
  // Exponential backoff with jitter: the delay doubles per failure and a
  // random half of it is taken off, so a fleet of devices does not reconnect
  // in lockstep after an outage.
  backoff_ = backoff_.count() == 0 ? options_.initial_backoff
                                   : std::min(options_.max_backoff, backoff_ * 2);
  std::uniform_int_distribution<int64_t> jitter(backoff_.count() / 2, backoff_.count());
  return std::chrono::milliseconds(jitter(random_));
}

void Sender::Connect() {
  v1::IngestRequest hello;
  *hello.mutable_hello()->mutable_device() = device_;
  hello.mutable_hello()->set_agent(std::string(kAgentName));
  stream_done_ = false;
  welcomed_ = false;
  closing_ = false;
  renew_when_idle_ = false;
  if (channel_ == nullptr) OpenChannel();
  // kZstd streams are gzipped by gRPC too, for the plain batches sent to a
  // collector that does not read zstd (see HandleWelcome); zstd frames are
  // sent without it.
  stream_ = std::make_unique<StreamClient>(stub_.get(), options_.ingest_key,
                                           options_.compression != Compression::kNone,
                                           hello.SerializeAsString(),
                                           [this](StreamEvent event) { Push(std::move(event)); });
  stream_->Start();
  if (attempts_++ > 0) {
    absl::MutexLock lock(&mu_);
    ++stats_.reconnects;
  }
}

void Sender::Release(uint64_t seq) { spool_->Release(seq); }

void Sender::ResetReading() {
  consumed_ = spool_->released();
  spool_->Rewind(consumed_);
  open_ = OpenBatch();
  held_.reset();
}

bool Sender::AddToOpen(uint64_t seq, uint8_t level, uint8_t kind, std::string_view body,
                       std::string_view session_id, std::string_view user_id) {
  if (kind == Spool::kKindLog && level < UploadLevel()) {
    consumed_ = seq;
    absl::MutexLock lock(&mu_);
    ++stats_.not_uploaded;
    return true;
  }
  if (open_.count == 0) {
    open_.session_id.assign(session_id.data(), session_id.size());
    open_.user_id.assign(user_id.data(), user_id.size());
    open_.opened_at = Clock::now();
  } else if (session_id != open_.session_id || user_id != open_.user_id) {
    open_.closed = true;
    return false;
  }
  wire::AppendBatchEntry(&open_.entries, Wire(seq), body);
  ++open_.count;
  if (kind == Spool::kKindLog) ++open_.lines;
  consumed_ = seq;
  open_.last_seq = seq;
  return true;
}

void Sender::SendDue() {
  while (inflight_.size() < options_.max_in_flight) {
    // Fill the open batch.
    if (held_ && AddToOpen(held_->seq, held_->level, held_->kind, held_->body, held_->session_id,
                           held_->user_id)) {
      held_.reset();
    }
    Spool::Entry e;
    while (!held_ && !open_.closed && open_.count < options_.batch_max_entries &&
           open_.entries.size() < options_.batch_max_bytes && spool_->Next(&e)) {
      if (!AddToOpen(e.seq, e.level, e.kind, e.body, e.session_id, e.user_id)) {
        held_ = HeldEntry{e.seq,
                          e.level,
                          e.kind,
                          std::string(e.body),
                          std::string(e.session_id),
                          std::string(e.user_id)};
      }
    }
    if (open_.count == 0) {
      // Only skipped entries: nothing to wait for.
      if (inflight_.empty() && consumed_ > spool_->released()) Release(consumed_);
      return;
    }
    const bool full = open_.closed || open_.count >= options_.batch_max_entries ||
                      open_.entries.size() >= options_.batch_max_bytes;
    const bool old = Clock::now() - open_.opened_at >= options_.batch_max_age;
    const bool flushing = flush_upto_ > spool_->released();
    if (!full && !old && !flushing) return;

    const uint64_t batch_id = ++last_batch_id_;
    const std::string header =
        wire::BatchHeader(batch_id, open_.session_id, open_.user_id, NowUnixMicros());
    std::optional<std::string_view> frame;
    if (compressor_ != nullptr && collector_reads_zstd_) {
      frame = compressor_->Compress(header, open_.entries);
    }
    if (frame.has_value()) {
      stream_->Send(wire::CompressedBatchRequest(*frame), /*compressed=*/true);
    } else {
      stream_->Send(wire::BatchRequest(header, open_.entries));
    }
    inflight_.push_back({batch_id, consumed_, open_.lines});
    // The next batch reuses the entries' buffer: grown anew for every batch,
    // its copies and fresh pages cost the sender more than the copy of the
    // entries into it.
    std::string entries = std::move(open_.entries);
    entries.clear();
    open_ = OpenBatch();
    open_.entries = std::move(entries);
    absl::MutexLock lock(&mu_);
    ++stats_.batches_sent;
  }
}

void Sender::Close() {
  if (stream_ == nullptr) return;
  if (!stream_done_) {
    stream_->Cancel();
    // Wait for gRPC's last reaction before the reactor is destroyed.
    absl::MutexLock lock(&mu_);
    const auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& e : events_) {
        if (e.type == StreamEvent::Type::kDone) return true;
      }
      return false;
    };
    mu_.Await(absl::Condition(&done));
  }
  stream_.reset();
}

}  // namespace fieldlog::agent
