#include "server/crash_trace.h"

#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

namespace fieldlog::server {
namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

void Write(const char* text) { (void)!::write(STDERR_FILENO, text, ::strlen(text)); }

void OnFatalSignal(int signal) {
  // Only async-signal-safe calls: write, backtrace (warmed up below, so it
  // does not load libgcc_s now), backtrace_symbols_fd (no malloc), raise.
  Write("fieldlog-server: fatal signal ");
  Write(::sigdescr_np(signal) != nullptr ? ::sigdescr_np(signal) : "?");
  Write("; the failing thread's stack:\n");
  void* frames[64];
  const int depth = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, depth, STDERR_FILENO);
  // SA_RESETHAND put the default action back: die of the signal as before.
  ::raise(signal);
}

}  // namespace

void InstallCrashTrace() {
  void* warm_up[1];
  ::backtrace(warm_up, 1);
  struct sigaction action = {};
  action.sa_handler = &OnFatalSignal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (const int signal : kFatalSignals) ::sigaction(signal, &action, nullptr);
}

}  // namespace fieldlog::server
