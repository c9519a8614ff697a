// Search: one page of a user's or a device's timeline, filtered.
//
// The plan: find the devices (the one named, or the user's from the users
// index); list each device's block metas (small, one per block); drop blocks
// whose time range, levels or users cannot match; visit the rest in time order
// (oldest or newest first) keeping the best `limit` rows, and stop as soon as
// the next block cannot beat the page collected so far. So the newest page of
// a user with a year of logs reads a handful of blocks, not the year.
//
// Thread-compatible: a Search call owns its Reader (a snapshot).
#ifndef FIELDLOG_QUERY_SEARCH_H_
#define FIELDLOG_QUERY_SEARCH_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "common/worker_pool.h"
#include "fieldlog/v1/query.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "query/cursor.h"
#include "query/row_filter.h"
#include "store/catalog.h"
#include "store/store.h"

namespace fieldlog::query {

inline constexpr uint32_t kDefaultLimit = 500;
inline constexpr uint32_t kMaxLimit = 10000;

struct SearchSpec {
  store::AppRecord app;
  // Whose lines: filters.user_id (all of the user's devices, merged) and/or
  // device_id; one of them is set.
  std::string device_id;
  LineFilters filters;
  int64_t from_us = 0;  // inclusive
  int64_t to_us = 0;    // exclusive
  uint32_t limit = kDefaultLimit;
  bool newest_first = false;
  std::optional<Cursor> cursor;
};

// [from, to) of a request: to = 0 means now, from = 0 means to minus 24
// hours. INVALID_ARGUMENT for an empty range.
absl::Status ResolveTimeRange(int64_t from_us, int64_t to_us, int64_t now_us, int64_t* from_out,
                              int64_t* to_out);

// The fields of one stored row as a LogLine.
void FillLogLine(const store::BlockReader& block, size_t row, absl::string_view app,
                 absl::string_view device_id, v1::LogLine* line);

struct SearchResult {
  std::vector<v1::LogLine> lines;  // empty when Search was given lines_out
  // Set when more lines match after the last one returned.
  std::optional<Cursor> next;
  // How much work the query did, for benchmarks and slow-query logs.
  size_t blocks_read = 0;
  // Of those, the ones handed to StreamOptions::read_ahead (whichever thread
  // then read them).
  size_t blocks_read_ahead = 0;
  size_t rows_scanned = 0;
};

// Validates a wire request and fills in defaults (time range: the last 24
// hours; limit 500). INVALID_ARGUMENT with the reason otherwise.
absl::StatusOr<SearchSpec> MakeSearchSpec(const v1::SearchRequest& request,
                                          const store::AppRecord& app, int64_t now_us);

// The page; its lines go to `lines_out` when it is not null (appended, on
// the field's arena if it has one) and to SearchResult::lines otherwise.
absl::StatusOr<SearchResult> Search(
    const store::Store& store, const SearchSpec& spec,
    google::protobuf::RepeatedPtrField<v1::LogLine>* lines_out = nullptr);

// Receives a page's rows in page order: the row of the block, the app's
// name and the row's device. The block lives until the sink returns.
using RowSink = absl::FunctionRef<void(const store::BlockReader& block, size_t row,
                                       absl::string_view app, absl::string_view device_id)>;

// The page, row by row to `sink` (SearchResult::lines stays empty), for
// callers that turn rows into something other than LogLine messages
// (line_encoder.h writes their wire bytes directly).
//
// With a `run`, rows reach the sink while the search still reads, in runs of
// at least that many (each row once no block left to read can hold a row
// before it), and the rest at the end, so that a caller can send them on at
// once; if the search then fails, the rows sent are correct but the page is
// incomplete. A block whose rows go in several runs has its messages rebuilt
// for each, so runs shorter than what the caller sends at a time buy nothing.
// By default every row comes at the end.
//
// With a `read_ahead` pool as well, each block after the first is read, and
// the messages of its rows in the range rebuilt, on that pool while the
// calling thread hands the rows before it to the sink (ClaimableTask: the
// caller reads it itself if the pool has not started by then). Meant for
// long pages on a machine with a core to spare: a busy device's day of
// 10,000 lines spends about a third of its server CPU reading and rebuilding.
// A block is not read ahead once the page is full before it; the last one
// read may still have messages rebuilt for rows the page then leaves out.
inline constexpr size_t kRowsAtTheEnd = std::numeric_limits<size_t>::max();
struct StreamOptions {
  size_t run = kRowsAtTheEnd;
  WorkerPool* read_ahead = nullptr;
};
absl::StatusOr<SearchResult> SearchRows(const store::Store& store, const SearchSpec& spec,
                                        RowSink sink, StreamOptions stream = {});

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_SEARCH_H_
