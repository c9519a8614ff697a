// The HTTP JSON API and the web console, on fieldlog-server's HTTP port.
//
// The API mirrors the query service over QueryHandlers (so the same
// authorisation and audit trail apply), with the JSON shapes of the CLI
// (common/json_format.h). The caller's read token comes in the Authorization
// header (Bearer), never in a URL. Errors are JSON: {"error": "...", "code":
// "INVALID_ARGUMENT"} with the matching HTTP status.
//
//   GET /api/v1/whoami?app=A                    the app the token reads
//   GET /api/v1/apps/A/search?user=&device=&session=&from=&to=&level=&tag=
//       &text=&regex=&attr=k=v&limit=&cursor=&order=newest
//                                               {"lines": [...], "next_cursor": "..."}
//   GET /api/v1/apps/A/devices?user=U           {"devices": [...]}
//   GET /api/v1/apps/A/devices/D                one device, with its users
//   GET /api/v1/apps/A/users?prefix=P           {"users": [...]}
//   GET /api/v1/apps/A/stats?user=&device=&from=&to=&interval=
//   GET /api/v1/apps/A/affected?text=|regex=&from=&to=&level=&limit=
//   GET /api/v1/apps/A/issues?user=&from=&to=&limit=&context=
//   GET /api/v1/apps/A/lines/D/SEQ              one line (what an issue link names)
//   GET /api/v1/apps/A/tail?<search filters>&backlog=N
//       text/event-stream: "event: lines" with {"lines": [...]} as new lines arrive
//
// Times (from, to) are RFC 3339 or Unix microseconds; interval is seconds.
// The console is served at / (and /i/DEVICE/SEQ, the links apps show users).
#ifndef FIELDLOG_QUERY_HTTP_API_H_
#define FIELDLOG_QUERY_HTTP_API_H_

#include "query/handlers.h"
#include "query/tail.h"

namespace httplib {
class Server;
}

namespace fieldlog::query {

// Live tails over HTTP at once, at most (each holds an HTTP thread).
inline constexpr int kMaxHttpTails = 4;

void MountHttpApi(httplib::Server* http, QueryHandlers* handlers, TailHub* hub);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_HTTP_API_H_
