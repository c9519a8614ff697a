#include "benchmarks/proc_stats.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fieldlog::bench {
namespace {

// "VmHWM:    123456 kB" -> bytes.
std::optional<uint64_t> KilobytesField(const std::string& status, absl::string_view name) {
  const size_t at = status.find(std::string(name) + ":");
  if (at == std::string::npos) return std::nullopt;
  const size_t end = status.find('\n', at);
  absl::string_view line(status.data() + at + name.size() + 1,
                         (end == std::string::npos ? status.size() : end) - at - name.size() - 1);
  line = absl::StripAsciiWhitespace(line);
  absl::ConsumeSuffix(&line, "kB");
  uint64_t kb = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &kb)) return std::nullopt;
  return kb * 1024;
}

}  // namespace

std::optional<ProcessUsage> ReadProcessUsage(pid_t pid) {
  std::ifstream stat_file(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces: fields are counted after its ')'.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(paren + 2), ' ', absl::SkipEmpty());
  // Fields 14 (utime) and 15 (stime), in clock ticks; index 0 here is field 3.
  uint64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return std::nullopt;
  }
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  ProcessUsage usage;
  usage.cpu = absl::Seconds(static_cast<double>(utime + stime) / static_cast<double>(ticks));

  std::ifstream status_file(absl::StrCat("/proc/", pid, "/status"));
  std::stringstream status;
  status << status_file.rdbuf();
  usage.peak_rss_bytes = KilobytesField(status.str(), "VmHWM").value_or(0);
  usage.rss_bytes = KilobytesField(status.str(), "VmRSS").value_or(0);
  // "Threads:" has no unit; KilobytesField multiplies by 1024.
  usage.threads = static_cast<int>(KilobytesField(status.str(), "Threads").value_or(0) / 1024);
  return usage;
}

uint64_t DirectoryBytes(const std::string& path) {
  std::error_code error;
  uint64_t bytes = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(path, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file(error)) bytes += it->file_size(error);
  }
  return bytes;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        return std::string(absl::StripAsciiWhitespace(absl::string_view(line).substr(colon + 1)));
      }
    }
  }
  return "";
}

}  // namespace fieldlog::bench
