#include "query/http_api.h"

#include <atomic>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/json_format.h"
#include "common/time_util.h"
#include "httplib.h"
#include "query/web_assets.h"

namespace fieldlog::query {
namespace {

int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

void SendJson(httplib::Response& res, const nlohmann::ordered_json& body, int status = 200) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json; charset=utf-8");
}

void SendError(httplib::Response& res, const absl::Status& status) {
  SendJson(
      res,
      {{"error", std::string(status.message())}, {"code", absl::StatusCodeToString(status.code())}},
      HttpStatus(status.code()));
}

Caller CallerOf(const httplib::Request& req) {
  Caller caller;
  const std::string header = req.get_header_value("Authorization");
  absl::string_view value = header;
  if (absl::ConsumePrefix(&value, "Bearer ") || absl::ConsumePrefix(&value, "bearer ")) {
    caller.secret = std::string(value);
  }
  caller.peer = absl::StrCat("http:", req.remote_addr, ":", req.remote_port);
  return caller;
}

std::string Param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : "";
}

// A time parameter: RFC 3339, or Unix microseconds; 0 when absent.
absl::StatusOr<int64_t> TimeParam(const httplib::Request& req, const char* name) {
  const std::string text = Param(req, name);
  if (text.empty()) return 0;
  int64_t micros;
  if (absl::SimpleAtoi(text, &micros)) return micros;
  absl::StatusOr<int64_t> parsed = ParseRfc3339(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", parsed.status().message()));
  }
  return parsed;
}

absl::StatusOr<uint32_t> NumberParam(const httplib::Request& req, const char* name) {
  const std::string text = Param(req, name);
  uint32_t value = 0;
  if (!text.empty() && !absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be a number"));
  }
  return value;
}

// The filters and range of a search from query parameters.
absl::StatusOr<v1::SearchRequest> SearchRequestOf(const httplib::Request& req,
                                                  const std::string& app) {
  v1::SearchRequest request;
  request.set_app(app);
  request.set_user_id(Param(req, "user"));
  request.set_device_id(Param(req, "device"));
  request.set_session_id(Param(req, "session"));
  request.set_text(Param(req, "text"));
  request.set_regex(Param(req, "regex"));
  request.set_cursor(Param(req, "cursor"));
  request.set_newest_first(Param(req, "order") == "newest");
  if (const std::string level = Param(req, "level"); !level.empty()) {
    std::optional<v1::Level> parsed = ParseLevel(level);
    if (!parsed) return absl::InvalidArgumentError(absl::StrCat("level '", level, "' is unknown"));
    request.set_min_level(*parsed);
  }
  for (size_t i = 0; i < req.get_param_value_count("tag"); ++i) {
    request.add_tags(req.get_param_value("tag", i));
  }
  for (size_t i = 0; i < req.get_param_value_count("attr"); ++i) {
    const std::string attr = req.get_param_value("attr", i);
    const size_t equals = attr.find('=');
    if (equals == std::string::npos || equals == 0) {
      return absl::InvalidArgumentError(absl::StrCat("attr '", attr, "' is not key=value"));
    }
    v1::AttributeFilter* filter = request.add_attributes();
    filter->set_key(attr.substr(0, equals));
    filter->set_value(attr.substr(equals + 1));
  }
  absl::StatusOr<int64_t> from = TimeParam(req, "from");
  absl::StatusOr<int64_t> to = TimeParam(req, "to");
  absl::StatusOr<uint32_t> limit = NumberParam(req, "limit");
  if (!from.ok()) return from.status();
  if (!to.ok()) return to.status();
  if (!limit.ok()) return limit.status();
  request.set_from_unix_micros(*from);
  request.set_to_unix_micros(*to);
  request.set_limit(*limit);
  return request;
}

nlohmann::ordered_json LinesJson(const google::protobuf::RepeatedPtrField<v1::LogLine>& lines) {
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (const v1::LogLine& line : lines) {
    nlohmann::ordered_json j = LineToJson(line);
    // The console sorts and positions by these; strings would need parsing.
    j["time_us"] = line.time_unix_micros();
    j["kind"] = std::string(KindName(line.kind()));
    array.push_back(std::move(j));
  }
  return array;
}

// Serves `route` with the app name from the path (match 1).
void AppRoute(
    httplib::Server* http, const std::string& pattern,
    std::function<void(const httplib::Request&, httplib::Response&, const std::string&)> handler) {
  http->Get(pattern,
            [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
              handler(req, res, req.matches[1].str());
            });
}

// One live tail over server-sent events: wakes when the hub says the
// followed device or user has new lines (and once a second), then sends them.
struct HttpTail {
  std::unique_ptr<TailFollower> follower;
  TailHub* hub = nullptr;
  uint64_t subscription = 0;
  absl::Mutex mu;
  bool woken ABSL_GUARDED_BY(mu) = false;
  bool sent_backlog = false;
  absl::Time last_write = absl::Now();
};

std::atomic<int> open_http_tails{0};

}  // namespace

void MountHttpApi(httplib::Server* http, QueryHandlers* handlers, TailHub* hub) {
  // --- the console ---
  for (const WebAsset& asset : WebAssets()) {
    const std::string path = asset.path == "index.html" ? "/" : "/" + std::string(asset.path);
    http->Get(path, [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_content(std::string(asset.content), std::string(asset.content_type));
    });
  }
  // Issue links (<console>/i/DEVICE/SEQ) open the console, which reads the path.
  http->Get(R"(/i/(.+)/(\d+))", [](const httplib::Request&, httplib::Response& res) {
    for (const WebAsset& asset : WebAssets()) {
      if (asset.path == "index.html") {
        res.set_content(std::string(asset.content), std::string(asset.content_type));
      }
    }
  });

  // --- the JSON API ---
  http->Get("/api/v1/whoami", [handlers](const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<ReadAccess> access = handlers->WhoAmI(CallerOf(req), Param(req, "app"));
    if (!access.ok()) return SendError(res, access.status());
    SendJson(res,
             {{"app", access->app.name()},
              {"credential", access->who.kind == store::CREDENTIAL_KIND_ADMIN ? "admin" : "read"}});
  });

  AppRoute(
      http, R"(/api/v1/apps/([^/]+)/search)",
      [handlers](const httplib::Request& req, httplib::Response& res, const std::string& app) {
        absl::StatusOr<v1::SearchRequest> request = SearchRequestOf(req, app);
        if (!request.ok()) return SendError(res, request.status());
        absl::StatusOr<v1::SearchResponse> page = handlers->Search(CallerOf(req), *request);
        if (!page.ok()) return SendError(res, page.status());
        SendJson(res, {{"lines", LinesJson(page->lines())}, {"next_cursor", page->next_cursor()}});
      });

  AppRoute(http, R"(/api/v1/apps/([^/]+)/devices)",
           [handlers](const httplib::Request& req, httplib::Response& res, const std::string& app) {
             v1::ListDevicesRequest request;
             request.set_app(app);
             request.set_user_id(Param(req, "user"));
             absl::StatusOr<v1::ListDevicesResponse> devices =
                 handlers->ListDevices(CallerOf(req), request);
             if (!devices.ok()) return SendError(res, devices.status());
             nlohmann::ordered_json list = nlohmann::ordered_json::array();
             for (const v1::DeviceSummary& d : devices->devices()) {
               list.push_back({{"device_id", d.device_id()},
                               {"first_seen", FormatRfc3339(d.first_seen_unix_micros())},
                               {"last_seen", FormatRfc3339(d.last_seen_unix_micros())},
                               {"lines", d.lines()},
                               {"attributes", AttributesToJson(d.attributes())}});
             }
             SendJson(res, {{"devices", list}});
           });

  http->Get(R"(/api/v1/apps/([^/]+)/devices/([^/]+))", [handlers](const httplib::Request& req,
                                                                  httplib::Response& res) {
    v1::GetDeviceRequest request;
    request.set_app(req.matches[1].str());
    request.set_device_id(req.matches[2].str());
    absl::StatusOr<v1::DeviceDetails> device = handlers->GetDevice(CallerOf(req), request);
    if (!device.ok()) return SendError(res, device.status());
    nlohmann::ordered_json users = nlohmann::ordered_json::array();
    for (const v1::DeviceUser& u : device->users()) {
      users.push_back({{"user_id", u.user_id()},
                       {"first_seen", FormatRfc3339(u.first_seen_unix_micros())},
                       {"last_seen", FormatRfc3339(u.last_seen_unix_micros())},
                       {"lines", u.lines()}});
    }
    SendJson(res,
             {{"device_id", device->device_id()},
              {"first_seen", FormatRfc3339(device->first_seen_unix_micros())},
              {"last_seen", FormatRfc3339(device->last_seen_unix_micros())},
              {"lines", device->lines()},
              {"last_user_id", device->last_user_id()},
              {"clock_offset_seconds", static_cast<double>(device->clock_offset_micros()) / 1e6},
              {"attributes", AttributesToJson(device->attributes())},
              {"users", users}});
  });

  AppRoute(http, R"(/api/v1/apps/([^/]+)/users)",
           [handlers](const httplib::Request& req, httplib::Response& res, const std::string& app) {
             v1::FindUsersRequest request;
             request.set_app(app);
             request.set_prefix(Param(req, "prefix"));
             absl::StatusOr<uint32_t> limit = NumberParam(req, "limit");
             if (!limit.ok()) return SendError(res, limit.status());
             request.set_limit(*limit);
             absl::StatusOr<v1::FindUsersResponse> users =
                 handlers->FindUsers(CallerOf(req), request);
             if (!users.ok()) return SendError(res, users.status());
             nlohmann::ordered_json list = nlohmann::ordered_json::array();
             for (const v1::UserSummary& u : users->users()) {
               list.push_back({{"user_id", u.user_id()},
                               {"devices", u.devices()},
                               {"lines", u.lines()},
                               {"last_seen", FormatRfc3339(u.last_seen_unix_micros())}});
             }
             SendJson(res, {{"users", list}});
           });

  AppRoute(http, R"(/api/v1/apps/([^/]+)/stats)",
           [handlers](const httplib::Request& req, httplib::Response& res, const std::string& app) {
             v1::StatsRequest request;
             request.set_app(app);
             request.set_user_id(Param(req, "user"));
             request.set_device_id(Param(req, "device"));
             absl::StatusOr<int64_t> from = TimeParam(req, "from");
             absl::StatusOr<int64_t> to = TimeParam(req, "to");
             absl::StatusOr<uint32_t> interval = NumberParam(req, "interval");
             absl::StatusOr<uint32_t> top = NumberParam(req, "top");
             for (const absl::Status& s :
                  {from.status(), to.status(), interval.status(), top.status()}) {
               if (!s.ok()) return SendError(res, s);
             }
             request.set_from_unix_micros(*from);
             request.set_to_unix_micros(*to);
             request.set_interval_micros(int64_t{*interval} * 1'000'000);
             request.set_top_tags(*top);
             absl::StatusOr<v1::StatsResponse> stats = handlers->Stats(CallerOf(req), request);
             if (!stats.ok()) return SendError(res, stats.status());
             const auto levels = [](const google::protobuf::RepeatedField<uint64_t>& counts) {
               nlohmann::ordered_json j;
               for (int level = v1::LEVEL_TRACE; level <= v1::LEVEL_FATAL; ++level) {
                 j[std::string(LevelName(static_cast<v1::Level>(level)))] =
                     level < counts.size() ? counts[level] : 0;
               }
               return j;
             };
             nlohmann::ordered_json buckets = nlohmann::ordered_json::array();
             for (const v1::StatsBucket& b : stats->buckets()) {
               buckets.push_back(
                   {{"start_us", b.start_unix_micros()}, {"levels", levels(b.level_counts())}});
             }
             nlohmann::ordered_json tags = nlohmann::ordered_json::array();
             for (const v1::TagStats& t : stats->tags()) {
               tags.push_back({{"tag", t.tag()},
                               {"lines", t.lines()},
                               {"errors", t.errors()},
                               {"previous_lines", t.previous_lines()},
                               {"previous_errors", t.previous_errors()}});
             }
             SendJson(res, {{"from_us", stats->from_unix_micros()},
                            {"to_us", stats->to_unix_micros()},
                            {"interval_us", stats->interval_micros()},
                            {"levels", levels(stats->level_totals())},
                            {"previous_levels", levels(stats->previous_level_totals())},
                            {"buckets", buckets},
                            {"tags", tags}});
           });

  AppRoute(http, R"(/api/v1/apps/([^/]+)/affected)",
           [handlers](const httplib::Request& req, httplib::Response& res, const std::string& app) {
             v1::AffectedRequest request;
             request.set_app(app);
             request.set_text(Param(req, "text"));
             request.set_regex(Param(req, "regex"));
             absl::StatusOr<int64_t> from = TimeParam(req, "from");
             absl::StatusOr<int64_t> to = TimeParam(req, "to");
             absl::StatusOr<uint32_t> limit = NumberParam(req, "limit");
             for (const absl::Status& s : {from.status(), to.status(), limit.status()}) {
               if (!s.ok()) return SendError(res, s);
             }
             request.set_from_unix_micros(*from);
             request.set_to_unix_micros(*to);
             request.set_limit(*limit);
             if (const std::string level = Param(req, "level"); !level.empty()) {
               std::optional<v1::Level> parsed = ParseLevel(level);
               if (!parsed) return SendError(res, absl::InvalidArgumentError("unknown level"));
               request.set_min_level(*parsed);
             }
             absl::StatusOr<v1::AffectedResponse> affected =
                 handlers->Affected(CallerOf(req), request);
             if (!affected.ok()) return SendError(res, affected.status());
             nlohmann::ordered_json users = nlohmann::ordered_json::array();
             for (const v1::AffectedUser& u : affected->users()) {
               users.push_back({{"user_id", u.user_id()},
                                {"lines", u.lines()},
                                {"devices", u.devices()},
                                {"last", FormatRfc3339(u.last_unix_micros())}});
             }
             nlohmann::ordered_json devices = nlohmann::ordered_json::array();
             for (const v1::AffectedDevice& d : affected->devices()) {
               devices.push_back(
                   {{"device_id", d.device_id()}, {"lines", d.lines()}, {"user_id", d.user_id()}});
             }
             SendJson(res, {{"matching_lines", affected->matching_lines()},
                            {"total_users", affected->total_users()},
                            {"total_devices", affected->total_devices()},
                            {"scanned_lines", affected->scanned_lines()},
                            {"users", users},
                            {"devices", devices}});
           });

  AppRoute(http, R"(/api/v1/apps/([^/]+)/issues)",
           [handlers](const httplib::Request& req, httplib::Response& res, const std::string& app) {
             v1::ListIssuesRequest request;
             request.set_app(app);
             request.set_user_id(Param(req, "user"));
             absl::StatusOr<int64_t> from = TimeParam(req, "from");
             absl::StatusOr<int64_t> to = TimeParam(req, "to");
             absl::StatusOr<uint32_t> limit = NumberParam(req, "limit");
             absl::StatusOr<uint32_t> context = NumberParam(req, "context");
             for (const absl::Status& s :
                  {from.status(), to.status(), limit.status(), context.status()}) {
               if (!s.ok()) return SendError(res, s);
             }
             request.set_from_unix_micros(*from);
             request.set_to_unix_micros(*to);
             request.set_limit(*limit);
             request.set_context_lines(*context);
             absl::StatusOr<v1::ListIssuesResponse> issues =
                 handlers->ListIssues(CallerOf(req), request);
             if (!issues.ok()) return SendError(res, issues.status());
             nlohmann::ordered_json list = nlohmann::ordered_json::array();
             for (const v1::Issue& issue : issues->issues()) {
               list.push_back({{"time", FormatRfc3339(issue.time_unix_micros())},
                               {"time_us", issue.time_unix_micros()},
                               {"kind", std::string(KindName(issue.kind()))},
                               {"device_id", issue.device_id()},
                               {"seq", issue.seq()},
                               {"user_id", issue.user_id()},
                               {"title", issue.title()},
                               {"text", issue.text()},
                               {"context", LinesJson(issue.context())}});
             }
             SendJson(res, {{"issues", list}});
           });

  http->Get(R"(/api/v1/apps/([^/]+)/lines/([^/]+)/(\d+))",
            [handlers](const httplib::Request& req, httplib::Response& res) {
              uint64_t seq = 0;
              if (!absl::SimpleAtoi(req.matches[3].str(), &seq)) {
                return SendError(res, absl::InvalidArgumentError("seq must be a number"));
              }
              absl::StatusOr<v1::LogLine> line = handlers->FindLine(
                  CallerOf(req), req.matches[1].str(), req.matches[2].str(), seq);
              if (!line.ok()) return SendError(res, line.status());
              google::protobuf::RepeatedPtrField<v1::LogLine> one;
              *one.Add() = *std::move(line);
              SendJson(res, LinesJson(one)[0]);
            });

  AppRoute(
      http, R"(/api/v1/apps/([^/]+)/tail)",
      [handlers, hub](const httplib::Request& req, httplib::Response& res, const std::string& app) {
        v1::TailRequest request;
        absl::StatusOr<v1::SearchRequest> filter = SearchRequestOf(req, app);
        if (!filter.ok()) return SendError(res, filter.status());
        *request.mutable_filter() = *std::move(filter);
        absl::StatusOr<uint32_t> backlog = NumberParam(req, "backlog");
        if (!backlog.ok()) return SendError(res, backlog.status());
        request.set_backlog(*backlog);
        absl::StatusOr<ReadAccess> access = handlers->AuthorizeTail(CallerOf(req), request);
        if (!access.ok()) return SendError(res, access.status());
        if (open_http_tails.fetch_add(1) >= kMaxHttpTails) {
          open_http_tails.fetch_sub(1);
          return SendError(res, absl::ResourceExhaustedError(
                                    "too many live tails open on this server; try again shortly"));
        }
        absl::StatusOr<std::unique_ptr<TailFollower>> follower =
            TailFollower::Start(handlers->store(), access->app, request);
        if (!follower.ok()) {
          open_http_tails.fetch_sub(1);
          return SendError(res, follower.status());
        }
        auto tail = std::make_shared<HttpTail>();
        tail->follower = *std::move(follower);
        tail->hub = hub;
        tail->subscription = hub->Subscribe(access->app.app_id(), tail->follower->device_id(),
                                            tail->follower->user_id(), [raw = tail.get()] {
                                              absl::MutexLock lock(&raw->mu);
                                              raw->woken = true;
                                            });
        res.set_header("Cache-Control", "no-store");
        res.set_chunked_content_provider(
            "text/event-stream",
            [tail](size_t, httplib::DataSink& sink) {
              const auto send = [&](const v1::SearchResponse& lines) {
                const std::string event =
                    absl::StrCat("event: lines\ndata: ",
                                 nlohmann::ordered_json{{"lines", LinesJson(lines.lines())}}.dump(
                                     -1, ' ', false, nlohmann::json::error_handler_t::replace),
                                 "\n\n");
                tail->last_write = absl::Now();
                return sink.write(event.data(), event.size());
              };
              if (!tail->sent_backlog) {
                tail->sent_backlog = true;
                return send(tail->follower->backlog());
              }
              {
                absl::MutexLock lock(&tail->mu);
                const auto woken = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tail->mu) {
                  return tail->woken;
                };
                tail->mu.AwaitWithTimeout(absl::Condition(&woken), absl::Seconds(1));
                tail->woken = false;
              }
              if (!sink.is_writable()) return false;
              v1::SearchResponse lines;
              if (!tail->follower->CollectNewLines(&lines).ok()) return false;
              if (lines.lines_size() > 0) return send(lines);
              if (absl::Now() - tail->last_write > absl::Seconds(15)) {
                tail->last_write = absl::Now();
                return sink.write(": keepalive\n\n", 13);
              }
              return true;
            },
            [tail](bool) {
              tail->hub->Unsubscribe(tail->subscription);
              open_http_tails.fetch_sub(1);
            });
      });
}

}  // namespace fieldlog::query
