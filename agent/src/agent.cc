// The agent's implementation: Log() writes into the calling thread's ring
// (thread_rings.h, record.h); one background thread drains the rings into the
// spool (spooler.h, spool.h) every flush_interval, fsyncs it, and runs the
// sender (sender.h), which streams the spool to the collector.
//
// Threads: app threads touch only their own ring on the hot path, and mu_ for
// the rare calls (SetUser, Flush, SendIssue, ...). The background thread owns
// the spool, the spooler and the sender. gRPC's threads hand stream events to
// the sender's queue.
#include "fieldlog/agent.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/src/crash_handler.h"
#include "agent/src/identity.h"
#include "agent/src/record.h"
#include "agent/src/sender.h"
#include "agent/src/spool.h"
#include "agent/src/spooler.h"
#include "agent/src/text_fit.h"
#include "agent/src/thread_rings.h"
#include "agent/src/waker.h"
#include "common/limits.h"
#include "common/text.h"
#include "fieldlog/v1/ingest.pb.h"

namespace fieldlog {

namespace {

using agent::Spool;
using Clock = std::chrono::steady_clock;

constexpr uint8_t kGateNothing = 7;
constexpr uint8_t kKindCrash = 2, kKindIssue = 3, kKindFeedback = 4;
constexpr uint8_t kLevelInfo = 3, kLevelWarn = 4, kLevelFatal = 6;

int64_t NowMicros() { return absl::GetCurrentTimeNanos() / 1000; }

const char* ConsentName(Consent c) {
  switch (c) {
    case Consent::kPending:
      return "pending";
    case Consent::kGranted:
      return "granted";
    case Consent::kDenied:
      return "denied";
  }
  return "pending";
}

std::optional<Consent> ParseConsent(const std::string& s) {
  if (s == "pending") return Consent::kPending;
  if (s == "granted") return Consent::kGranted;
  if (s == "denied") return Consent::kDenied;
  return std::nullopt;
}

void FillAttributes(const std::vector<KeyValue>& from,
                    google::protobuf::RepeatedPtrField<v1::Attribute>* out) {
  for (const KeyValue& kv : from) {
    if (out->size() >= static_cast<int>(kMaxAttributes)) break;
    v1::Attribute* a = out->Add();
    std::string key;
    agent::FitId(kv.key, kMaxAttributeKeyBytes, &key);
    a->set_key(key.empty() ? "_" : key);
    if (const auto* s = std::get_if<std::string>(&kv.value)) {
      std::string value;
      agent::FitText(*s, kMaxAttributeValueBytes, &value);
      a->mutable_value()->set_string_value(value);
    } else if (const auto* i = std::get_if<int64_t>(&kv.value)) {
      a->mutable_value()->set_int_value(*i);
    } else if (const auto* d = std::get_if<double>(&kv.value)) {
      a->mutable_value()->set_double_value(*d);
    } else if (const auto* b = std::get_if<bool>(&kv.value)) {
      a->mutable_value()->set_bool_value(*b);
    }
  }
}

void Upsert(std::vector<KeyValue>* list, KeyValue kv) {
  for (KeyValue& existing : *list) {
    if (existing.key == kv.key) {
      existing = std::move(kv);
      return;
    }
  }
  list->push_back(std::move(kv));
}

// What Start() prepared for the agent.
struct Setup {
  AgentOptions options;
  std::string storage_dir;
  bool owns_storage_dir = false;
  std::string device_id;
  std::unique_ptr<Spool> spool;
  Spool::Recovery recovery;
  std::optional<uint64_t> seq_base;
  Consent consent = Consent::kGranted;
};

class AgentImpl final : public Agent {
 public:
  explicit AgentImpl(Setup setup)
      : options_(std::move(setup.options)),
        storage_dir_(std::move(setup.storage_dir)),
        owns_storage_dir_(setup.owns_storage_dir),
        device_id_(std::move(setup.device_id)),
        session_id_(agent::NewUuidV4()),
        rings_(options_.queue_bytes_per_thread),
        spool_(std::move(setup.spool)),
        spooler_(&rings_, &users_, spool_.get(),
                 {session_id_, options_.scrub_pii, options_.redact}),
        consent_(setup.consent),
        device_attributes_(options_.device_attributes),
        session_attributes_(options_.session_attributes) {
    agent::Sender::Options so;
    so.server = options_.server;
    so.ingest_key = options_.ingest_key;
    so.batch_max_entries = options_.batch_max_entries;
    so.batch_max_bytes = options_.batch_max_bytes;
    so.batch_max_age = options_.batch_max_age;
    so.max_in_flight = options_.max_batches_in_flight;
    so.initial_backoff = options_.initial_backoff;
    so.max_backoff = options_.max_backoff;
    so.compression = options_.compression;
    so.tls = options_.tls;
    so.tls_ca_pem = options_.tls_ca_pem;
    so.tls_server_name = options_.tls_server_name;
    so.min_upload_level = static_cast<uint8_t>(options_.min_upload_level);
    sender_ = std::make_unique<agent::Sender>(
        so, spool_.get(), setup.seq_base,
        [this](uint64_t base) {
          agent::WriteStateFile(spool_->dir() + "/seq_base", std::to_string(base));
          absl::MutexLock lock(&mu_);
          seq_base_ = base;
        },
        [this] { waker_.Wake(); });
    seq_base_ = setup.seq_base;
    if (setup.recovery.corrupt_bytes > 0) {
      spool_notes_.last_error = "spool damage found at start: " + setup.recovery.report;
      spool_notes_.corrupt_bytes_skipped = setup.recovery.corrupt_bytes;
    }
    UpdateGate();
    crash_hook_.waker = &waker_;
    if (options_.crash_handler) {
      agent::InstallCrashHandler(storage_dir_ + "/crash", session_id_, &crash_hook_);
    }
    // A crash of the previous run: its marker joins that session's timeline.
    if (std::optional<agent::CrashMarker> crash = agent::TakeCrashMarker(storage_dir_ + "/crash")) {
      const std::string message =
          absl::StrCat("the app crashed: ", agent::SignalName(crash->signal));
      const Attribute attributes[] = {{"signal", crash->signal}};
      spooler_.AppendMarkerIn(crash->session_id, crash->user_id, kLevelFatal, kKindCrash,
                              crash->time_us, "fieldlog", message, attributes);
    }
    if (setup.recovery.corrupt_bytes > 0) {
      spool_->AppendGap(0, NowMicros(),
                        absl::StrCat("the spool was damaged: ", setup.recovery.corrupt_bytes,
                                     " bytes could not be read"));
    }
    if (!session_attributes_.empty()) RecordSessionAttributes();
    thread_ = std::thread([this] { Run(); });
  }

  ~AgentImpl() override { Shutdown(std::chrono::milliseconds(0)); }

  void Log(Level level, std::string_view tag, std::string_view message,
           std::initializer_list<Attribute> attributes, const SourceLocation& location) override {
    if (!Enabled(level)) return;
    Write({static_cast<uint8_t>(level), 0, NowMicros(), users_.version(), tag, message,
           location.file, location.line, location.function, attributes.begin(), attributes.size()});
  }

  void Append(const EntryFields& e) override {
    if (!Enabled(e.level)) return;
    Write({static_cast<uint8_t>(e.level), 0,
           e.time_unix_micros != 0 ? e.time_unix_micros : NowMicros(), users_.version(), e.tag,
           e.message, e.location.file, e.location.line, e.location.function, e.attributes.data(),
           e.attributes.size()});
  }

  void SetUser(std::string_view user_id) override {
    users_.Set(user_id);
    agent::SetCrashUser(user_id);
    absl::MutexLock lock(&mu_);
    user_id_.clear();
    agent::FitId(user_id, kMaxUserIdBytes, &user_id_);
    device_changed_ = true;
  }

  void SetDeviceAttribute(KeyValue attribute) override {
    absl::MutexLock lock(&mu_);
    Upsert(&device_attributes_, std::move(attribute));
    device_changed_ = true;
    renew_stream_ = true;
    waker_.Wake();
  }

  void SetSessionAttribute(KeyValue attribute) override {
    {
      absl::MutexLock lock(&mu_);
      Upsert(&session_attributes_, std::move(attribute));
    }
    RecordSessionAttributes();
  }

  std::string SendIssue(std::string_view title, std::string_view text) override {
    std::string message(title);
    if (!text.empty()) absl::StrAppend(&message, "\n\n", std::string(text));
    return SendMarker(kKindIssue, message, title);
  }

  std::string SendFeedback(std::string_view text) override {
    return SendMarker(kKindFeedback, text, "");
  }

  void SetConsent(Consent consent) override {
    agent::WriteStateFile(storage_dir_ + "/consent", ConsentName(consent));
    absl::MutexLock lock(&mu_);
    consent_ = consent;
    if (consent == Consent::kDenied) ++wipe_requests_;
    UpdateGateLocked();
    waker_.Wake();
  }

  Consent consent() const override {
    absl::MutexLock lock(&mu_);
    return consent_;
  }

  bool Flush(std::chrono::milliseconds timeout) override {
    const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
    absl::MutexLock lock(&mu_);
    if (!running_) return false;
    const uint64_t ticket = ++flush_requests_;
    waker_.Wake();
    const auto served = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return flush_served_ >= ticket || !running_;
    };
    // Spooling is local and quick; wait for it even past a zero timeout so
    // that Flush(0) still means "on disk".
    mu_.AwaitWithDeadline(absl::Condition(&served),
                          std::max(deadline, absl::Now() + absl::Seconds(5)));
    if (flush_served_ < ticket || consent_ != Consent::kGranted) return false;
    const uint64_t target = served_target_;
    const auto resolved = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return released_ >= target || !running_;
    };
    return mu_.AwaitWithDeadline(absl::Condition(&resolved), deadline) && released_ >= target;
  }

  void Shutdown(std::chrono::milliseconds timeout) override {
    {
      absl::MutexLock lock(&mu_);
      if (!running_ || stopping_) return;
    }
    if (timeout.count() > 0) Flush(timeout);
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    waker_.Wake();
    if (thread_.joinable()) thread_.join();
    if (options_.crash_handler) agent::UninstallCrashHandler(&crash_hook_);
    if (owns_storage_dir_) {
      std::error_code ignored;
      std::filesystem::remove_all(storage_dir_, ignored);
    }
  }

  AgentStats stats() const override {
    AgentStats s;
    const agent::SenderStats sent = sender_->stats();
    s.acknowledged = sent.acknowledged;
    s.rejected = sent.rejected;
    s.not_uploaded = sent.not_uploaded;
    s.batches_sent = sent.batches_sent;
    s.reconnects = sent.reconnects;
    s.throttled = sent.throttled;
    s.connected = sent.connected;
    s.last_status_code = sent.last_status_code;
    s.last_error = sent.last_error;
    s.logged = rings_.logged();
    s.dropped = rings_.dropped();
    absl::MutexLock lock(&mu_);
    s.spooled = spool_notes_.spooled;
    s.evicted = spool_notes_.evicted;
    s.spool_bytes = spool_notes_.spool_bytes;
    s.corrupt_bytes_skipped = spool_notes_.corrupt_bytes_skipped;
    if (s.last_error.empty()) s.last_error = spool_notes_.last_error;
    return s;
  }

  const std::string& device_id() const override { return device_id_; }
  const std::string& session_id() const override { return session_id_; }

 private:
  struct SpoolNotes {
    uint64_t spooled = 0, evicted = 0, spool_bytes = 0, corrupt_bytes_skipped = 0;
    std::string last_error;
  };
  struct MarkerRequest {
    uint8_t kind;
    std::string message, title;
    uint64_t seq = 0;
    bool done = false;
  };

  // The hot path: no lock, no system call, no allocation (the first line of
  // a thread creates its ring). Past half full, or on a drop, the background
  // thread is woken rather than left to its next round (at most one wake per
  // round across all threads).
  void Write(const agent::LineFields& fields) {
    if (rings_.Local()->Log(fields)) Kick();
  }

  void Kick() {
    if (!kicked_.load(std::memory_order_relaxed) &&
        !kicked_.exchange(true, std::memory_order_acq_rel)) {
      waker_.Wake();
    }
  }

  void UpdateGate() {
    absl::MutexLock lock(&mu_);
    UpdateGateLocked();
  }
  void UpdateGateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    uint8_t gate = static_cast<uint8_t>(options_.min_level);
    if (debug_until_us_ > 0 && NowMicros() < debug_until_us_) gate = std::min<uint8_t>(gate, 2);
    if (consent_ == Consent::kDenied || stopping_) gate = kGateNothing;
    gate_.store(gate, std::memory_order_relaxed);
  }

  void RecordSessionAttributes() {
    std::vector<KeyValue> copy;
    {
      absl::MutexLock lock(&mu_);
      copy = session_attributes_;
    }
    std::vector<Attribute> views;
    for (const KeyValue& kv : copy) views.push_back(kv.view());
    if (!Enabled(Level::kInfo)) return;
    Write({kLevelInfo, 0, NowMicros(), users_.version(), "fieldlog", "session attributes", nullptr,
           0, nullptr, views.data(), views.size()});
  }

  std::string SendMarker(uint8_t kind, std::string_view message, std::string_view title) {
    auto request = std::make_shared<MarkerRequest>();
    request->kind = kind;
    request->message = std::string(message);
    request->title = std::string(title);
    absl::MutexLock lock(&mu_);
    if (!running_ || stopping_ || consent_ == Consent::kDenied) return "";
    markers_.push_back(request);
    waker_.Wake();
    const auto done = [&]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return request->done || !running_; };
    mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(10));
    if (!request->done || request->seq == 0 || !seq_base_) return "";
    return absl::StrCat(options_.console_url, "/i/", device_id_, "/", *seq_base_ + request->seq);
  }

  v1::Device BuildDevice() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::Device device;
    device.set_device_id(device_id_);
    device.set_session_id(session_id_);
    device.set_user_id(user_id_);
    FillAttributes(device_attributes_, device.mutable_attributes());
    return device;
  }

  // ---- background thread ----

  void Run() {
    crash_hook_.background_tid.store(static_cast<int>(::syscall(SYS_gettid)));
    {
      absl::MutexLock lock(&mu_);
      sender_->SetDevice(BuildDevice(), false);
      device_changed_ = false;
    }
    Clock::time_point next_sync = Clock::now() + options_.flush_interval;
    for (;;) {
      const uint32_t token = waker_.Prepare();
      kicked_.store(false, std::memory_order_relaxed);
      bool stopping, granted, device_changed, renew;
      uint64_t flush_ticket, wipes;
      std::vector<std::shared_ptr<MarkerRequest>> markers;
      v1::Device device;
      {
        absl::MutexLock lock(&mu_);
        stopping = stopping_;
        granted = consent_ == Consent::kGranted;
        flush_ticket = flush_requests_;
        wipes = wipe_requests_;
        markers.swap(markers_);
        device_changed = device_changed_;
        renew = renew_stream_;
        device_changed_ = renew_stream_ = false;
        if (device_changed) device = BuildDevice();
      }
      if (device_changed) sender_->SetDevice(std::move(device), renew);

      const uint32_t crash_requests = crash_hook_.requested.load(std::memory_order_acquire);
      const bool flush_now = sender_->TakeFlushNow();
      const bool sync_due = Clock::now() >= next_sync;
      const bool flushing = flush_ticket > flush_served_local_ || stopping || flush_now ||
                            crash_requests != crash_hook_.done.load() || !markers.empty();
      Report(spooler_.Drain());
      if (wipes != wipes_done_) {
        Report(spool_->Wipe());
        wipes_done_ = wipes;
      }
      for (auto& m : markers) {
        const Attribute title[] = {{"title", m->title}};
        m->seq = spooler_.AppendMarker(kLevelWarn, m->kind, NowMicros(), "fieldlog", m->message,
                                       m->kind == kKindIssue ? std::span<const Attribute>(title)
                                                             : std::span<const Attribute>());
      }
      if (flushing || sync_due) {
        Report(spool_->Commit());
        Report(spool_->Sync());
        next_sync = Clock::now() + options_.flush_interval;
      }
      crash_hook_.done.store(crash_requests, std::memory_order_release);
      if (flushing) sender_->FlushUpTo(spool_->last_seq());
      sender_->Step(granted && !stopping);
      const int64_t debug_until = sender_->debug_until_us();
      {
        absl::MutexLock lock(&mu_);
        if (flush_ticket > flush_served_) {
          flush_served_ = flush_ticket;
          served_target_ = spool_->last_seq();
        }
        flush_served_local_ = flush_ticket;
        released_ = spool_->released();
        seq_base_ = sender_->seq_base();
        for (auto& m : markers) m->done = true;
        spool_notes_.spooled = spooler_.spooled();
        spool_notes_.evicted = spool_->evicted();
        spool_notes_.spool_bytes = spool_->bytes();
        if (debug_until != debug_until_us_) {
          debug_until_us_ = debug_until;
        }
        UpdateGateLocked();
      }
      if (stopping) break;
      Clock::time_point deadline = std::min(next_sync, sender_->NextDeadline());
      if (debug_until > NowMicros()) {
        deadline = std::min(
            deadline, Clock::now() + std::chrono::microseconds(debug_until - NowMicros() + 1000));
      }
      waker_.Wait(token, deadline);
    }
    sender_->Close();
    absl::MutexLock lock(&mu_);
    running_ = false;
    released_ = spool_->released();
  }

  void Report(const absl::Status& status) {
    if (status.ok()) return;
    absl::MutexLock lock(&mu_);
    spool_notes_.last_error = absl::StrCat("spool: ", status.message());
  }

  const AgentOptions options_;
  const std::string storage_dir_;
  const bool owns_storage_dir_;
  const std::string device_id_;
  const std::string session_id_;
  agent::ThreadRings rings_;
  agent::UserTable users_;
  agent::Waker waker_;
  std::atomic<bool> kicked_{false};
  agent::CrashHook crash_hook_;
  std::unique_ptr<Spool> spool_;
  agent::Spooler spooler_;
  std::unique_ptr<agent::Sender> sender_;

  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Consent consent_ ABSL_GUARDED_BY(mu_);
  std::string user_id_ ABSL_GUARDED_BY(mu_);
  std::vector<KeyValue> device_attributes_ ABSL_GUARDED_BY(mu_);
  std::vector<KeyValue> session_attributes_ ABSL_GUARDED_BY(mu_);
  bool device_changed_ ABSL_GUARDED_BY(mu_) = false;
  bool renew_stream_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t flush_requests_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t flush_served_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t served_target_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t released_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t wipe_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t debug_until_us_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<uint64_t> seq_base_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<MarkerRequest>> markers_ ABSL_GUARDED_BY(mu_);
  SpoolNotes spool_notes_ ABSL_GUARDED_BY(mu_);

  // Background thread only.
  uint64_t flush_served_local_ = 0;
  uint64_t wipes_done_ = 0;
  std::thread thread_;
};

bool ValidId(const std::string& id) {
  return !id.empty() && id.size() <= kMaxDeviceIdBytes && !FindInvalidUtf8(id) &&
         !HasControlCharacter(id);
}

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
  if (options.batch_max_bytes == 0 || options.batch_max_bytes > kMaxRequestBytes / 2) {
    *error = absl::StrCat("AgentOptions.batch_max_bytes must be 1-", kMaxRequestBytes / 2);
    return nullptr;
  }
  if (options.spool_max_bytes < (1u << 20) || options.spool_max_bytes > (256u << 20)) {
    *error = "AgentOptions.spool_max_bytes must be 1-256 MiB";
    return nullptr;
  }
  if (options.flush_interval < std::chrono::milliseconds(10) ||
      options.flush_interval > std::chrono::seconds(5)) {
    *error = "AgentOptions.flush_interval must be 10 ms to 5 s";
    return nullptr;
  }
  if (options.max_batches_in_flight == 0) {
    *error = "AgentOptions.max_batches_in_flight must be at least 1";
    return nullptr;
  }
  Setup setup;
  setup.options = options;
  setup.options.queue_bytes_per_thread =
      std::max<size_t>(options.queue_bytes_per_thread, 128 * 1024);
  setup.storage_dir = options.storage_dir;
  if (setup.storage_dir.empty()) {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = absl::StrCat(base && *base ? base : "/tmp", "/fieldlog-agent-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      *error = "cannot create a temporary storage directory in " + pattern;
      return nullptr;
    }
    setup.storage_dir = pattern;
    setup.owns_storage_dir = true;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(setup.storage_dir, ec);
    if (ec) {
      *error = "cannot create storage_dir " + setup.storage_dir + ": " + ec.message();
      return nullptr;
    }
  }
  bool device_created = false;
  setup.device_id = options.device_id;
  if (setup.device_id.empty()) {
    setup.device_id = agent::LoadOrCreateDeviceId(setup.storage_dir, &device_created, error);
    if (setup.device_id.empty()) return nullptr;
  }
  if (!ValidId(setup.device_id)) {
    *error = "device_id must be 1-128 bytes of UTF-8 without control characters";
    return nullptr;
  }
  Spool::Options spool_options;
  spool_options.dir = setup.storage_dir + "/spool";
  spool_options.max_bytes = options.spool_max_bytes;
  spool_options.fsync = options.spool_fsync;
  absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(spool_options, &setup.recovery);
  if (!spool.ok()) {
    *error = std::string(spool.status().message());
    return nullptr;
  }
  setup.spool = *std::move(spool);
  // The seq base lives with the spool: a spool that is new for a device id
  // made now starts at 0; otherwise it is learned from the collector.
  const std::string base_path = spool_options.dir + "/seq_base";
  if (std::optional<std::string> base = agent::ReadStateFile(base_path)) {
    char* end = nullptr;
    const uint64_t value = std::strtoull(base->c_str(), &end, 10);
    if (end != base->c_str()) setup.seq_base = value;
  } else if (setup.recovery.segments == 0 && device_created) {
    setup.seq_base = 0;
    agent::WriteStateFile(base_path, "0");
  }
  setup.consent = options.default_consent;
  if (std::optional<std::string> c = agent::ReadStateFile(setup.storage_dir + "/consent")) {
    if (std::optional<Consent> parsed = ParseConsent(*c)) setup.consent = *parsed;
  }
  return std::make_unique<AgentImpl>(std::move(setup));
}

}  // namespace fieldlog
