// Who may read what. A read token reads its own app; the admin token reads
// every app; an ingest key reads nothing.
#ifndef FIELDLOG_QUERY_ACCESS_H_
#define FIELDLOG_QUERY_ACCESS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "store/catalog.h"

namespace fieldlog::query {

struct ReadAccess {
  store::AppRecord app;
  store::Credential who;  // for the audit trail
};

// The app `app_name` if `secret` may read it. UNAUTHENTICATED for a missing or
// unknown secret, PERMISSION_DENIED for one that may not read this app,
// NOT_FOUND for an app that does not exist (told only to those who could read
// it if it did).
absl::StatusOr<ReadAccess> AuthorizeRead(const store::Catalog& catalog,
                                         const std::optional<std::string>& secret,
                                         absl::string_view app_name);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_ACCESS_H_
