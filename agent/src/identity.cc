#include "agent/src/identity.h"

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
  high = (high & ~uint64_t{0xF000}) | 0x4000;                            // version 4
  low = (low & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);          // RFC 4122 variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", high >> 32, (high >> 16) & 0xFFFF,
                         high & 0xFFFF, low >> 48, low & 0xFFFFFFFFFFFF);
}

std::string LoadOrCreateDeviceId(const std::string& storage_dir, std::string* error) {
  if (storage_dir.empty()) return NewUuidV4();
  std::error_code ec;
  std::filesystem::create_directories(storage_dir, ec);
  if (ec) {
    *error = "cannot create storage_dir " + storage_dir + ": " + ec.message();
    return "";
  }
  const std::filesystem::path path = std::filesystem::path(storage_dir) / "device_id";
  {
    std::ifstream in(path);
    std::string id;
    if (in && std::getline(in, id)) {
      id = std::string(absl::StripAsciiWhitespace(id));
      if (!id.empty() && id.size() <= 128) return id;
    }
  }
  // Write to a temporary file and rename, so a crash never leaves a torn id.
  const std::string id = NewUuidV4();
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << "\n";
    out.flush();
    if (!out) {
      *error = "cannot write " + tmp.string();
      return "";
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    *error = "cannot write " + path.string() + ": " + ec.message();
    return "";
  }
  return id;
}

}  // namespace fieldlog::agent
