// QueryHandlers: the query side's operations, independent of the protocol.
// Each authorises the caller (a read token reads its own app, the admin token
// every app), records the read in the audit trail, and does the work. The
// gRPC QueryService and the HTTP API are thin adapters over these.
//
// Thread-safe.
#ifndef FIELDLOG_QUERY_HANDLERS_H_
#define FIELDLOG_QUERY_HANDLERS_H_

#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "fieldlog/v1/query.pb.h"
#include "query/access.h"
#include "query/search.h"
#include "store/store.h"

namespace fieldlog::query {

// Who is asking: the credential they presented and where they are.
struct Caller {
  std::optional<std::string> secret;
  std::string peer;
};

class QueryHandlers {
 public:
  explicit QueryHandlers(store::Store* store) : store_(store) {}

  // One page of a search: its lines and, when more match, next_cursor.
  absl::StatusOr<v1::SearchResponse> Search(const Caller& caller, const v1::SearchRequest& request);
  // The same, built in `response` (which may live on an arena: a page of
  // thousands of lines is then built without an allocation per string).
  absl::Status SearchInto(const Caller& caller, const v1::SearchRequest& request,
                          v1::SearchResponse* response);
  // The same, each line of the page handed to `sink` in page order, and
  // `next_cursor` set when more match. On error the sink may have seen rows
  // already: the caller must then drop what it made of them. Nothing it
  // made may be sent before this returns OK (the read's audit record is
  // written meanwhile).
  absl::Status SearchEach(const Caller& caller, const v1::SearchRequest& request, RowSink sink,
                          std::string* next_cursor);
  // The same for a caller that sends lines while the search runs: rows
  // reach `sink` in runs as they are found, as `stream` asks (SearchRows).
  // `audited` runs exactly once, on any thread, before or after
  // this returns: OK once the read's audit record is durable, from when on
  // lines may be sent, or the error that kept it from the trail (or that
  // refused the search), and then nothing may be sent. The returned status is
  // the search's own.
  absl::Status SearchStreaming(const Caller& caller, const v1::SearchRequest& request, RowSink sink,
                               StreamOptions stream, absl::AnyInvocable<void(absl::Status)> audited,
                               std::string* next_cursor);
  absl::StatusOr<v1::ListDevicesResponse> ListDevices(const Caller& caller,
                                                      const v1::ListDevicesRequest& request);
  absl::StatusOr<v1::DeviceDetails> GetDevice(const Caller& caller,
                                              const v1::GetDeviceRequest& request);
  absl::StatusOr<v1::FindUsersResponse> FindUsers(const Caller& caller,
                                                  const v1::FindUsersRequest& request);
  absl::StatusOr<v1::StatsResponse> Stats(const Caller& caller, const v1::StatsRequest& request);
  absl::StatusOr<v1::AffectedResponse> Affected(const Caller& caller,
                                                const v1::AffectedRequest& request);
  absl::StatusOr<v1::ListIssuesResponse> ListIssues(const Caller& caller,
                                                    const v1::ListIssuesRequest& request);
  // Authorises and audits a tail; the caller then runs it.
  absl::StatusOr<ReadAccess> AuthorizeTail(const Caller& caller, const v1::TailRequest& request);
  // One line by device and seq (what an issue link points at).
  absl::StatusOr<v1::LogLine> FindLine(const Caller& caller, const std::string& app,
                                       const std::string& device_id, uint64_t seq);
  // The app the caller reads: a read token's own app, or `app` for the admin.
  absl::StatusOr<ReadAccess> WhoAmI(const Caller& caller, const std::string& app);

  store::Store* store() const { return store_; }

 private:
  absl::StatusOr<ReadAccess> Authorize(const Caller& caller, absl::string_view app) const;
  // Records the read in the audit trail and runs `read` meanwhile; returns
  // read's status once the record is durable, or the record's error (then
  // nothing the read found may leave).
  absl::Status AuditedRead(const Caller& caller, const ReadAccess& access, absl::string_view action,
                           absl::string_view user_id, absl::string_view device_id,
                           absl::string_view details, absl::FunctionRef<absl::Status()> read);

  store::Store* const store_;
};

// The filters of a search, in words, for the audit trail.
std::string DescribeFilters(const v1::SearchRequest& request);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_HANDLERS_H_
