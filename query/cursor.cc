#include "query/cursor.h"

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "store/coding.h"

namespace fieldlog::query {
namespace {
constexpr char kCursorVersion = 1;
}

std::string EncodeCursor(const Cursor& cursor) {
  std::string raw;
  raw.push_back(kCursorVersion);
  raw.push_back(cursor.newest_first ? 1 : 0);
  store::PutSignedVarint64(&raw, cursor.time_us);
  store::PutVarint64(&raw, cursor.seq);
  raw.append(cursor.device_id);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<Cursor> DecodeCursor(absl::string_view text) {
  std::string raw;
  const auto invalid = [] {
    return absl::InvalidArgumentError("cursor is not one this server returned");
  };
  if (!absl::WebSafeBase64Unescape(text, &raw) || raw.size() < 2 || raw[0] != kCursorVersion) {
    return invalid();
  }
  Cursor cursor;
  cursor.newest_first = raw[1] == 1;
  absl::string_view in(raw);
  in.remove_prefix(2);
  if (!store::GetSignedVarint64(&in, &cursor.time_us) || !store::GetVarint64(&in, &cursor.seq)) {
    return invalid();
  }
  cursor.device_id = std::string(in);
  return cursor;
}

}  // namespace fieldlog::query
