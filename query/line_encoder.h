// Stored rows as the wire bytes of v1::LogLine, written straight from the
// block, for the pages the gRPC Search sends.
//
// Building a LogLine message per row and then serialising it was about 40% of
// a page's server CPU: a heap string for every field longer than 15 bytes
// (device and session ids, the message), arena bookkeeping, a size pass, a
// UTF-8 check of text the collector validated on the way in, and a copy. The
// bytes written here are exactly those a LogLine filled by FillLogLine
// (search.h) serialises to: fields in number order, empty strings and zero
// numbers left out. tests/line_encoder_test.cc holds the two to that.
#ifndef FIELDLOG_QUERY_LINE_ENCODER_H_
#define FIELDLOG_QUERY_LINE_ENCODER_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "store/block.h"

namespace fieldlog::query {

// Appends `row` of `block` to `out` as field 1 of a SearchResponse (the
// repeated `lines`): tag, length, LogLine bytes.
void AppendLogLineField(const store::BlockReader& block, size_t row, absl::string_view app,
                        absl::string_view device_id, std::string* out);

// Appends SearchResponse.next_cursor (field 2) to `out`, when not empty.
void AppendNextCursorField(absl::string_view cursor, std::string* out);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_LINE_ENCODER_H_
