// Analytics over many lines: counts by level and tag over time (Stats), and
// which users and devices logged something (Affected).
//
// Both scan blocks: of one device, of one user's devices, or of the whole
// app (listing the small block metas of the app, then reading only the
// blocks whose time range and levels can matter). Matching runs on the
// decoded columns; no line is turned into a protobuf unless returned.
#ifndef FIELDLOG_QUERY_ANALYTICS_H_
#define FIELDLOG_QUERY_ANALYTICS_H_

#include "absl/status/statusor.h"
#include "fieldlog/v1/query.pb.h"
#include "store/catalog.h"
#include "store/store.h"

namespace fieldlog::query {

inline constexpr uint32_t kDefaultTopTags = 20;
inline constexpr uint32_t kMaxTopTags = 1000;
inline constexpr uint32_t kDefaultAffectedLimit = 100;
inline constexpr uint32_t kMaxAffectedLimit = 10000;
// Buckets a Stats answer has at most.
inline constexpr int64_t kMaxBuckets = 10000;

absl::StatusOr<v1::StatsResponse> ComputeStats(const store::Store& store,
                                               const store::AppRecord& app,
                                               const v1::StatsRequest& request, int64_t now_us);

absl::StatusOr<v1::AffectedResponse> FindAffected(const store::Store& store,
                                                  const store::AppRecord& app,
                                                  const v1::AffectedRequest& request,
                                                  int64_t now_us);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_ANALYTICS_H_
