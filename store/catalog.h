// Catalog: apps and the credentials that reach them.
//
// Three kinds of credential exist (see records.proto): ingest keys (write-only,
// public in app binaries), read tokens (read one app) and the admin token.
// Only SHA-256 hashes of secrets are stored; a presented secret is hashed and
// looked up, and the stored hash is compared in constant time. The whole
// catalog is small and lives in memory, mirrored in the `apps` column family.
//
// Thread-safe.
#ifndef FIELDLOG_STORE_CATALOG_H_
#define FIELDLOG_STORE_CATALOG_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "store/keys.h"
#include "store/records.pb.h"

namespace fieldlog::store {

// Who a presented secret belongs to.
struct Credential {
  CredentialKind kind = CREDENTIAL_KIND_UNSPECIFIED;
  AppId app_id = 0;      // 0 for the admin token
  std::string app_name;  // empty for the admin token
  std::string key_id;    // the credential's public id (see CredentialInfo)
};

struct NewApp {
  AppRecord app;
  std::string ingest_key;
  std::string read_token;
};

// A credential as listings show it: never the secret.
struct CredentialInfo {
  std::string key_id;  // 12 hex digits of the secret's hash
  CredentialRecord record;
};

struct NewCredential {
  CredentialInfo info;
  std::string secret;  // shown once
};

class Catalog {
 public:
  Catalog(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* apps);

  // Reads every app and credential from the database.
  absl::Status Load();

  // Creates an app with one ingest key and one read token. ALREADY_EXISTS when
  // the name is taken, INVALID_ARGUMENT when it is not a valid app name.
  absl::StatusOr<NewApp> CreateApp(absl::string_view name);

  // A new secret of `kind` for `app` (0 and ADMIN for an admin token).
  absl::StatusOr<NewCredential> CreateCredential(AppId app, CredentialKind kind);

  // The app's ingest keys and read tokens, oldest first.
  std::vector<CredentialInfo> ListCredentials(AppId app) const;

  // Revokes the app's credential `key_id`; NOT_FOUND if it has none such.
  absl::StatusOr<CredentialInfo> RevokeCredential(AppId app, absl::string_view key_id);

  // Applies `change` to the app's record and stores it. NOT_FOUND for an
  // unknown app. `change` must not alter app_id or name.
  absl::StatusOr<AppRecord> UpdateApp(absl::string_view name,
                                      const std::function<void(AppRecord*)>& change);

  // The credential `secret` belongs to, or nullopt for an unknown or revoked one.
  std::optional<Credential> Authenticate(absl::string_view secret) const;

  std::optional<AppRecord> FindApp(absl::string_view name) const;
  std::optional<AppRecord> FindApp(AppId id) const;
  std::vector<AppRecord> ListApps() const;

  // The admin token kept in the file at `path` (mode 0600). Creates both the
  // token and the file on first use. Deleting the file and restarting rotates
  // the token: older admin tokens are revoked.
  absl::StatusOr<std::string> LoadOrCreateAdminToken(const std::string& path);

  static absl::Status ValidateAppName(absl::string_view name);

 private:
  struct StoredCredential {
    CredentialRecord record;
    std::string hash;  // SHA-256 of the secret, 32 bytes
  };

  absl::Status PutCredential(rocksdb::WriteBatch* batch, absl::string_view secret,
                             const CredentialRecord& record, std::string* hash_out);
  absl::Status WriteSynced(rocksdb::WriteBatch* batch, absl::string_view what);

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const apps_cf_;

  mutable absl::Mutex mu_;
  AppId next_app_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<std::string, AppRecord> apps_by_name_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<AppId, std::string> app_names_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, StoredCredential> credentials_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_CATALOG_H_
