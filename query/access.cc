#include "query/access.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fieldlog::query {

absl::StatusOr<ReadAccess> AuthorizeRead(const store::Catalog& catalog,
                                         const std::optional<std::string>& secret,
                                         absl::string_view app_name) {
  if (!secret) {
    return absl::UnauthenticatedError(
        "no token: send a read token as 'authorization: Bearer <token>'");
  }
  std::optional<store::Credential> credential = catalog.Authenticate(*secret);
  if (!credential) return absl::UnauthenticatedError("unknown or revoked token");
  switch (credential->kind) {
    case store::CREDENTIAL_KIND_ADMIN:
      break;
    case store::CREDENTIAL_KIND_READ:
      if (credential->app_name != app_name) {
        return absl::PermissionDeniedError(
            absl::StrCat("this token reads app '", credential->app_name, "' only"));
      }
      break;
    default:
      return absl::PermissionDeniedError(
          "an ingest key cannot read logs; use the app's read token");
  }
  if (app_name.empty()) return absl::InvalidArgumentError("name the app to read");
  std::optional<store::AppRecord> app = catalog.FindApp(app_name);
  if (!app) return absl::NotFoundError(absl::StrCat("no app '", app_name, "'"));
  return ReadAccess{*std::move(app), *std::move(credential)};
}

}  // namespace fieldlog::query
