// The optional crash handler: when the app dies of SIGSEGV, SIGBUS, SIGILL,
// SIGFPE or SIGABRT it writes a small marker file (signal, time, session,
// user) using only async-signal-safe calls, asks the agent's background
// thread to move the lines still in memory to the spool (waiting at most
// 500 ms, and not at all when the background thread itself crashed), then
// lets the previous handler (or the default action) run.
//
// The next start reads the marker (TakeCrashMarker) and records a CRASH
// entry in the crashed session's timeline, after the lines before it.
//
// Process-wide: one agent at a time owns the handler; Uninstall restores the
// previous handlers.
#ifndef FIELDLOG_AGENT_SRC_CRASH_HANDLER_H_
#define FIELDLOG_AGENT_SRC_CRASH_HANDLER_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/src/waker.h"

namespace fieldlog::agent {

struct CrashHook {
  Waker* waker = nullptr;
  // Set by the handler; the background thread drains, then sets `done`.
  std::atomic<uint32_t> requested{0};
  std::atomic<uint32_t> done{0};
  // The background thread's kernel thread id (the handler does not wait for
  // itself).
  std::atomic<int> background_tid{0};
};

// `marker_path` and `session_id` are copied into static storage.
void InstallCrashHandler(const std::string& marker_path, std::string_view session_id,
                         CrashHook* hook);
void UninstallCrashHandler(CrashHook* hook);
// Keeps the user the marker names current (called by SetUser).
void SetCrashUser(std::string_view user_id);

struct CrashMarker {
  int signal = 0;
  int64_t time_us = 0;
  std::string session_id;
  std::string user_id;
};
// Reads and deletes the marker a crash left, if any.
std::optional<CrashMarker> TakeCrashMarker(const std::string& marker_path);
// "SIGSEGV" and the like.
std::string SignalName(int signal);

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_CRASH_HANDLER_H_
