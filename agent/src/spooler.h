// Spooler: moves buffered lines from every thread's ring into the spool, on
// the agent's background thread. This is where a line is made to fit the
// contract (UTF-8, limits, cut markers), scrubbed and redacted, given its
// seq, and encoded as an Entry (wire.h).
//
// Contract: Drain() takes everything published in the rings when it starts,
// merges the threads' lines by time (each thread's own order is kept),
// appends them to the spool and commits it. A thread's "N lines dropped"
// record becomes a GAP entry where the drops happened. UserTable maps the
// user version each line carries to the user id SetUser() set.
#ifndef FIELDLOG_AGENT_SRC_SPOOLER_H_
#define FIELDLOG_AGENT_SRC_SPOOLER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/src/record.h"
#include "agent/src/spool.h"
#include "agent/src/thread_rings.h"
#include "fieldlog/agent.h"

namespace fieldlog::agent {

class UserTable {
 public:
  // The version Log() stamps on a line: one relaxed load.
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void Set(std::string_view user_id);
  // The user of `version` (the newest known if it was forgotten).
  std::string Get(uint32_t version) const;
  // Forgets the oldest versions below `version` (the spooler has passed
  // it), keeping the last 256.
  void Trim(uint32_t version);

 private:
  std::atomic<uint32_t> version_{0};
  mutable std::mutex mu_;  // std::mutex: see thread_rings.h
  std::map<uint32_t, std::string> users_{{0, ""}};
};

class Spooler {
 public:
  struct Options {
    std::string session_id;
    bool scrub_pii = false;
    std::function<void(RedactableEntry&)> redact;
  };

  Spooler(ThreadRings* rings, UserTable* users, Spool* spool, Options options);

  // Moves everything buffered now into the spool and commits it.
  absl::Status Drain();

  // Appends a marker entry (ISSUE, FEEDBACK, CRASH, session attributes) made
  // by the agent itself; returns its seq. Committed by the next Drain().
  uint64_t AppendMarker(uint8_t level, uint8_t kind, int64_t time_us, std::string_view tag,
                        std::string_view message, std::span<const Attribute> attributes);

  // The same, for an entry of another session and user (a crash of the
  // previous run).
  uint64_t AppendMarkerIn(std::string_view session_id, std::string_view user_id, uint8_t level,
                          uint8_t kind, int64_t time_us, std::string_view tag,
                          std::string_view message, std::span<const Attribute> attributes);

  uint64_t spooled() const { return spooled_; }

 private:
  void SpoolLine(const LineRecord& line);
  uint64_t AppendEntry(uint8_t level, uint8_t kind, int64_t time_us, std::string_view tag,
                       std::string_view message, std::span<const Attribute> attributes);
  void SetUserVersion(uint32_t version);

  ThreadRings* const rings_;
  UserTable* const users_;
  Spool* const spool_;
  const Options options_;
  uint32_t user_version_ = 0;
  bool context_set_ = false;
  uint64_t spooled_ = 0;

  // Reused across lines.
  std::vector<std::shared_ptr<ThreadRing>> live_;
  LineRecord line_;
  std::string body_, scratch_, scrubbed_;
  RedactableEntry redactable_;
};

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_SPOOLER_H_
