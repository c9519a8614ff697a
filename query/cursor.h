// Cursors: where a page of a timeline ended. The timeline's order is
// (time, device_id, seq), a total order, so "everything after this key" is
// exact: pages never repeat or skip a line, even while new lines arrive.
// On the wire a cursor is an opaque web-safe base64 string.
#ifndef FIELDLOG_QUERY_CURSOR_H_
#define FIELDLOG_QUERY_CURSOR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fieldlog::query {

struct TimelineKey {
  int64_t time_us = 0;
  absl::string_view device_id;
  uint64_t seq = 0;

  friend bool operator<(const TimelineKey& a, const TimelineKey& b) {
    if (a.time_us != b.time_us) return a.time_us < b.time_us;
    if (a.device_id != b.device_id) return a.device_id < b.device_id;
    return a.seq < b.seq;
  }
};

struct Cursor {
  int64_t time_us = 0;
  std::string device_id;
  uint64_t seq = 0;
  bool newest_first = false;

  TimelineKey key() const { return {time_us, device_id, seq}; }
};

std::string EncodeCursor(const Cursor& cursor);
// INVALID_ARGUMENT for a string that is not a cursor.
absl::StatusOr<Cursor> DecodeCursor(absl::string_view text);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_CURSOR_H_
