#include "query/issues.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "query/search.h"
#include "store/reader.h"

namespace fieldlog::query {

absl::StatusOr<v1::ListIssuesResponse> ListIssues(const store::Store& store,
                                                  const store::AppRecord& app,
                                                  const v1::ListIssuesRequest& request,
                                                  int64_t now_us) {
  if (request.limit() > kMaxIssues) {
    return absl::InvalidArgumentError(absl::StrCat("limit is at most ", kMaxIssues));
  }
  if (request.context_lines() > kMaxIssueContext) {
    return absl::InvalidArgumentError(absl::StrCat("context_lines is at most ", kMaxIssueContext));
  }
  const uint32_t limit = request.limit() == 0 ? kDefaultIssues : request.limit();
  const uint32_t context =
      request.context_lines() == 0 ? kDefaultIssueContext : request.context_lines();
  const int64_t to = request.to_unix_micros() != 0 ? request.to_unix_micros() : now_us + 1;
  int64_t from = request.from_unix_micros() != 0 ? request.from_unix_micros()
                                                 : to - int64_t{7} * 24 * 3600 * 1'000'000;
  from = std::max(from, store.retention().CutoffMicros(app.app_id(), now_us));
  if (from >= to) return v1::ListIssuesResponse();

  store::Reader reader(store);
  // The index is oldest first; the answer is the newest `limit`.
  absl::StatusOr<std::vector<store::IssueEntry>> entries =
      reader.ListIssues(app.app_id(), from, to, request.user_id(), SIZE_MAX);
  if (!entries.ok()) return entries.status();
  const size_t first = entries->size() > limit ? entries->size() - limit : 0;

  v1::ListIssuesResponse response;
  for (size_t i = entries->size(); i-- > first;) {
    const store::IssueEntry& entry = (*entries)[i];
    v1::Issue* issue = response.add_issues();
    issue->set_time_unix_micros(entry.time_us);
    issue->set_device_id(entry.device_id);
    issue->set_seq(entry.seq);
    issue->set_kind(static_cast<v1::EntryKind>(entry.record.kind()));
    issue->set_user_id(entry.record.user_id());
    issue->set_session_id(entry.record.session_id());
    issue->set_title(entry.record.tag());
    issue->set_text(entry.record.message());
    // The device's lines up to the issue: the newest `context` before it.
    SearchSpec spec;
    spec.app = app;
    spec.device_id = entry.device_id;
    spec.from_us = entry.time_us - int64_t{24} * 3600 * 1'000'000;
    spec.to_us = entry.time_us + 1;
    spec.limit = context + 1;
    spec.newest_first = true;
    absl::StatusOr<SearchResult> lines = Search(store, spec);
    if (!lines.ok()) return lines.status();
    for (auto it = lines->lines.rbegin(); it != lines->lines.rend(); ++it) {
      *issue->add_context() = std::move(*it);
    }
  }
  return response;
}

}  // namespace fieldlog::query
