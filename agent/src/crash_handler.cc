#include "agent/src/crash_handler.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fieldlog::agent {
namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
constexpr size_t kNumSignals = sizeof(kSignals) / sizeof(kSignals[0]);

// Static storage: the handler may not allocate.
char marker_path[4096];
char session[256];
char user[512];
std::atomic<uint32_t> user_length{0};
std::atomic<CrashHook*> active_hook{nullptr};
struct sigaction previous[kNumSignals];
bool installed = false;

void Append(char* buf, size_t* len, size_t cap, const char* text, size_t n) {
  for (size_t i = 0; i < n && *len < cap; ++i) buf[(*len)++] = text[i];
}

void AppendNumber(char* buf, size_t* len, size_t cap, int64_t value) {
  char digits[24];
  size_t n = 0;
  uint64_t v = value < 0 ? static_cast<uint64_t>(-value) : static_cast<uint64_t>(value);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  if (value < 0) Append(buf, len, cap, "-", 1);
  while (n > 0) Append(buf, len, cap, &digits[--n], 1);
}

void OnCrash(int signal, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  // 1. The marker: "signal time_us session user\n".
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  char text[1024];
  size_t len = 0;
  AppendNumber(text, &len, sizeof(text), signal);
  Append(text, &len, sizeof(text), " ", 1);
  AppendNumber(text, &len, sizeof(text),
               static_cast<int64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000);
  Append(text, &len, sizeof(text), " ", 1);
  Append(text, &len, sizeof(text), session, ::strnlen(session, sizeof(session)));
  Append(text, &len, sizeof(text), " ", 1);
  Append(text, &len, sizeof(text), user,
         std::min<size_t>(user_length.load(std::memory_order_acquire), sizeof(user)));
  Append(text, &len, sizeof(text), "\n", 1);
  const int fd = ::open(marker_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ssize_t ignored = ::write(fd, text, len);
    (void)ignored;
    ::fsync(fd);
    ::close(fd);
  }
  // 2. Lines still in memory: ask the background thread to spool them.
  CrashHook* hook = active_hook.load(std::memory_order_acquire);
  if (hook != nullptr && hook->waker != nullptr &&
      hook->background_tid.load() != static_cast<int>(::syscall(SYS_gettid))) {
    const uint32_t target = hook->requested.fetch_add(1) + 1;
    hook->waker->Wake();
    for (int i = 0; i < 500 && hook->done.load(std::memory_order_acquire) < target; ++i) {
      const timespec ms{0, 1000000};
      ::nanosleep(&ms, nullptr);
    }
  }
  // 3. Whatever was there before us: a handler runs now; the default
  // action runs when the signal is raised again.
  errno = saved_errno;
  for (size_t i = 0; i < kNumSignals; ++i) {
    if (kSignals[i] != signal) continue;
    ::sigaction(signal, &previous[i], nullptr);
    if (previous[i].sa_flags & SA_SIGINFO) {
      previous[i].sa_sigaction(signal, info, context);
      return;
    }
    if (previous[i].sa_handler == SIG_IGN) return;
    if (previous[i].sa_handler != SIG_DFL) {
      previous[i].sa_handler(signal);
      return;
    }
  }
  ::raise(signal);
}

}  // namespace

void InstallCrashHandler(const std::string& path, std::string_view session_id, CrashHook* hook) {
  std::strncpy(marker_path, path.c_str(), sizeof(marker_path) - 1);
  const size_t n = std::min(session_id.size(), sizeof(session) - 1);
  std::memcpy(session, session_id.data(), n);
  session[n] = '\0';
  active_hook.store(hook, std::memory_order_release);
  if (installed) return;
  installed = true;
  for (size_t i = 0; i < kNumSignals; ++i) {
    struct sigaction action {};
    action.sa_sigaction = OnCrash;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    ::sigaction(kSignals[i], &action, &previous[i]);
  }
}

void UninstallCrashHandler(CrashHook* hook) {
  CrashHook* expected = hook;
  if (!active_hook.compare_exchange_strong(expected, nullptr) || !installed) return;
  for (size_t i = 0; i < kNumSignals; ++i) ::sigaction(kSignals[i], &previous[i], nullptr);
  installed = false;
}

void SetCrashUser(std::string_view user_id) {
  const size_t n = std::min(user_id.size(), sizeof(user));
  user_length.store(0, std::memory_order_release);
  std::memcpy(user, user_id.data(), n);
  user_length.store(static_cast<uint32_t>(n), std::memory_order_release);
}

std::optional<CrashMarker> TakeCrashMarker(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  in.close();
  ::unlink(path.c_str());
  std::istringstream fields(line);
  CrashMarker marker;
  if (!(fields >> marker.signal >> marker.time_us)) return std::nullopt;
  fields >> marker.session_id;
  std::getline(fields >> std::ws, marker.user_id);
  return marker;
}

std::string SignalName(int signal) {
  switch (signal) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGILL:
      return "SIGILL";
    case SIGFPE:
      return "SIGFPE";
    case SIGABRT:
      return "SIGABRT";
    default:
      return "signal " + std::to_string(signal);
  }
}

}  // namespace fieldlog::agent
