#include "agent/src/identity.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace fieldlog::agent {

std::string NewUuidV4() {
  std::random_device device;
  std::mt19937_64 random((static_cast<uint64_t>(device()) << 32) ^ device());
  uint64_t high = random(), low = random();
  high = (high & ~uint64_t{0xF000}) | 0x4000;                    // version 4
  low = (low & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);  // RFC 4122 variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", high >> 32, (high >> 16) & 0xFFFF,
                         high & 0xFFFF, low >> 48, low & 0xFFFFFFFFFFFF);
}

std::optional<std::string> ReadStateFile(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(line));
}

bool WriteStateFile(const std::string& path, const std::string& value) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const std::string text = value + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  return ok && std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::string LoadOrCreateDeviceId(const std::string& storage_dir, bool* created,
                                 std::string* error) {
  *created = false;
  const std::string path = storage_dir + "/device_id";
  if (std::optional<std::string> id = ReadStateFile(path);
      id && !id->empty() && id->size() <= 128) {
    return *id;
  }
  std::string id = NewUuidV4();
  if (!WriteStateFile(path, id)) {
    *error = "cannot write " + path;
    return "";
  }
  *created = true;
  return id;
}

}  // namespace fieldlog::agent
