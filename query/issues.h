// Issues and feedback users sent from the app, each with the lines its
// device logged just before (what the user was doing).
#ifndef FIELDLOG_QUERY_ISSUES_H_
#define FIELDLOG_QUERY_ISSUES_H_

#include "absl/status/statusor.h"
#include "fieldlog/v1/query.pb.h"
#include "store/catalog.h"
#include "store/store.h"

namespace fieldlog::query {

inline constexpr uint32_t kDefaultIssues = 50;
inline constexpr uint32_t kMaxIssues = 1000;
inline constexpr uint32_t kDefaultIssueContext = 20;
inline constexpr uint32_t kMaxIssueContext = 200;

absl::StatusOr<v1::ListIssuesResponse> ListIssues(const store::Store& store,
                                                  const store::AppRecord& app,
                                                  const v1::ListIssuesRequest& request,
                                                  int64_t now_us);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_ISSUES_H_
