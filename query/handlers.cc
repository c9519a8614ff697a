#include "query/handlers.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "common/time_util.h"
#include "query/analytics.h"
#include "query/audit.h"
#include "query/issues.h"
#include "query/search.h"
#include "store/reader.h"

namespace fieldlog::query {
namespace {

// An audit record on its way to the trail: Done() is RecordRead's `done`,
// Wait() blocks until it ran and returns its status.
class PendingAudit {
 public:
  explicit PendingAudit(store::Store* store) : store_(store) {}

  absl::AnyInvocable<void(absl::Status)> Done() {
    return [this](absl::Status status) {
      status_ = std::move(status);
      durable_.Notify();
    };
  }
  // A record still waiting is synced on this thread (Store::SyncNow).
  absl::Status Wait() {
    if (!durable_.HasBeenNotified()) store_->SyncNow();
    durable_.WaitForNotification();
    return status_;
  }

 private:
  store::Store* const store_;
  absl::Notification durable_;
  absl::Status status_;  // written before durable_ is notified, read after
};

}  // namespace

std::string DescribeFilters(const v1::SearchRequest& r) {
  std::vector<std::string> parts;
  if (r.from_unix_micros() != 0)
    parts.push_back(absl::StrCat("from=", FormatRfc3339(r.from_unix_micros())));
  if (r.to_unix_micros() != 0)
    parts.push_back(absl::StrCat("to=", FormatRfc3339(r.to_unix_micros())));
  if (r.min_level() != v1::LEVEL_UNSPECIFIED)
    parts.push_back(absl::StrCat("level>=", r.min_level()));
  if (!r.text().empty()) parts.push_back(absl::StrCat("text=", r.text()));
  if (!r.regex().empty()) parts.push_back(absl::StrCat("regex=", r.regex()));
  if (!r.session_id().empty()) parts.push_back(absl::StrCat("session=", r.session_id()));
  if (r.tags_size() > 0) parts.push_back(absl::StrCat("tags=", absl::StrJoin(r.tags(), ",")));
  for (const v1::AttributeFilter& a : r.attributes()) {
    parts.push_back(absl::StrCat("attr ", a.key(), "=", a.value()));
  }
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<ReadAccess> QueryHandlers::Authorize(const Caller& caller,
                                                    absl::string_view app) const {
  return AuthorizeRead(store_->catalog(), caller.secret, app);
}

absl::Status QueryHandlers::AuditedRead(const Caller& caller, const ReadAccess& access,
                                        absl::string_view action, absl::string_view user_id,
                                        absl::string_view device_id, absl::string_view details,
                                        absl::FunctionRef<absl::Status()> read) {
  // The record waits for the group's next sync while the read runs (as a
  // search's does, SearchEach); the answer counts only once both are done.
  PendingAudit pending(store_);
  RecordRead(store_, access, caller.peer, action, user_id, device_id, details, pending.Done());
  const absl::Status status = read();
  if (absl::Status audited = pending.Wait(); !audited.ok()) return audited;
  return status;
}

absl::StatusOr<v1::SearchResponse> QueryHandlers::Search(const Caller& caller,
                                                         const v1::SearchRequest& request) {
  v1::SearchResponse response;
  if (absl::Status s = SearchInto(caller, request, &response); !s.ok()) return s;
  return response;
}

absl::Status QueryHandlers::SearchInto(const Caller& caller, const v1::SearchRequest& request,
                                       v1::SearchResponse* response) {
  std::string next_cursor;
  absl::Status status = SearchEach(
      caller, request,
      [&](const store::BlockReader& block, size_t row, absl::string_view app,
          absl::string_view device_id) {
        FillLogLine(block, row, app, device_id, response->add_lines());
      },
      &next_cursor);
  if (!status.ok()) {
    response->Clear();
    return status;
  }
  response->set_next_cursor(next_cursor);
  return absl::OkStatus();
}

absl::Status QueryHandlers::SearchEach(const Caller& caller, const v1::SearchRequest& request,
                                       RowSink sink, std::string* next_cursor) {
  // No line may leave before the read is in the audit trail. When the store
  // syncs, that takes an fsync (a millisecond or more on these disks, more
  // than a page of search), so the search reads while its record waits for
  // the group's next one, and the caller sends the page only once both are
  // done (and not at all if the record failed).
  PendingAudit pending(store_);
  const absl::Status searched =
      SearchStreaming(caller, request, sink, StreamOptions{}, pending.Done(), next_cursor);
  if (absl::Status audited = pending.Wait(); !audited.ok()) return audited;
  return searched;
}

absl::Status QueryHandlers::SearchStreaming(const Caller& caller, const v1::SearchRequest& request,
                                            RowSink sink, StreamOptions stream,
                                            absl::AnyInvocable<void(absl::Status)> audited,
                                            std::string* next_cursor) {
  next_cursor->clear();
  absl::StatusOr<ReadAccess> access = Authorize(caller, request.app());
  if (!access.ok()) {
    audited(access.status());
    return access.status();
  }
  absl::StatusOr<SearchSpec> spec = MakeSearchSpec(request, access->app, NowUnixMicros());
  if (!spec.ok()) {
    audited(spec.status());
    return spec.status();
  }
  RecordRead(store_, *access, caller.peer, "search", request.user_id(), request.device_id(),
             DescribeFilters(request), std::move(audited));
  absl::StatusOr<SearchResult> result = SearchRows(*store_, *spec, sink, stream);
  if (!result.ok()) return result.status();
  if (result->next) *next_cursor = EncodeCursor(*result->next);
  return absl::OkStatus();
}

absl::StatusOr<ReadAccess> QueryHandlers::AuthorizeTail(const Caller& caller,
                                                        const v1::TailRequest& request) {
  absl::StatusOr<ReadAccess> access = Authorize(caller, request.filter().app());
  if (!access.ok()) return access.status();
  // A tail's lines start to flow once its record is in the trail.
  if (absl::Status s = AuditedRead(caller, *access, "tail", request.filter().user_id(),
                                   request.filter().device_id(), DescribeFilters(request.filter()),
                                   [] { return absl::OkStatus(); });
      !s.ok()) {
    return s;
  }
  return access;
}

absl::StatusOr<v1::LogLine> QueryHandlers::FindLine(const Caller& caller, const std::string& app,
                                                    const std::string& device_id, uint64_t seq) {
  absl::StatusOr<ReadAccess> access = Authorize(caller, app);
  if (!access.ok()) return access.status();
  v1::LogLine line;
  const absl::Status status = AuditedRead(
      caller, *access, "line", "", device_id, absl::StrCat("seq=", seq), [&]() -> absl::Status {
        store::Reader reader(*store_);
        absl::StatusOr<std::vector<store::BlockRef>> blocks =
            reader.ListBlocks(access->app.app_id(), device_id);
        if (!blocks.ok()) return blocks.status();
        for (const store::BlockRef& ref : *blocks) {
          if (seq < ref.meta.first_seq() || seq > ref.meta.last_seq()) continue;
          absl::StatusOr<store::BlockReader> block =
              reader.ReadBlock(access->app.app_id(), device_id, ref.first_seq);
          if (!block.ok()) return block.status();
          for (size_t row = 0; row < block->size(); ++row) {
            if (block->seq(row) != seq) continue;
            FillLogLine(*block, row, access->app.name(), device_id, &line);
            return absl::OkStatus();
          }
        }
        return absl::NotFoundError(
            absl::StrCat("no line ", seq, " of device '", device_id, "' in app ", app));
      });
  if (!status.ok()) return status;
  return line;
}

absl::StatusOr<ReadAccess> QueryHandlers::WhoAmI(const Caller& caller, const std::string& app) {
  if (!caller.secret) return AuthorizeRead(store_->catalog(), caller.secret, app);
  std::optional<store::Credential> credential = store_->catalog().Authenticate(*caller.secret);
  if (credential && credential->kind == store::CREDENTIAL_KIND_READ && app.empty()) {
    return Authorize(caller, credential->app_name);
  }
  return Authorize(caller, app);
}

absl::StatusOr<v1::ListDevicesResponse> QueryHandlers::ListDevices(
    const Caller& caller, const v1::ListDevicesRequest& request) {
  v1::ListDevicesResponse response;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(caller, request.app());
    if (!access.ok()) return access.status();
    if (request.user_id().empty()) return absl::InvalidArgumentError("name a user_id");
    const auto read = [&]() -> absl::Status {
      store::Reader reader(*store_);
      absl::StatusOr<std::vector<store::UserDevice>> devices =
          reader.ListUserDevices(access->app.app_id(), request.user_id());
      if (!devices.ok()) return devices.status();
      for (const store::UserDevice& d : *devices) {
        v1::DeviceSummary* summary = response.add_devices();
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
    };
    return AuditedRead(caller, *access, "devices", request.user_id(), "", "", read);
  }();
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::DeviceDetails> QueryHandlers::GetDevice(const Caller& caller,
                                                           const v1::GetDeviceRequest& request) {
  v1::DeviceDetails response;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(caller, request.app());
    if (!access.ok()) return access.status();
    if (request.device_id().empty()) return absl::InvalidArgumentError("name a device_id");
    const auto read = [&]() -> absl::Status {
      store::Reader reader(*store_);
      absl::StatusOr<std::optional<store::DeviceRecord>> device =
          reader.GetDevice(access->app.app_id(), request.device_id());
      if (!device.ok()) return device.status();
      if (!*device) {
        return absl::NotFoundError(
            absl::StrCat("no device '", request.device_id(), "' in app ", access->app.name()));
      }
      const store::DeviceRecord& record = **device;
      response.set_device_id(record.device_id());
      *response.mutable_attributes() = record.attributes();
      response.set_first_seen_unix_micros(record.first_seen_unix_micros());
      response.set_last_seen_unix_micros(record.last_seen_unix_micros());
      response.set_lines(record.lines());
      if (!record.stored().empty()) response.set_watermark(record.stored().rbegin()->last());
      response.set_last_user_id(record.last_user_id());
      response.set_last_session_id(record.last_session_id());
      response.set_clock_offset_micros(record.last_clock_offset_micros());
      absl::StatusOr<std::vector<store::DeviceUser>> users =
          reader.ListDeviceUsers(access->app.app_id(), request.device_id());
      if (!users.ok()) return users.status();
      std::sort(users->begin(), users->end(), [](const auto& a, const auto& b) {
        return a.record.first_seen_unix_micros() < b.record.first_seen_unix_micros();
      });
      for (const store::DeviceUser& u : *users) {
        v1::DeviceUser* user = response.add_users();
        user->set_user_id(u.user_id);
        user->set_first_seen_unix_micros(u.record.first_seen_unix_micros());
        user->set_last_seen_unix_micros(u.record.last_seen_unix_micros());
        user->set_lines(u.record.lines());
      }
      return absl::OkStatus();
    };
    return AuditedRead(caller, *access, "device", "", request.device_id(), "", read);
  }();
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::FindUsersResponse> QueryHandlers::FindUsers(
    const Caller& caller, const v1::FindUsersRequest& request) {
  v1::FindUsersResponse response;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(caller, request.app());
    if (!access.ok()) return access.status();
    if (request.prefix().empty()) return absl::InvalidArgumentError("the prefix is empty");
    if (request.limit() > 1000) return absl::InvalidArgumentError("limit is at most 1000");
    const auto read = [&]() -> absl::Status {
      store::Reader reader(*store_);
      absl::StatusOr<std::vector<store::UserSummary>> users = reader.FindUsers(
          access->app.app_id(), request.prefix(), request.limit() == 0 ? 20 : request.limit());
      if (!users.ok()) return users.status();
      for (const store::UserSummary& u : *users) {
        v1::UserSummary* user = response.add_users();
        user->set_user_id(u.user_id);
        user->set_devices(u.devices);
        user->set_lines(u.lines);
        user->set_first_seen_unix_micros(u.first_seen_us);
        user->set_last_seen_unix_micros(u.last_seen_us);
      }
      return absl::OkStatus();
    };
    return AuditedRead(caller, *access, "users", "", "", absl::StrCat("prefix=", request.prefix()),
                       read);
  }();
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::StatsResponse> QueryHandlers::Stats(const Caller& caller,
                                                       const v1::StatsRequest& request) {
  v1::StatsResponse response;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(caller, request.app());
    if (!access.ok()) return access.status();
    const auto read = [&]() -> absl::Status {
      absl::StatusOr<v1::StatsResponse> stats =
          ComputeStats(*store_, access->app, request, NowUnixMicros());
      if (!stats.ok()) return stats.status();
      response = *std::move(stats);
      return absl::OkStatus();
    };
    return AuditedRead(caller, *access, "stats", request.user_id(), request.device_id(), "", read);
  }();
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::AffectedResponse> QueryHandlers::Affected(const Caller& caller,
                                                             const v1::AffectedRequest& request) {
  v1::AffectedResponse response;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(caller, request.app());
    if (!access.ok()) return access.status();
    const auto read = [&]() -> absl::Status {
      absl::StatusOr<v1::AffectedResponse> affected =
          FindAffected(*store_, access->app, request, NowUnixMicros());
      if (!affected.ok()) return affected.status();
      response = *std::move(affected);
      return absl::OkStatus();
    };
    return AuditedRead(caller, *access, "affected", "", "",
                       absl::StrCat(request.text().empty() ? "regex=" : "text=",
                                    request.text().empty() ? request.regex() : request.text()),
                       read);
  }();
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::ListIssuesResponse> QueryHandlers::ListIssues(
    const Caller& caller, const v1::ListIssuesRequest& request) {
  v1::ListIssuesResponse response;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<ReadAccess> access = Authorize(caller, request.app());
    if (!access.ok()) return access.status();
    const auto read = [&]() -> absl::Status {
      absl::StatusOr<v1::ListIssuesResponse> issues =
          query::ListIssues(*store_, access->app, request, NowUnixMicros());
      if (!issues.ok()) return issues.status();
      response = *std::move(issues);
      return absl::OkStatus();
    };
    return AuditedRead(caller, *access, "issues", request.user_id(), "", "", read);
  }();
  if (!status.ok()) return status;
  return response;
}

}  // namespace fieldlog::query
