#include "query/audit.h"

#include <utility>

#include "common/time_util.h"

namespace fieldlog::query {

void RecordRead(store::Store* store, const ReadAccess& access, absl::string_view peer,
                absl::string_view action, absl::string_view user_id, absl::string_view device_id,
                absl::string_view details, absl::AnyInvocable<void(absl::Status)> done) {
  store::AuditRecord record;
  record.set_time_unix_micros(NowUnixMicros());
  record.set_key_id(access.who.key_id);
  record.set_credential_kind(access.who.kind == store::CREDENTIAL_KIND_ADMIN ? "admin" : "read");
  record.set_action(std::string(action));
  record.set_user_id(std::string(user_id));
  record.set_device_id(std::string(device_id));
  record.set_details(std::string(details));
  record.set_peer(std::string(peer));
  store->AppendAudit(access.app.app_id(), record, std::move(done));
}

}  // namespace fieldlog::query
