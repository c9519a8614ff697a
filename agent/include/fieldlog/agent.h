// fieldlog agent: ship an app's log lines to a fieldlog collector.
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
// The contract:
// - Log() never waits on the network or the disk. It copies the entry into a
//   bounded in-memory queue and returns; a background thread does the rest.
//   When the queue is full the entry is dropped and counted (stats().dropped)
//   rather than block the caller.
// - Every entry gets a sequence number, strictly increasing for the device;
//   the collector stores each (device, seq) once, so resends never duplicate.
// - Entries are batched (by count, bytes and age), streamed over one gRPC
//   stream, and forgotten only when the collector acknowledges them. Lost
//   connections are retried with exponential backoff and jitter, and
//   unacknowledged entries are sent again.
// - Lines longer than the ingest limits are cut with a visible marker, never
//   dropped; invalid UTF-8 is replaced with U+FFFD.
//
// Thread-safe: every method may be called from any thread.
#ifndef FIELDLOG_AGENT_H_
#define FIELDLOG_AGENT_H_

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
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

// A typed key-value pair: string, integer, floating point or boolean.
struct Attribute {
  using Value = std::variant<std::string, int64_t, double, bool>;

  Attribute(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  Attribute(std::string k, const char* v) : key(std::move(k)), value(std::string(v)) {}
  Attribute(std::string k, std::string_view v) : key(std::move(k)), value(std::string(v)) {}
  Attribute(std::string k, int v) : key(std::move(k)), value(int64_t{v}) {}
  Attribute(std::string k, int64_t v) : key(std::move(k)), value(v) {}
  Attribute(std::string k, double v) : key(std::move(k)), value(v) {}
  Attribute(std::string k, bool v) : key(std::move(k)), value(v) {}

  std::string key;
  Value value;
};

// Where a line was logged; the FIELDLOG_* macros fill it in.
struct SourceLocation {
  const char* file = nullptr;
  uint32_t line = 0;
  const char* function = nullptr;
};

struct AgentOptions {
  // Collector address, host:port.
  std::string server = "127.0.0.1:4317";
  // The app's ingest key (write-only; safe to ship in the app).
  std::string ingest_key;
  // Where the agent keeps its device id. Empty: nothing is kept, and a new
  // device id is generated per start unless device_id is set.
  std::string storage_dir;
  // Fixed device id (1-128 bytes). Empty: generated once (UUIDv4) and kept in
  // storage_dir.
  std::string device_id;
  // Facts about the device, sent with every connection. Well-known keys:
  // "device.model", "os.name", "os.version", "app.version", "locale".
  std::vector<Attribute> device_attributes;
  // Entries below this level are discarded in Log() at the cost of one branch.
  Level min_level = Level::kTrace;
  // Entries held in memory waiting for the background thread; Log() drops
  // (and counts) beyond this.
  size_t queue_capacity = 65536;
  // Entries accepted but not yet acknowledged, at most. While the collector
  // is unreachable the queue fills up to this; later entries are dropped and
  // counted.
  size_t max_pending_entries = 200000;
  // A batch is sent when it holds this many entries or bytes, or when its
  // oldest entry is this old.
  size_t batch_max_entries = 512;
  size_t batch_max_bytes = 256 * 1024;
  std::chrono::milliseconds batch_max_age{1000};
  // Batches sent and not yet acknowledged, at most.
  size_t max_batches_in_flight = 4;
  // Reconnect backoff: starts here, doubles per failure up to the maximum,
  // with random jitter.
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{30000};
};

struct AgentStats {
  uint64_t logged = 0;        // entries accepted by Log()
  uint64_t dropped = 0;       // entries dropped because a queue was full
  uint64_t acknowledged = 0;  // entries the collector stored (or had stored)
  uint64_t rejected = 0;      // entries the collector refused (see last_error)
  uint64_t batches_sent = 0;
  uint64_t reconnects = 0;
  bool connected = false;
  // gRPC status code the last stream ended with (0 = OK or none yet), e.g.
  // 16 UNAUTHENTICATED for a wrong ingest key.
  int last_status_code = 0;
  // The last problem the agent saw: a connection error or a rejection reason.
  std::string last_error;
};

// Fields of one entry for Agent::Append, for importers and bridges that carry
// their own timestamps.
struct EntryFields {
  Level level = Level::kInfo;
  std::string_view tag;
  std::string_view message;
  // Unix microseconds by the device clock; 0 means now.
  int64_t time_unix_micros = 0;
  std::vector<Attribute> attributes;
  SourceLocation location;
};

class Agent {
 public:
  // Starts the background thread. Fails only on bad options (no ingest key,
  // an unusable storage_dir); an unreachable collector is not an error, the
  // agent keeps entries and retries.
  static std::unique_ptr<Agent> Start(const AgentOptions& options, std::string* error);

  // Shuts down with a 2-second grace period (see Shutdown).
  virtual ~Agent() = default;

  // Records one line. Never blocks on I/O.
  virtual void Log(Level level, std::string_view tag, std::string_view message,
                   std::initializer_list<Attribute> attributes = {},
                   SourceLocation location = {}) = 0;

  // Like Log, with the fields (and an optional device timestamp) given whole.
  virtual void Append(const EntryFields& entry) = 0;

  // The signed-in user; "" after logout. Applies to entries logged after it.
  virtual void SetUser(std::string_view user_id) = 0;

  // True when Log() would keep an entry of this level.
  virtual bool Enabled(Level level) const = 0;

  // Sends everything logged before the call now and waits until each entry
  // has been acknowledged or rejected by the collector, or dropped. Returns
  // false on timeout.
  virtual bool Flush(std::chrono::milliseconds timeout) = 0;

  // Flush(timeout), then stops the background thread and closes the stream.
  // Entries not acknowledged by then are lost (in this memory-only agent).
  // Log() after Shutdown drops.
  virtual void Shutdown(std::chrono::milliseconds timeout) = 0;

  virtual AgentStats stats() const = 0;
  virtual const std::string& device_id() const = 0;
  virtual const std::string& session_id() const = 0;
};

}  // namespace fieldlog

// Logging macros that capture file, line and function and skip all argument
// evaluation below the agent's minimum level.
#define FIELDLOG_LOG(agent, level, tag, message, ...)                                \
  do {                                                                               \
    if ((agent).Enabled(level)) {                                                    \
      (agent).Log((level), (tag), (message), {__VA_ARGS__},                          \
                  ::fieldlog::SourceLocation{__FILE__, __LINE__, __func__});         \
    }                                                                                \
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
