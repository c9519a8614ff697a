#include "query/query_service.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "common/time_util.h"
#include "query/access.h"
#include "query/analytics.h"
#include "query/audit.h"
#include "query/issues.h"
#include "query/search.h"
#include "store/reader.h"

namespace fieldlog::query {
namespace {

constexpr absl::string_view kTokenHeader = "x-fieldlog-token";

absl::StatusOr<ReadAccess> Authorize(const store::Store& store,
                                     const grpc::CallbackServerContext& context,
                                     absl::string_view app) {
  return AuthorizeRead(store.catalog(), CredentialFromMetadata(context, kTokenHeader), app);
}

// The filters of a search, in words, for the audit trail.
std::string DescribeFilters(const v1::SearchRequest& r) {
  std::vector<std::string> parts;
  if (r.from_unix_micros() != 0) parts.push_back(absl::StrCat("from=", FormatRfc3339(r.from_unix_micros())));
  if (r.to_unix_micros() != 0) parts.push_back(absl::StrCat("to=", FormatRfc3339(r.to_unix_micros())));
  if (r.min_level() != v1::LEVEL_UNSPECIFIED) parts.push_back(absl::StrCat("level>=", r.min_level()));
  if (!r.text().empty()) parts.push_back(absl::StrCat("text=", r.text()));
  if (!r.regex().empty()) parts.push_back(absl::StrCat("regex=", r.regex()));
  if (!r.session_id().empty()) parts.push_back(absl::StrCat("session=", r.session_id()));
  if (r.tags_size() > 0) parts.push_back(absl::StrCat("tags=", absl::StrJoin(r.tags(), ",")));
  for (const v1::AttributeFilter& a : r.attributes()) {
    parts.push_back(absl::StrCat("attr ", a.key(), "=", a.value()));
  }
  return absl::StrJoin(parts, " ");
}

// Writes precomputed chunks one after another, then finishes. Created with new
// and deleted by itself in OnDone, as gRPC's callback API prescribes.
class ChunkWriter final : public grpc::ServerWriteReactor<v1::SearchResponse> {
 public:
  explicit ChunkWriter(const absl::Status& error) { Finish(ToGrpcStatus(error)); }

  explicit ChunkWriter(std::vector<v1::SearchResponse> chunks) : chunks_(std::move(chunks)) {
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    ++next_;
    WriteNext();
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    if (next_ == chunks_.size()) {
      Finish(grpc::Status::OK);
    } else {
      StartWrite(&chunks_[next_]);
    }
  }

  std::vector<v1::SearchResponse> chunks_;
  size_t next_ = 0;
};

absl::StatusOr<std::vector<v1::SearchResponse>> RunSearch(store::Store* store,
                                                          const grpc::CallbackServerContext& context,
                                                          const v1::SearchRequest& request) {
  absl::StatusOr<ReadAccess> access = Authorize(*store, context, request.app());
  if (!access.ok()) return access.status();
  absl::StatusOr<SearchSpec> spec = MakeSearchSpec(request, access->app, NowUnixMicros());
  if (!spec.ok()) return spec.status();
  if (absl::Status s = RecordRead(store, *access, context, "search", request.user_id(),
                                  request.device_id(), DescribeFilters(request));
      !s.ok()) {
    return s;
  }
  absl::StatusOr<SearchResult> result = Search(*store, *spec);
  if (!result.ok()) return result.status();

  std::vector<v1::SearchResponse> chunks(1);
  for (v1::LogLine& line : result->lines) {
    if (chunks.back().lines_size() == static_cast<int>(kLinesPerChunk)) chunks.emplace_back();
    *chunks.back().add_lines() = std::move(line);
  }
  if (result->next) chunks.back().set_next_cursor(EncodeCursor(*result->next));
  return chunks;
}

// Runs `body` and finishes a unary call with its status.
grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                const std::function<absl::Status()>& body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(body()));
  return reactor;
}

}  // namespace

grpc::ServerWriteReactor<v1::SearchResponse>* QueryService::Search(
    grpc::CallbackServerContext* context, const v1::SearchRequest* request) {
  absl::StatusOr<std::vector<v1::SearchResponse>> chunks = RunSearch(store_, *context, *request);
  if (!chunks.ok()) return new ChunkWriter(chunks.status());
  return new ChunkWriter(*std::move(chunks));
}

grpc::ServerWriteReactor<v1::SearchResponse>* QueryService::Tail(
    grpc::CallbackServerContext* context, const v1::TailRequest* request) {
  absl::StatusOr<ReadAccess> access = Authorize(*store_, *context, request->filter().app());
  if (!access.ok()) return new ChunkWriter(access.status());
  if (absl::Status s = RecordRead(store_, *access, *context, "tail", request->filter().user_id(),
                                  request->filter().device_id(), DescribeFilters(request->filter()));
      !s.ok()) {
    return new ChunkWriter(s);
  }
  return StartTail(store_, tails_, workers_, access->app, *request);
}

grpc::ServerUnaryReactor* QueryService::ListDevices(grpc::CallbackServerContext* context,
                                                    const v1::ListDevicesRequest* request,
                                                    v1::ListDevicesResponse* response) {
  return Unary(context, [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(*store_, *context, request->app());
    if (!access.ok()) return access.status();
    if (request->user_id().empty()) return absl::InvalidArgumentError("name a user_id");
    if (absl::Status s = RecordRead(store_, *access, *context, "devices", request->user_id(), "", "");
        !s.ok()) {
      return s;
    }
    store::Reader reader(*store_);
    absl::StatusOr<std::vector<store::UserDevice>> devices =
        reader.ListUserDevices(access->app.app_id(), request->user_id());
    if (!devices.ok()) return devices.status();
    for (const store::UserDevice& d : *devices) {
      v1::DeviceSummary* summary = response->add_devices();
      summary->set_device_id(d.device_id);
      summary->set_first_seen_unix_micros(d.record.first_seen_unix_micros());
      summary->set_last_seen_unix_micros(d.record.last_seen_unix_micros());
      summary->set_lines(d.record.lines());
      absl::StatusOr<std::optional<store::DeviceRecord>> device =
          reader.GetDevice(access->app.app_id(), d.device_id);
      if (!device.ok()) return device.status();
      if (*device) {
        *summary->mutable_attributes() = (*device)->attributes();
        if (!(*device)->stored().empty()) {
          summary->set_watermark((*device)->stored().rbegin()->last());
        }
      }
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* QueryService::GetDevice(grpc::CallbackServerContext* context,
                                                  const v1::GetDeviceRequest* request,
                                                  v1::DeviceDetails* response) {
  return Unary(context, [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(*store_, *context, request->app());
    if (!access.ok()) return access.status();
    if (request->device_id().empty()) return absl::InvalidArgumentError("name a device_id");
    if (absl::Status s = RecordRead(store_, *access, *context, "device", "", request->device_id(), "");
        !s.ok()) {
      return s;
    }
    store::Reader reader(*store_);
    absl::StatusOr<std::optional<store::DeviceRecord>> device =
        reader.GetDevice(access->app.app_id(), request->device_id());
    if (!device.ok()) return device.status();
    if (!*device) {
      return absl::NotFoundError(absl::StrCat("no device '", request->device_id(), "' in app ",
                                              access->app.name()));
    }
    const store::DeviceRecord& record = **device;
    response->set_device_id(record.device_id());
    *response->mutable_attributes() = record.attributes();
    response->set_first_seen_unix_micros(record.first_seen_unix_micros());
    response->set_last_seen_unix_micros(record.last_seen_unix_micros());
    response->set_lines(record.lines());
    if (!record.stored().empty()) response->set_watermark(record.stored().rbegin()->last());
    response->set_last_user_id(record.last_user_id());
    response->set_last_session_id(record.last_session_id());
    response->set_clock_offset_micros(record.last_clock_offset_micros());
    absl::StatusOr<std::vector<store::DeviceUser>> users =
        reader.ListDeviceUsers(access->app.app_id(), request->device_id());
    if (!users.ok()) return users.status();
    std::sort(users->begin(), users->end(), [](const auto& a, const auto& b) {
      return a.record.first_seen_unix_micros() < b.record.first_seen_unix_micros();
    });
    for (const store::DeviceUser& u : *users) {
      v1::DeviceUser* user = response->add_users();
      user->set_user_id(u.user_id);
      user->set_first_seen_unix_micros(u.record.first_seen_unix_micros());
      user->set_last_seen_unix_micros(u.record.last_seen_unix_micros());
      user->set_lines(u.record.lines());
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* QueryService::FindUsers(grpc::CallbackServerContext* context,
                                                  const v1::FindUsersRequest* request,
                                                  v1::FindUsersResponse* response) {
  return Unary(context, [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(*store_, *context, request->app());
    if (!access.ok()) return access.status();
    if (request->prefix().empty()) return absl::InvalidArgumentError("the prefix is empty");
    if (request->limit() > 1000) return absl::InvalidArgumentError("limit is at most 1000");
    if (absl::Status s = RecordRead(store_, *access, *context, "users", "", "",
                                    absl::StrCat("prefix=", request->prefix()));
        !s.ok()) {
      return s;
    }
    store::Reader reader(*store_);
    absl::StatusOr<std::vector<store::UserSummary>> users = reader.FindUsers(
        access->app.app_id(), request->prefix(), request->limit() == 0 ? 20 : request->limit());
    if (!users.ok()) return users.status();
    for (const store::UserSummary& u : *users) {
      v1::UserSummary* user = response->add_users();
      user->set_user_id(u.user_id);
      user->set_devices(u.devices);
      user->set_lines(u.lines);
      user->set_first_seen_unix_micros(u.first_seen_us);
      user->set_last_seen_unix_micros(u.last_seen_us);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* QueryService::Stats(grpc::CallbackServerContext* context,
                                              const v1::StatsRequest* request,
                                              v1::StatsResponse* response) {
  return Unary(context, [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(*store_, *context, request->app());
    if (!access.ok()) return access.status();
    if (absl::Status s = RecordRead(store_, *access, *context, "stats", request->user_id(),
                                    request->device_id(), "");
        !s.ok()) {
      return s;
    }
    absl::StatusOr<v1::StatsResponse> stats =
        ComputeStats(*store_, access->app, *request, NowUnixMicros());
    if (!stats.ok()) return stats.status();
    *response = *std::move(stats);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* QueryService::Affected(grpc::CallbackServerContext* context,
                                                 const v1::AffectedRequest* request,
                                                 v1::AffectedResponse* response) {
  return Unary(context, [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(*store_, *context, request->app());
    if (!access.ok()) return access.status();
    if (absl::Status s = RecordRead(
            store_, *access, *context, "affected", "", "",
            absl::StrCat(request->text().empty() ? "regex=" : "text=",
                         request->text().empty() ? request->regex() : request->text()));
        !s.ok()) {
      return s;
    }
    absl::StatusOr<v1::AffectedResponse> affected =
        FindAffected(*store_, access->app, *request, NowUnixMicros());
    if (!affected.ok()) return affected.status();
    *response = *std::move(affected);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* QueryService::ListIssues(grpc::CallbackServerContext* context,
                                                   const v1::ListIssuesRequest* request,
                                                   v1::ListIssuesResponse* response) {
  return Unary(context, [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(*store_, *context, request->app());
    if (!access.ok()) return access.status();
    if (absl::Status s = RecordRead(store_, *access, *context, "issues", request->user_id(), "", "");
        !s.ok()) {
      return s;
    }
    absl::StatusOr<v1::ListIssuesResponse> issues =
        query::ListIssues(*store_, access->app, *request, NowUnixMicros());
    if (!issues.ok()) return issues.status();
    *response = *std::move(issues);
    return absl::OkStatus();
  });
}

}  // namespace fieldlog::query
