// The audit trail of reads: every query about a user's or a device's logs is
// recorded (who, what, when, from where) before it is answered, so an
// operator can tell who looked at a customer's data.
#ifndef FIELDLOG_QUERY_AUDIT_H_
#define FIELDLOG_QUERY_AUDIT_H_

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "query/access.h"
#include "store/store.h"

namespace fieldlog::query {

// Records one read, and runs `done` once the record is durable, or with the
// error that kept it from the trail. On an error the read must fail: a read
// the trail misses would be worse than no read. `done` may run on another
// thread (Store::AppendAudit).
void RecordRead(store::Store* store, const ReadAccess& access, absl::string_view peer,
                absl::string_view action, absl::string_view user_id, absl::string_view device_id,
                absl::string_view details, absl::AnyInvocable<void(absl::Status)> done);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_AUDIT_H_
