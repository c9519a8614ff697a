// The agent's implementation: Log() fills a bounded queue; one background
// thread turns queued items into sequenced pending entries, cuts them into
// batches, streams them through a StreamClient and forgets them when acked.
//
// Threads: callers of Log/SetUser/Flush touch only the queue and counters
// (under mu_); the background thread owns pending_, inflight_ and the stream;
// gRPC's threads deliver stream events into events_ (under mu_).
#include <atomic>
#include <deque>
#include <memory>
#include <random>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/src/identity.h"
#include "agent/src/stream_client.h"
#include "common/limits.h"
#include "common/text.h"
#include "fieldlog/agent.h"
#include "fieldlog/v1/ingest.grpc.pb.h"

namespace fieldlog {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kAgentName = "fieldlog-cpp/0.1.0";
// Consecutive INVALID_ARGUMENT ends of the stream after which the oldest
// in-flight batch is given up as rejected, so one poison batch cannot stall a
// device forever.
constexpr int kMaxInvalidArgumentRetries = 3;

int64_t NowUnixMicros() { return absl::ToUnixMicros(absl::Now()); }

// The public API speaks std::string_view; Debian's Abseil has its own.
absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

// `text` cut to at most `max_bytes` on a UTF-8 boundary, with invalid UTF-8
// replaced; a cut leaves a visible marker saying how much was cut.
std::string FitText(std::string_view text, size_t max_bytes) {
  std::string clean = SanitizeUtf8(ToAbsl(text));
  if (clean.size() <= max_bytes) return clean;
  const std::string marker = absl::StrCat(" \xE2\x80\xA6[cut ", clean.size(), " bytes]");
  size_t keep = max_bytes > marker.size() ? max_bytes - marker.size() : 0;
  // Back up to the start of a UTF-8 sequence.
  while (keep > 0 && (static_cast<uint8_t>(clean[keep]) & 0xC0) == 0x80) --keep;
  clean.resize(keep);
  if (keep + marker.size() <= max_bytes) clean += marker;
  return clean;
}

// An id: valid UTF-8 without control characters, at most `max_bytes`.
std::string FitId(std::string_view id, size_t max_bytes) {
  std::string clean = SanitizeUtf8(ToAbsl(id));
  std::erase_if(clean, [](char c) { return static_cast<uint8_t>(c) < 0x20 || c == 0x7F; });
  size_t keep = std::min(clean.size(), max_bytes);
  while (keep > 0 && keep < clean.size() && (static_cast<uint8_t>(clean[keep]) & 0xC0) == 0x80) {
    --keep;
  }
  clean.resize(keep);
  return clean;
}

void FillAttributes(const Attribute* begin, const Attribute* end,
                    google::protobuf::RepeatedPtrField<v1::Attribute>* out) {
  for (const Attribute* a = begin; a != end && out->size() < static_cast<int>(kMaxAttributes);
       ++a) {
    v1::Attribute* attribute = out->Add();
    std::string key = FitId(a->key, kMaxAttributeKeyBytes);
    attribute->set_key(key.empty() ? "_" : std::move(key));
    v1::Value* value = attribute->mutable_value();
    if (const auto* s = std::get_if<std::string>(&a->value)) {
      value->set_string_value(FitText(*s, kMaxAttributeValueBytes));
    } else if (const auto* i = std::get_if<int64_t>(&a->value)) {
      value->set_int_value(*i);
    } else if (const auto* d = std::get_if<double>(&a->value)) {
      value->set_double_value(*d);
    } else if (const auto* b = std::get_if<bool>(&a->value)) {
      value->set_bool_value(*b);
    }
  }
}

// What Log() hands the background thread.
struct QueuedItem {
  enum class Kind { kEntry, kSetUser };
  Kind kind = Kind::kEntry;
  v1::Entry entry;
  std::string user_id;  // kSetUser
};

struct PendingEntry {
  v1::Entry entry;
  std::string user_id;
  size_t bytes = 0;
  Clock::time_point queued_at;
};

struct InflightBatch {
  uint64_t batch_id = 0;
  size_t count = 0;
};

class AgentImpl final : public Agent {
 public:
  AgentImpl(const AgentOptions& options, std::string device_id)
      : options_(options),
        device_id_(std::move(device_id)),
        session_id_(agent::NewUuidV4()),
        min_level_(static_cast<int>(options.min_level)),
        random_(std::random_device{}()) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetMaxSendMessageSize(static_cast<int>(kMaxRequestBytes));
    channel_ = grpc::CreateCustomChannel(options.server, grpc::InsecureChannelCredentials(), args);
    stub_ = v1::IngestService::NewStub(channel_);
    thread_ = std::thread([this] { Run(); });
  }

  ~AgentImpl() override { Shutdown(std::chrono::seconds(2)); }

  bool Enabled(Level level) const override {
    return static_cast<int>(level) >= min_level_.load(std::memory_order_relaxed);
  }

  void Log(Level level, std::string_view tag, std::string_view message,
           std::initializer_list<Attribute> attributes, SourceLocation location) override {
    if (!Enabled(level)) return;
    QueuedItem item;
    FillEntry(level, tag, message, 0, location, &item.entry);
    FillAttributes(attributes.begin(), attributes.end(), item.entry.mutable_attributes());
    Enqueue(std::move(item));
  }

  void Append(const EntryFields& fields) override {
    if (!Enabled(fields.level)) return;
    QueuedItem item;
    FillEntry(fields.level, fields.tag, fields.message, fields.time_unix_micros, fields.location,
              &item.entry);
    FillAttributes(fields.attributes.data(), fields.attributes.data() + fields.attributes.size(),
                   item.entry.mutable_attributes());
    Enqueue(std::move(item));
  }

  void SetUser(std::string_view user_id) override {
    QueuedItem item;
    item.kind = QueuedItem::Kind::kSetUser;
    item.user_id = FitId(user_id, kMaxUserIdBytes);
    absl::MutexLock lock(&mu_);
    // Always accepted, even into a full queue: losing a user change would
    // attribute later lines to the wrong person.
    queue_.push_back(std::move(item));
    wake_ = true;
  }

  bool Flush(std::chrono::milliseconds timeout) override {
    absl::MutexLock lock(&mu_);
    const uint64_t target = logged_;
    flush_target_ = std::max(flush_target_, target);
    wake_ = true;
    const auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return resolved_ >= target; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), absl::FromChrono(timeout));
  }

  void Shutdown(std::chrono::milliseconds timeout) override {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    Flush(timeout);
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      wake_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  AgentStats stats() const override {
    absl::MutexLock lock(&mu_);
    AgentStats s = stats_;
    s.logged = logged_;
    return s;
  }

  const std::string& device_id() const override { return device_id_; }
  const std::string& session_id() const override { return session_id_; }

 private:
  void FillEntry(Level level, std::string_view tag, std::string_view message, int64_t time_us,
                 const SourceLocation& location, v1::Entry* entry) {
    entry->set_time_unix_micros(time_us != 0 ? time_us : NowUnixMicros());
    entry->set_level(static_cast<v1::Level>(level));
    entry->set_tag(FitText(tag, kMaxTagBytes));
    entry->set_message(FitText(message, kMaxMessageBytes));
    if (location.file != nullptr) {
      std::string_view file = location.file;
      // Keep the end of a long path: the file name is the useful part.
      if (file.size() > kMaxFileBytes) file.remove_prefix(file.size() - kMaxFileBytes);
      entry->set_file(FitText(file, kMaxFileBytes));
      entry->set_line(location.line);
    }
    if (location.function != nullptr) {
      entry->set_function(FitText(location.function, kMaxFunctionBytes));
    }
  }

  void Enqueue(QueuedItem item) {
    absl::MutexLock lock(&mu_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) {
      ++stats_.dropped;
      return;
    }
    ++logged_;
    queue_.push_back(std::move(item));
    wake_ = true;
  }

  // ---- background thread ----

  void Run() {
    std::deque<QueuedItem> items;
    std::deque<agent::StreamEvent> events;
    for (;;) {
      bool stopping;
      {
        absl::MutexLock lock(&mu_);
        const auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_; };
        mu_.AwaitWithDeadline(absl::Condition(&woken), NextDeadline());
        wake_ = false;
        // Take queued items only while pending has room: back-pressure into
        // the bounded queue, so memory stays bounded while offline.
        while (!queue_.empty() && pending_.size() + items.size() < options_.max_pending_entries) {
          items.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        events.swap(events_);
        stopping = stopping_;
        flush_ = resolved_ < flush_target_;
      }
      for (agent::StreamEvent& event : events) HandleEvent(std::move(event));
      events.clear();
      for (QueuedItem& item : items) Accept(std::move(item));
      items.clear();
      if (stopping) break;
      MaybeConnect();
      SendDueBatches();
    }
    CloseStream();
  }

  // When the background thread must look again without being woken: the
  // batch age of the oldest unsent entry, or the next reconnect.
  absl::Time NextDeadline() const {
    const Clock::time_point now = Clock::now();
    Clock::time_point next = now + std::chrono::seconds(1);
    if (welcomed_ && next_unsent_ < pending_.size()) {
      next = std::min(next, pending_[next_unsent_].queued_at + options_.batch_max_age);
    }
    if ((stream_ == nullptr || stream_done_) && WantStream()) next = std::min(next, reconnect_at_);
    return absl::Now() + absl::FromChrono(std::max(next - now, Clock::duration::zero()));
  }

  void Accept(QueuedItem item) {
    if (item.kind == QueuedItem::Kind::kSetUser) {
      current_user_ = std::move(item.user_id);
      return;
    }
    PendingEntry pending;
    pending.entry = std::move(item.entry);
    if (seq_known_) pending.entry.set_seq(next_seq_++);
    pending.user_id = current_user_;
    pending.bytes = pending.entry.ByteSizeLong();
    pending.queued_at = Clock::now();
    pending_.push_back(std::move(pending));
  }

  void HandleEvent(agent::StreamEvent event) {
    if (event.type == agent::StreamEvent::Type::kDone) {
      HandleStreamEnd(event.status);
      return;
    }
    const v1::IngestResponse& response = event.response;
    if (response.has_welcome()) {
      HandleWelcome(response.welcome());
    } else if (response.has_ack()) {
      HandleAck(response.ack());
    }
    // Control messages are applied in a later version of the agent.
  }

  void HandleWelcome(const v1::Welcome& welcome) {
    welcomed_ = true;
    backoff_ = std::chrono::milliseconds(0);
    invalid_argument_failures_ = 0;
    const uint64_t watermark = welcome.watermark();
    if (!seq_known_) {
      // Memory-only agent: continue after what the collector has.
      seq_known_ = true;
      next_seq_ = watermark + 1;
      for (PendingEntry& p : pending_) p.entry.set_seq(next_seq_++);
    }
    // Entries at or below the watermark are stored already (their ack was
    // lost with the previous connection).
    size_t stored = 0;
    while (!pending_.empty() && pending_.front().entry.seq() <= watermark) {
      pending_.pop_front();
      ++stored;
    }
    next_seq_ = std::max(next_seq_, watermark + 1);
    Resolve(stored, 0, "");
    absl::MutexLock lock(&mu_);
    stats_.connected = true;
  }

  void HandleAck(const v1::Ack& ack) {
    if (inflight_.empty()) return;
    const InflightBatch batch = inflight_.front();
    inflight_.pop_front();
    const size_t count = std::min(batch.count, pending_.size());
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
    next_unsent_ -= std::min(next_unsent_, count);
    const size_t rejected = std::min<size_t>(ack.rejected_size(), count);
    Resolve(count - rejected, rejected, rejected > 0 ? ack.rejected(0).reason() : "");
  }

  void HandleStreamEnd(const grpc::Status& status) {
    stream_done_ = true;
    welcomed_ = false;
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT && !inflight_.empty() &&
        ++invalid_argument_failures_ >= kMaxInvalidArgumentRetries) {
      // Give up the oldest in-flight batch as rejected.
      const size_t count = std::min(inflight_.front().count, pending_.size());
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
      Resolve(0, count, status.error_message());
      invalid_argument_failures_ = 0;
    }
    inflight_.clear();
    next_unsent_ = 0;  // everything unacknowledged goes again
    absl::MutexLock lock(&mu_);
    stats_.connected = false;
    stats_.last_status_code = status.error_code();
    if (!status.ok()) {
      stats_.last_error = absl::StrCat("stream to ", options_.server, " ended: ",
                                       status.error_message().empty() ? "(no message)"
                                                                      : status.error_message());
    }
  }

  void Resolve(size_t acknowledged, size_t rejected, std::string_view reason) {
    absl::MutexLock lock(&mu_);
    stats_.acknowledged += acknowledged;
    stats_.rejected += rejected;
    resolved_ += acknowledged + rejected;
    if (rejected > 0) stats_.last_error = std::string(reason);
  }

  void MaybeConnect() {
    if (stream_ != nullptr && stream_done_) {
      // gRPC has made its last reaction (kDone): the reactor may go.
      stream_.reset();
      reconnect_at_ = Clock::now() + NextBackoff();
    }
    if (stream_ != nullptr || Clock::now() < reconnect_at_ || !WantStream()) return;
    v1::Hello hello;
    hello.set_agent(std::string(kAgentName));
    v1::Device* device = hello.mutable_device();
    device->set_device_id(device_id_);
    device->set_session_id(session_id_);
    device->set_user_id(current_user_);
    FillAttributes(options_.device_attributes.data(),
                   options_.device_attributes.data() + options_.device_attributes.size(),
                   device->mutable_attributes());
    stream_done_ = false;
    stream_ = std::make_unique<agent::StreamClient>(
        stub_.get(), options_.ingest_key, std::move(hello), [this](agent::StreamEvent event) {
          absl::MutexLock lock(&mu_);
          events_.push_back(std::move(event));
          wake_ = true;
        });
    stream_->Start();
    if (attempts_++ > 0) {
      absl::MutexLock lock(&mu_);
      ++stats_.reconnects;
    }
  }

  // A stream is worth opening when there is something to send, or when a
  // memory-only agent still has to learn where its seqs continue.
  bool WantStream() const { return !pending_.empty() || !seq_known_ || flush_; }

  std::chrono::milliseconds NextBackoff() {
    // Exponential backoff with jitter: the delay doubles per failure and a
    // random half of it is taken off, so a fleet of devices does not
    // reconnect in lockstep after an outage.
    backoff_ = backoff_.count() == 0 ? options_.initial_backoff
                                     : std::min(options_.max_backoff, backoff_ * 2);
    std::uniform_int_distribution<int64_t> jitter(backoff_.count() / 2, backoff_.count());
    return std::chrono::milliseconds(jitter(random_));
  }

  void SendDueBatches() {
    if (stream_ == nullptr || !welcomed_ || stream_done_) return;
    while (inflight_.size() < options_.max_batches_in_flight && next_unsent_ < pending_.size()) {
      // Is a batch due? Full by count or bytes, old enough, or flushing.
      size_t count = 0, bytes = 0;
      const std::string& user = pending_[next_unsent_].user_id;
      size_t i = next_unsent_;
      while (i < pending_.size() && count < options_.batch_max_entries &&
             bytes < options_.batch_max_bytes && pending_[i].user_id == user) {
        bytes += pending_[i].bytes;
        ++count;
        ++i;
      }
      const bool full = count >= options_.batch_max_entries || bytes >= options_.batch_max_bytes ||
                        i < pending_.size();  // cut short by a user change
      const bool old = Clock::now() - pending_[next_unsent_].queued_at >= options_.batch_max_age;
      if (!full && !old && !flush_) return;

      v1::IngestRequest request;
      v1::Batch* batch = request.mutable_batch();
      batch->set_batch_id(++last_batch_id_);
      batch->set_session_id(session_id_);
      batch->set_user_id(user);
      batch->set_sent_at_unix_micros(NowUnixMicros());
      for (size_t k = next_unsent_; k < i; ++k) *batch->add_entries() = pending_[k].entry;
      inflight_.push_back({last_batch_id_, count});
      next_unsent_ = i;
      stream_->Send(std::move(request));
      absl::MutexLock lock(&mu_);
      ++stats_.batches_sent;
    }
  }

  void CloseStream() {
    if (stream_ == nullptr) return;
    if (!stream_done_) {
      stream_->Cancel();
      // Wait for gRPC's last reaction before the reactor is destroyed.
      absl::MutexLock lock(&mu_);
      const auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        for (const auto& e : events_) {
          if (e.type == agent::StreamEvent::Type::kDone) return true;
        }
        return false;
      };
      mu_.Await(absl::Condition(&done));
    }
    stream_.reset();
  }

  const AgentOptions options_;
  const std::string device_id_;
  const std::string session_id_;
  std::atomic<int> min_level_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::IngestService::Stub> stub_;

  mutable absl::Mutex mu_;
  std::deque<QueuedItem> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<agent::StreamEvent> events_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Entries up to this count of logged_ are sent without waiting for age.
  uint64_t flush_target_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t logged_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t resolved_ ABSL_GUARDED_BY(mu_) = 0;
  AgentStats stats_ ABSL_GUARDED_BY(mu_);

  // Owned by the background thread.
  std::deque<PendingEntry> pending_;
  size_t next_unsent_ = 0;  // pending_[0, next_unsent_) are in flight
  std::deque<InflightBatch> inflight_;
  std::unique_ptr<agent::StreamClient> stream_;
  bool stream_done_ = false;
  bool welcomed_ = false;
  bool flush_ = false;  // a Flush() is waiting: send without waiting for age
  bool seq_known_ = false;
  uint64_t next_seq_ = 1;
  uint64_t last_batch_id_ = 0;
  std::string current_user_;
  int invalid_argument_failures_ = 0;
  uint64_t attempts_ = 0;
  std::chrono::milliseconds backoff_{0};
  Clock::time_point reconnect_at_{};
  std::mt19937_64 random_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Agent> Agent::Start(const AgentOptions& options, std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (options.ingest_key.empty()) {
    *error = "AgentOptions.ingest_key is empty";
    return nullptr;
  }
  if (options.batch_max_entries == 0 || options.batch_max_entries > kMaxEntriesPerBatch) {
    *error = absl::StrCat("AgentOptions.batch_max_entries must be 1-", kMaxEntriesPerBatch);
    return nullptr;
  }
  std::string device_id = options.device_id;
  if (device_id.empty()) {
    device_id = agent::LoadOrCreateDeviceId(options.storage_dir, error);
    if (device_id.empty()) return nullptr;
  }
  if (device_id.size() > kMaxDeviceIdBytes || FindInvalidUtf8(device_id) ||
      HasControlCharacter(device_id)) {
    *error = "device_id must be 1-128 bytes of UTF-8 without control characters";
    return nullptr;
  }
  return std::make_unique<AgentImpl>(options, std::move(device_id));
}

}  // namespace fieldlog
