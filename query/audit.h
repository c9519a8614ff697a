// The audit trail of reads: every query about a user's or a device's logs is
// recorded (who, what, when, from where) before it is answered, so an
// operator can tell who looked at a customer's data.
#ifndef FIELDLOG_QUERY_AUDIT_H_
#define FIELDLOG_QUERY_AUDIT_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "query/access.h"
#include "store/store.h"

namespace fieldlog::query {

// Records one read. Fails (and the read must then fail) when the trail
// cannot be written: a read the trail misses would be worse than no read.
absl::Status RecordRead(store::Store* store, const ReadAccess& access, absl::string_view peer,
                        absl::string_view action, absl::string_view user_id,
                        absl::string_view device_id, absl::string_view details);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_AUDIT_H_
