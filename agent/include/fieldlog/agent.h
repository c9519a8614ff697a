// fieldlog agent: keep an app's log lines safe on the device and ship them to
// a fieldlog collector.
//
//   fieldlog::AgentOptions options;
//   options.server = "logs.example.com:4317";
//   options.ingest_key = "fl_ik_...";
//   options.storage_dir = app_data_dir + "/fieldlog";
//   std::string error;
//   auto agent = fieldlog::Agent::Start(options, &error);  // nullptr: see error
//   agent->SetUser("alice@example.com");
//   FIELDLOG_INFO(*agent, "Checkout", "payment sheet opened", {"cart_items", 3});
//
// The contract (docs/agent.md says it at length):
// - Log() never waits on the disk or the network, takes no lock shared with
//   other logging threads, makes no system call and allocates nothing for an
//   ordinary line: it copies the line into the calling thread's bounded
//   in-memory buffer. When that buffer is full the line is dropped and
//   counted, and the timeline shows an "N lines dropped" marker where it
//   happened.
// - A background thread moves buffered lines into an append-only, CRC-framed
//   spool in storage_dir every flush_interval (and fsyncs it), gives each a
//   sequence number strictly increasing for the device across restarts, and
//   streams them to the collector. A line is deleted from the spool only when
//   the collector has acknowledged it (or refused it), so a crash, kill -9 or
//   power cut loses at most the last flush_interval of lines; the rest goes
//   out on the next start.
// - The spool is capped (spool_max_bytes); over the cap the oldest lines go
//   first, trace and debug before info, info before warn and above, and a
//   gap marker says how many.
// - Lines longer than the ingest limits are cut with a visible marker, never
//   dropped; invalid UTF-8 is replaced with U+FFFD.
//
// Thread-safe: every method may be called from any thread.
#ifndef FIELDLOG_AGENT_H_
#define FIELDLOG_AGENT_H_

#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace fieldlog {

// Severity, lowest first. The numbering matches the wire protocol.
enum class Level : uint8_t {
  kTrace = 1,
  kDebug = 2,
  kInfo = 3,
  kWarn = 4,
  kError = 5,
  kFatal = 6,
};

// Whether the user agreed to have logs uploaded.
enum class Consent : uint8_t {
  kPending = 0,  // lines are kept in the spool, nothing is uploaded
  kGranted = 1,  // lines are uploaded
  kDenied = 2,   // nothing is kept: Log() discards and the spool is wiped
};

// How the agent compresses what it uploads.
enum class Compression : uint8_t {
  kNone = 0,  // for a collector on the same machine or network
  kGzip = 1,  // gRPC's gzip message compression (zlib's default level)
  kZstd = 2,  // each batch compressed with zstd by the agent: fewer bytes than
              // gzip at a fraction of its CPU; against a collector whose
              // Welcome does not list zstd (an older one), gRPC's gzip
};

// A typed key-value pair attached to one log line: string, integer, floating
// point or boolean. It only *refers* to its key and string value, so building
// one never allocates; they must stay valid during the call that takes it.
class Attribute {
 public:
  enum class Type : uint8_t { kString, kInt, kDouble, kBool };

  constexpr Attribute(std::string_view key, std::string_view value)
      : key_(key), type_(Type::kString), string_(value) {}
  constexpr Attribute(std::string_view key, const char* value)
      : key_(key), type_(Type::kString), string_(value == nullptr ? "" : value) {}
  Attribute(std::string_view key, const std::string& value)
      : key_(key), type_(Type::kString), string_(value) {}
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  constexpr Attribute(std::string_view key, T value)
      : key_(key), type_(Type::kInt), bits_(static_cast<int64_t>(value)) {}
  constexpr Attribute(std::string_view key, double value)
      : key_(key), type_(Type::kDouble), bits_(std::bit_cast<int64_t>(value)) {}
  constexpr Attribute(std::string_view key, float value)
      : Attribute(key, static_cast<double>(value)) {}
  constexpr Attribute(std::string_view key, bool value)
      : key_(key), type_(Type::kBool), bits_(value ? 1 : 0) {}

  constexpr std::string_view key() const { return key_; }
  constexpr Type type() const { return type_; }
  constexpr std::string_view string_value() const { return string_; }
  constexpr int64_t int_value() const { return bits_; }
  constexpr double double_value() const { return std::bit_cast<double>(bits_); }
  constexpr bool bool_value() const { return bits_ != 0; }
  // The value of a number or bool as 8 bytes: the integer, the double's bits,
  // or 0/1; 0 for a string. (One field for all three lets the agent copy an
  // attribute without looking at its type.)
  constexpr int64_t number_bits() const { return bits_; }

 private:
  std::string_view key_;
  Type type_;
  std::string_view string_;  // empty unless kString
  int64_t bits_ = 0;
};

// A typed key-value pair that owns its strings: device and session facts.
struct KeyValue {
  using Value = std::variant<std::string, int64_t, double, bool>;

  KeyValue(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  KeyValue(std::string k, const char* v) : key(std::move(k)), value(std::string(v)) {}
  KeyValue(std::string k, std::string_view v) : key(std::move(k)), value(std::string(v)) {}
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  KeyValue(std::string k, T v) : key(std::move(k)), value(static_cast<int64_t>(v)) {}
  KeyValue(std::string k, double v) : key(std::move(k)), value(v) {}
  KeyValue(std::string k, bool v) : key(std::move(k)), value(v) {}

  // A view of this pair, valid while it lives.
  Attribute view() const;

  std::string key;
  Value value;
};

// Where a line was logged; the FIELDLOG_* macros fill it in.
struct SourceLocation {
  const char* file = nullptr;
  uint32_t line = 0;
  const char* function = nullptr;
};

// One entry as the redaction hook sees it, before it is spooled. The hook may
// rewrite the message and the string attribute values, or drop the entry.
struct RedactableEntry {
  Level level = Level::kInfo;
  std::string tag;
  std::string message;
  std::vector<KeyValue> attributes;
  bool drop = false;
};

struct AgentOptions {
  // Collector address, host:port.
  std::string server = "127.0.0.1:4317";
  // The app's ingest key (write-only; safe to ship in the app).
  std::string ingest_key;
  // Where the agent keeps its device id, consent and spool. Use a directory
  // that survives app restarts (the app's private data directory). Empty: a
  // fresh temporary directory removed at Shutdown, so nothing survives a
  // restart (for tools and tests only).
  std::string storage_dir;
  // Fixed device id (1-128 bytes). Empty: generated once (UUIDv4) and kept in
  // storage_dir.
  std::string device_id;
  // Facts about the device, sent with every connection. Well-known keys:
  // "device.model", "os.name", "os.version", "app.version", "locale".
  std::vector<KeyValue> device_attributes;
  // Facts about this session (one app start); recorded in the timeline as a
  // "session attributes" entry at start and at every SetSessionAttribute.
  std::vector<KeyValue> session_attributes;

  // Lines below this level are discarded by Log() at the cost of one branch.
  Level min_level = Level::kTrace;
  // Lines below this level are kept in the spool but not uploaded (the
  // collector's Control messages may change it for this device).
  Level min_upload_level = Level::kTrace;

  // Each logging thread's in-memory buffer, in bytes (rounded up to a power
  // of two, at least 128 KiB). A 100-byte line takes about 160 bytes.
  size_t queue_bytes_per_thread = 256 * 1024;
  // How often buffered lines are written to the spool and fsynced: the most a
  // crash or power cut can lose. 10 ms to 5 s.
  std::chrono::milliseconds flush_interval{200};
  // fsync the spool every flush_interval. Without it a power cut (not a
  // crash or kill -9) may lose more than flush_interval.
  bool spool_fsync = true;
  // Byte cap of the spool on disk: 1-256 MiB.
  size_t spool_max_bytes = 8 << 20;

  // A batch is sent when it holds this many entries or bytes, or when its
  // oldest entry has waited this long. The sender keeps a buffer for the
  // open batch and one for its compressed frame, each about batch_max_bytes.
  size_t batch_max_entries = 512;
  size_t batch_max_bytes = 256 * 1024;
  std::chrono::milliseconds batch_max_age{1000};
  // Batches sent and not yet acknowledged, at most.
  size_t max_batches_in_flight = 4;
  // Reconnect backoff: starts here, doubles per failure up to the maximum,
  // with random jitter. A server that throttles (RESOURCE_EXHAUSTED or
  // UNAVAILABLE with grpc-retry-pushback-ms) is obeyed instead.
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{30000};
  // How batches are compressed on the wire (saves mobile data; docs/agent.md
  // has the bytes and CPU of each).
  Compression compression = Compression::kZstd;

  // TLS to the collector. tls_ca_pem: PEM root certificates to trust instead
  // of the system's (for a private CA). tls_server_name: the name to check
  // the server's certificate against when it differs from the host in
  // `server`.
  bool tls = false;
  std::string tls_ca_pem;
  std::string tls_server_name;

  // Base of the links SendIssue/SendFeedback return:
  // <console_url>/i/<device_id>/<seq>.
  std::string console_url = "https://console.fieldlog.dev";

  // Sees every entry before it is spooled (on the background thread, never in
  // Log()); it may rewrite or drop it.
  std::function<void(RedactableEntry&)> redact;
  // Replace e-mail addresses with "[email]" and card numbers (13-19 digits
  // passing the Luhn check) with "[card]" in messages and string attributes.
  bool scrub_pii = false;

  // Consent at the first start; afterwards the last SetConsent() is kept in
  // storage_dir and wins.
  Consent default_consent = Consent::kGranted;

  // Record a crash marker (signal, time) when the app dies of SIGSEGV,
  // SIGBUS, SIGILL, SIGFPE or SIGABRT, with the lines still in memory; both
  // go out on the next start. Installs process-wide signal handlers (the
  // previous ones run afterwards).
  bool crash_handler = false;
};

struct AgentStats {
  uint64_t logged = 0;        // lines accepted by Log() and Append()
  uint64_t dropped = 0;       // lines dropped because a thread's buffer was full
  uint64_t spooled = 0;       // entries written to the spool (lines and markers)
  uint64_t evicted = 0;       // lines evicted from the spool by its byte cap
  uint64_t acknowledged = 0;  // lines the collector stored (or had stored)
  uint64_t rejected = 0;      // lines the collector refused (see last_error)
  uint64_t not_uploaded = 0;  // lines below the upload level, not sent
  uint64_t batches_sent = 0;
  uint64_t reconnects = 0;
  uint64_t throttled = 0;              // times the server asked us to wait
  uint64_t spool_bytes = 0;            // bytes on disk now
  uint64_t corrupt_bytes_skipped = 0;  // damaged spool bytes found at start
  bool connected = false;
  // gRPC status code the last stream ended with (0 = OK or none yet), e.g.
  // 16 UNAUTHENTICATED for a wrong ingest key.
  int last_status_code = 0;
  // The last problem the agent saw: a connection error, a rejection reason,
  // spool damage.
  std::string last_error;
};

// Fields of one entry for Agent::Append, for importers and bridges that carry
// their own timestamps. Views: valid during the call.
struct EntryFields {
  Level level = Level::kInfo;
  std::string_view tag;
  std::string_view message;
  // Unix microseconds by the device clock; 0 means now.
  int64_t time_unix_micros = 0;
  std::span<const Attribute> attributes;
  SourceLocation location;
};

class Agent {
 public:
  // Opens the spool and starts the background thread. Fails only on bad
  // options or an unusable storage_dir; an unreachable collector is not an
  // error, the agent keeps entries and retries.
  static std::unique_ptr<Agent> Start(const AgentOptions& options, std::string* error);

  // Shutdown(0): what is buffered is spooled; nothing waits for the network.
  virtual ~Agent() = default;

  // True when Log() would keep a line of this level: one load and one branch.
  bool Enabled(Level level) const {
    return static_cast<uint8_t>(level) >= gate_.load(std::memory_order_relaxed);
  }

  // Records one line. Never blocks, never allocates for a line within the
  // limits.
  virtual void Log(Level level, std::string_view tag, std::string_view message,
                   std::initializer_list<Attribute> attributes = {},
                   const SourceLocation& location = {}) = 0;

  // Like Log, with the fields (and an optional device timestamp) given whole.
  virtual void Append(const EntryFields& entry) = 0;

  // The signed-in user; "" after logout. Applies to lines logged after it.
  virtual void SetUser(std::string_view user_id) = 0;
  // A device fact; sent from the next connection on (the agent reconnects
  // when idle to send it).
  virtual void SetDeviceAttribute(KeyValue attribute) = 0;
  // A session fact; recorded in the timeline at once.
  virtual void SetSessionAttribute(KeyValue attribute) = 0;

  // Records an ISSUE (or FEEDBACK) entry and sends it at once; returns the
  // link support can open: <console_url>/i/<device_id>/<seq>. Returns "" when
  // the seq cannot be known yet (a fixed device_id with a new storage_dir,
  // before the collector was first reached) or consent is denied.
  virtual std::string SendIssue(std::string_view title, std::string_view text) = 0;
  virtual std::string SendFeedback(std::string_view text) = 0;

  // Consent; kDenied wipes the spool. Kept in storage_dir.
  virtual void SetConsent(Consent consent) = 0;
  virtual Consent consent() const = 0;

  // Writes everything logged before the call to the spool, sends it and
  // waits until each line has been acknowledged or refused by the collector.
  // Returns false on timeout (the lines stay spooled and go later) and, at
  // once after spooling, when consent is not granted.
  virtual bool Flush(std::chrono::milliseconds timeout) = 0;

  // Flush(timeout), then spools what is still buffered, stops the background
  // thread and closes the stream. Lines not acknowledged by then stay in the
  // spool for the next start. Log() after Shutdown discards.
  virtual void Shutdown(std::chrono::milliseconds timeout) = 0;

  virtual AgentStats stats() const = 0;
  virtual const std::string& device_id() const = 0;
  virtual const std::string& session_id() const = 0;

 protected:
  Agent() = default;
  // Lowest level Log() keeps; 7 keeps nothing.
  std::atomic<uint8_t> gate_{1};
};

}  // namespace fieldlog

// Logging macros that capture file, line and function and skip all argument
// evaluation below the agent's minimum level.
#define FIELDLOG_LOG(agent, level, tag, message, ...)                        \
  do {                                                                       \
    if ((agent).Enabled(level)) {                                            \
      (agent).Log((level), (tag), (message), {__VA_ARGS__},                  \
                  ::fieldlog::SourceLocation{__FILE__, __LINE__, __func__}); \
    }                                                                        \
  } while (0)
#define FIELDLOG_TRACE(agent, tag, message, ...) \
  FIELDLOG_LOG(agent, ::fieldlog::Level::kTrace, tag, message, __VA_ARGS__)
#define FIELDLOG_DEBUG(agent, tag, message, ...) \
  FIELDLOG_LOG(agent, ::fieldlog::Level::kDebug, tag, message, __VA_ARGS__)
#define FIELDLOG_INFO(agent, tag, message, ...) \
  FIELDLOG_LOG(agent, ::fieldlog::Level::kInfo, tag, message, __VA_ARGS__)
#define FIELDLOG_WARN(agent, tag, message, ...) \
  FIELDLOG_LOG(agent, ::fieldlog::Level::kWarn, tag, message, __VA_ARGS__)
#define FIELDLOG_ERROR(agent, tag, message, ...) \
  FIELDLOG_LOG(agent, ::fieldlog::Level::kError, tag, message, __VA_ARGS__)
#define FIELDLOG_FATAL(agent, tag, message, ...) \
  FIELDLOG_LOG(agent, ::fieldlog::Level::kFatal, tag, message, __VA_ARGS__)

#endif  // FIELDLOG_AGENT_H_
