// RocksDB key layouts. Every layout is documented in store/README.md.
//
// Device ids are length-prefixed with one byte so that a prefix of one id
// never collides with another id ("dev1" vs "dev10"); user ids end with a 0
// byte instead (ids never hold control characters), so that users sort by id
// and a prefix of an id finds them ("alice" finds alice@example.com).
// common/limits.h bounds device ids to 128 bytes and user ids to 255.
// Integers are big-endian so that keys sort in numeric order.
#ifndef FIELDLOG_STORE_KEYS_H_
#define FIELDLOG_STORE_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace fieldlog::store {

// Apps are numbered by the catalog; the number, not the name, is in every key.
using AppId = uint32_t;

// app (4) | len (1) | device_id.  The key of a device's record in `devices`,
// and the prefix of its blocks in `blocks` and `block_meta`.
std::string DeviceKey(AppId app, absl::string_view device_id);

// DeviceKey | first_seq (8): one block of a device, in seq order.
std::string BlockKey(AppId app, absl::string_view device_id, uint64_t first_seq);

// app (4) | user_id | 0: prefix of one user's devices in `users`.
std::string UserPrefix(AppId app, absl::string_view user_id);

// UserPrefix | device_id: one (user, device) pair.
std::string UserDeviceKey(AppId app, absl::string_view user_id, absl::string_view device_id);

// app (4) | prefix: every user whose id starts with `user_id_prefix`.
std::string UserSearchPrefix(AppId app, absl::string_view user_id_prefix);

// DeviceKey | user_id: one (device, user) pair in `device_users`, the
// reverse of `users`.
std::string DeviceUserKey(AppId app, absl::string_view device_id, absl::string_view user_id);

// app (4) | time (8, sign bit flipped) | len (1) | device_id | seq (8): an
// entry in a time-ordered index (`issues`, `audit`).
std::string TimeKey(AppId app, int64_t time_us, absl::string_view device_id, uint64_t seq);
// app (4) | time (8): where the entries from `time_us` on start.
std::string TimePrefix(AppId app, int64_t time_us);

// app (4) | level (1) | slot (8, sign bit flipped) | len (1) | device_id |
// first_seq (8): a key of the blocks' time index (block_times.h), naming
// the block (device_id, first_seq) under the hour or day (level 'h' or 'd')
// that starts at slot_us.
std::string BlockTimeKey(AppId app, char level, int64_t slot_us, absl::string_view device_id,
                         uint64_t first_seq);
// app (4) | level (1) | slot (8): where the keys of that slot on start.
std::string BlockTimePrefix(AppId app, char level, int64_t slot_us);

// app (4): prefix of everything of one app in the per-app column families.
std::string AppPrefix(AppId app);

struct ParsedBlockKey {
  AppId app;
  absl::string_view device_id;
  uint64_t first_seq;
};
std::optional<ParsedBlockKey> ParseBlockKey(absl::string_view key);

struct ParsedUserDeviceKey {
  AppId app;
  absl::string_view user_id;
  absl::string_view device_id;
};
std::optional<ParsedUserDeviceKey> ParseUserDeviceKey(absl::string_view key);

struct ParsedDeviceUserKey {
  AppId app;
  absl::string_view device_id;
  absl::string_view user_id;
};
std::optional<ParsedDeviceUserKey> ParseDeviceUserKey(absl::string_view key);

struct ParsedTimeKey {
  AppId app;
  int64_t time_us;
  absl::string_view device_id;
  uint64_t seq;
};
std::optional<ParsedTimeKey> ParseTimeKey(absl::string_view key);

struct ParsedBlockTimeKey {
  AppId app;
  char level;
  int64_t slot_us;
  absl::string_view device_id;
  uint64_t first_seq;
};
std::optional<ParsedBlockTimeKey> ParseBlockTimeKey(absl::string_view key);

// The smallest key greater than every key that starts with `prefix`, for
// iterate_upper_bound. Empty when there is none (all 0xFF).
std::string PrefixSuccessor(absl::string_view prefix);

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_KEYS_H_
