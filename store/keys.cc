#include "store/keys.h"

#include "absl/strings/string_view.h"
#include "store/coding.h"

namespace fieldlog::store {
namespace {

void PutShortString(std::string* out, absl::string_view s) {
  // Callers validate lengths; clamp defensively so a bug cannot corrupt order.
  const size_t n = s.size() > 255 ? 255 : s.size();
  out->push_back(static_cast<char>(n));
  out->append(s.data(), n);
}

bool GetShortString(absl::string_view* in, absl::string_view* s) {
  if (in->empty()) return false;
  const auto n = static_cast<uint8_t>(in->front());
  if (in->size() < 1u + n) return false;
  *s = in->substr(1, n);
  in->remove_prefix(1 + n);
  return true;
}

}  // namespace

std::string AppPrefix(AppId app) {
  std::string key;
  PutFixed32BE(&key, app);
  return key;
}

std::string DeviceKey(AppId app, absl::string_view device_id) {
  std::string key = AppPrefix(app);
  PutShortString(&key, device_id);
  return key;
}

std::string BlockKey(AppId app, absl::string_view device_id, uint64_t first_seq) {
  std::string key = DeviceKey(app, device_id);
  PutFixed64BE(&key, first_seq);
  return key;
}

std::string UserPrefix(AppId app, absl::string_view user_id) {
  std::string key = AppPrefix(app);
  key.append(user_id.data(), user_id.size());
  key.push_back('\0');
  return key;
}

std::string UserSearchPrefix(AppId app, absl::string_view user_id_prefix) {
  std::string key = AppPrefix(app);
  key.append(user_id_prefix.data(), user_id_prefix.size());
  return key;
}

std::string DeviceUserKey(AppId app, absl::string_view device_id, absl::string_view user_id) {
  std::string key = DeviceKey(app, device_id);
  key.append(user_id.data(), user_id.size());
  return key;
}

std::string TimeKey(AppId app, int64_t time_us, absl::string_view device_id, uint64_t seq) {
  std::string key = AppPrefix(app);
  // Flipping the sign bit makes signed times sort as unsigned bytes.
  PutFixed64BE(&key, static_cast<uint64_t>(time_us) ^ (uint64_t{1} << 63));
  PutShortString(&key, device_id);
  PutFixed64BE(&key, seq);
  return key;
}

std::string TimePrefix(AppId app, int64_t time_us) {
  std::string key = AppPrefix(app);
  PutFixed64BE(&key, static_cast<uint64_t>(time_us) ^ (uint64_t{1} << 63));
  return key;
}

std::optional<ParsedTimeKey> ParseTimeKey(absl::string_view key) {
  if (key.size() < 12) return std::nullopt;
  ParsedTimeKey parsed;
  parsed.app = DecodeFixed32BE(key.data());
  parsed.time_us = static_cast<int64_t>(DecodeFixed64BE(key.data() + 4) ^ (uint64_t{1} << 63));
  key.remove_prefix(12);
  if (!GetShortString(&key, &parsed.device_id) || key.size() != 8) return std::nullopt;
  parsed.seq = DecodeFixed64BE(key.data());
  return parsed;
}

std::string BlockTimePrefix(AppId app, char level, int64_t slot_us) {
  std::string key = AppPrefix(app);
  key.push_back(level);
  PutFixed64BE(&key, static_cast<uint64_t>(slot_us) ^ (uint64_t{1} << 63));
  return key;
}

std::string BlockTimeKey(AppId app, char level, int64_t slot_us, absl::string_view device_id,
                         uint64_t first_seq) {
  std::string key = BlockTimePrefix(app, level, slot_us);
  PutShortString(&key, device_id);
  PutFixed64BE(&key, first_seq);
  return key;
}

std::optional<ParsedBlockTimeKey> ParseBlockTimeKey(absl::string_view key) {
  if (key.size() < 13) return std::nullopt;
  ParsedBlockTimeKey parsed;
  parsed.app = DecodeFixed32BE(key.data());
  parsed.level = key[4];
  parsed.slot_us = static_cast<int64_t>(DecodeFixed64BE(key.data() + 5) ^ (uint64_t{1} << 63));
  key.remove_prefix(13);
  if (!GetShortString(&key, &parsed.device_id) || key.size() != 8) return std::nullopt;
  parsed.first_seq = DecodeFixed64BE(key.data());
  return parsed;
}

std::string UserDeviceKey(AppId app, absl::string_view user_id, absl::string_view device_id) {
  std::string key = UserPrefix(app, user_id);
  key.append(device_id.data(), device_id.size());
  return key;
}

std::optional<ParsedBlockKey> ParseBlockKey(absl::string_view key) {
  if (key.size() < 4) return std::nullopt;
  ParsedBlockKey parsed;
  parsed.app = DecodeFixed32BE(key.data());
  key.remove_prefix(4);
  if (!GetShortString(&key, &parsed.device_id) || key.size() != 8) return std::nullopt;
  parsed.first_seq = DecodeFixed64BE(key.data());
  return parsed;
}

std::optional<ParsedUserDeviceKey> ParseUserDeviceKey(absl::string_view key) {
  if (key.size() < 4) return std::nullopt;
  ParsedUserDeviceKey parsed;
  parsed.app = DecodeFixed32BE(key.data());
  key.remove_prefix(4);
  const size_t end = key.find('\0');
  if (end == absl::string_view::npos) return std::nullopt;
  parsed.user_id = key.substr(0, end);
  parsed.device_id = key.substr(end + 1);
  return parsed;
}

std::optional<ParsedDeviceUserKey> ParseDeviceUserKey(absl::string_view key) {
  if (key.size() < 4) return std::nullopt;
  ParsedDeviceUserKey parsed;
  parsed.app = DecodeFixed32BE(key.data());
  key.remove_prefix(4);
  if (!GetShortString(&key, &parsed.device_id)) return std::nullopt;
  parsed.user_id = key;
  return parsed;
}

std::string PrefixSuccessor(absl::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(s.back());
    if (last != 0xFF) {
      ++last;
      return s;
    }
    s.pop_back();
  }
  return s;
}

}  // namespace fieldlog::store
