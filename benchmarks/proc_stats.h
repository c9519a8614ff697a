// What the kernel says a process has used: CPU time from /proc/<pid>/stat
// (user + system, all threads) and memory from /proc/<pid>/status (VmHWM, the
// peak resident set; VmRSS, the current one). Linux only, which is where the
// benchmarks run.
#ifndef FIELDLOG_BENCHMARKS_PROC_STATS_H_
#define FIELDLOG_BENCHMARKS_PROC_STATS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"

namespace fieldlog::bench {

struct ProcessUsage {
  absl::Duration cpu;        // user + system time so far
  uint64_t peak_rss_bytes;   // VmHWM
  uint64_t rss_bytes;        // VmRSS
  int threads;               // Threads
};

// nullopt when the process is gone or /proc cannot be read.
std::optional<ProcessUsage> ReadProcessUsage(pid_t pid);

// Bytes of the regular files under `path`, recursively (0 if it is missing).
uint64_t DirectoryBytes(const std::string& path);

// The first "model name" of /proc/cpuinfo, or "".
std::string CpuModel();

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_PROC_STATS_H_
