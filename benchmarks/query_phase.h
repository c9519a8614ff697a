// The query phase of fieldlog-bench: the questions support staff ask, timed
// one at a time over gRPC (QueryService/Search) against the loaded server.
//
//   user page     a user's newest 500 lines, across her devices
//   device page   a device's newest 500 lines
//   device day    every line of one device over the day, oldest first,
//                 following cursors (lines/s is what a "show me the whole day"
//                 view or an export gets)
//   user text     a user's lines containing the rare token (most users have
//                 none, so the whole of her day is searched)
//   app text      the rare token across the whole app: which users and
//                 devices logged it (QueryService/Affected; against a server
//                 without it, one Search per device, `fanout` at a time)
//
// Each answer is checked against what the fleet logged (counts), so a fast
// wrong answer shows up as a problem rather than as a good figure.
#ifndef FIELDLOG_BENCHMARKS_QUERY_PHASE_H_
#define FIELDLOG_BENCHMARKS_QUERY_PHASE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "benchmarks/fleet.h"
#include "benchmarks/histogram.h"

namespace fieldlog::bench {

struct QueryPhaseOptions {
  std::string address;
  std::string read_token;
  std::string app;
  int repeats = 100;  // queries of each kind
  int fanout = 4;     // concurrent calls of the app-wide text search
  bool app_text = true;
  bool progress = false;
};

struct QueryResult {
  Histogram user_page_us;
  Histogram device_page_us;
  Histogram device_day_us;
  uint64_t device_day_lines = 0;
  absl::Duration device_day_time;
  Histogram user_text_us;
  absl::Duration app_text_time;
  uint64_t app_text_matches = 0;
  std::string app_text_method;
  uint64_t expected_rare = 0;
  std::vector<std::string> problems;  // answers that did not match the data
};

absl::StatusOr<QueryResult> RunQueryPhase(const Fleet& fleet, const QueryPhaseOptions& options);

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_QUERY_PHASE_H_
