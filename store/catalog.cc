#include "store/catalog.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/time_util.h"
#include "store/coding.h"

namespace fieldlog::store {
namespace {

constexpr char kAppPrefix[] = "app/";
constexpr char kCredentialPrefix[] = "cred/";
constexpr char kNextAppIdKey[] = "meta/next_app_id";

// The public id of a credential: the first 6 bytes of its hash, in hex.
std::string KeyId(absl::string_view hash) { return absl::BytesToHexString(hash.substr(0, 6)); }

std::string Sha256(absl::string_view secret) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof(digest));
}

// 160 random bits in lower-case base32 (32 characters), behind a prefix that
// tells what the secret is when it turns up in a config file or a leak scan.
absl::StatusOr<std::string> NewSecret(CredentialKind kind) {
  unsigned char random[20];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("no randomness available for a new secret");
  }
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string secret;
  switch (kind) {
    case CREDENTIAL_KIND_INGEST:
      secret = "fl_ik_";
      break;
    case CREDENTIAL_KIND_READ:
      secret = "fl_rt_";
      break;
    default:
      secret = "fl_admin_";
  }
  uint64_t buffer = 0;
  int bits = 0;
  for (unsigned char byte : random) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      secret.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  return secret;
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", s.ToString()));
}

}  // namespace

Catalog::Catalog(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* apps) : db_(db), apps_cf_(apps) {}

absl::Status Catalog::ValidateAppName(absl::string_view name) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError("app name must be 1-64 characters");
  }
  if (!absl::ascii_isalnum(name[0])) {
    return absl::InvalidArgumentError(
        absl::StrCat("app name '", name, "' must start with a letter or digit"));
  }
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' || c == '_' || c == '-')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "app name '", name, "' may hold only lower-case letters, digits, '.', '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status Catalog::Load() {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), apps_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    const absl::string_view value(it->value().data(), it->value().size());
    if (absl::StartsWith(key, kAppPrefix)) {
      AppRecord app;
      if (!app.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::DataLossError(absl::StrCat("corrupt app record ", key));
      }
      app_names_[app.app_id()] = app.name();
      apps_by_name_[app.name()] = std::move(app);
    } else if (absl::StartsWith(key, kCredentialPrefix)) {
      StoredCredential credential;
      credential.hash = std::string(key.substr(sizeof(kCredentialPrefix) - 1));
      if (!credential.record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::DataLossError("corrupt credential record");
      }
      credentials_[credential.hash] = std::move(credential);
    } else if (key == kNextAppIdKey && value.size() == 4) {
      next_app_id_ = DecodeFixed32BE(value.data());
    }
  }
  return FromRocks(it->status(), "reading the catalog");
}

absl::Status Catalog::PutCredential(rocksdb::WriteBatch* batch, absl::string_view secret,
                                    const CredentialRecord& record, std::string* hash_out) {
  *hash_out = Sha256(secret);
  return FromRocks(
      batch->Put(apps_cf_, absl::StrCat(kCredentialPrefix, *hash_out), record.SerializeAsString()),
      "writing a credential");
}

absl::StatusOr<NewApp> Catalog::CreateApp(absl::string_view name) {
  if (absl::Status s = ValidateAppName(name); !s.ok()) return s;
  absl::StatusOr<std::string> ingest_key = NewSecret(CREDENTIAL_KIND_INGEST);
  absl::StatusOr<std::string> read_token = NewSecret(CREDENTIAL_KIND_READ);
  if (!ingest_key.ok()) return ingest_key.status();
  if (!read_token.ok()) return read_token.status();

  absl::MutexLock lock(&mu_);
  if (apps_by_name_.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat("app '", name, "' already exists"));
  }
  const int64_t now = NowUnixMicros();
  NewApp result;
  result.app.set_app_id(next_app_id_);
  result.app.set_name(std::string(name));
  result.app.set_created_unix_micros(now);
  result.ingest_key = *std::move(ingest_key);
  result.read_token = *std::move(read_token);

  rocksdb::WriteBatch batch;
  std::string next_id;
  PutFixed32BE(&next_id, next_app_id_ + 1);
  batch.Put(apps_cf_, kNextAppIdKey, next_id);
  batch.Put(apps_cf_, absl::StrCat(kAppPrefix, name), result.app.SerializeAsString());
  StoredCredential ingest, read;
  ingest.record.set_kind(CREDENTIAL_KIND_INGEST);
  read.record.set_kind(CREDENTIAL_KIND_READ);
  for (auto [credential, secret] :
       {std::pair{&ingest, &result.ingest_key}, std::pair{&read, &result.read_token}}) {
    credential->record.set_app_id(result.app.app_id());
    credential->record.set_created_unix_micros(now);
    credential->record.set_display_prefix(secret->substr(0, 10));
    if (absl::Status s = PutCredential(&batch, *secret, credential->record, &credential->hash);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = WriteSynced(&batch, "creating the app"); !s.ok()) return s;

  ++next_app_id_;
  app_names_[result.app.app_id()] = result.app.name();
  apps_by_name_[result.app.name()] = result.app;
  credentials_[ingest.hash] = std::move(ingest);
  credentials_[read.hash] = std::move(read);
  return result;
}

absl::StatusOr<NewCredential> Catalog::CreateCredential(AppId app, CredentialKind kind) {
  absl::StatusOr<std::string> secret = NewSecret(kind);
  if (!secret.ok()) return secret.status();
  absl::MutexLock lock(&mu_);
  if (kind != CREDENTIAL_KIND_ADMIN && !app_names_.contains(app)) {
    return absl::NotFoundError(absl::StrCat("no app with id ", app));
  }
  StoredCredential credential;
  credential.record.set_kind(kind);
  credential.record.set_app_id(kind == CREDENTIAL_KIND_ADMIN ? 0 : app);
  credential.record.set_created_unix_micros(NowUnixMicros());
  credential.record.set_display_prefix(secret->substr(0, 10));
  rocksdb::WriteBatch batch;
  if (absl::Status s = PutCredential(&batch, *secret, credential.record, &credential.hash);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteSynced(&batch, "creating a credential"); !s.ok()) return s;
  NewCredential created{{KeyId(credential.hash), credential.record}, *std::move(secret)};
  credentials_[credential.hash] = std::move(credential);
  return created;
}

std::vector<CredentialInfo> Catalog::ListCredentials(AppId app) const {
  absl::MutexLock lock(&mu_);
  std::vector<CredentialInfo> list;
  for (const auto& [hash, stored] : credentials_) {
    if (stored.record.app_id() == app && stored.record.kind() != CREDENTIAL_KIND_ADMIN) {
      list.push_back({KeyId(hash), stored.record});
    }
  }
  std::sort(list.begin(), list.end(), [](const CredentialInfo& a, const CredentialInfo& b) {
    return std::make_tuple(a.record.created_unix_micros(), a.key_id) <
           std::make_tuple(b.record.created_unix_micros(), b.key_id);
  });
  return list;
}

absl::StatusOr<CredentialInfo> Catalog::RevokeCredential(AppId app, absl::string_view key_id) {
  absl::MutexLock lock(&mu_);
  for (auto& [hash, stored] : credentials_) {
    if (stored.record.app_id() != app || stored.record.kind() == CREDENTIAL_KIND_ADMIN ||
        KeyId(hash) != key_id) {
      continue;
    }
    if (!stored.record.revoked()) {
      CredentialRecord revoked = stored.record;
      revoked.set_revoked(true);
      revoked.set_revoked_unix_micros(NowUnixMicros());
      rocksdb::WriteBatch batch;
      batch.Put(apps_cf_, absl::StrCat(kCredentialPrefix, hash), revoked.SerializeAsString());
      if (absl::Status s = WriteSynced(&batch, "revoking a key"); !s.ok()) return s;
      stored.record = std::move(revoked);
    }
    return CredentialInfo{std::string(key_id), stored.record};
  }
  return absl::NotFoundError(absl::StrCat("no key '", key_id, "' in this app"));
}

absl::StatusOr<AppRecord> Catalog::UpdateApp(absl::string_view name,
                                             const std::function<void(AppRecord*)>& change) {
  absl::MutexLock lock(&mu_);
  auto it = apps_by_name_.find(name);
  if (it == apps_by_name_.end()) return absl::NotFoundError(absl::StrCat("no app '", name, "'"));
  AppRecord updated = it->second;
  change(&updated);
  updated.set_app_id(it->second.app_id());
  updated.set_name(it->second.name());
  rocksdb::WriteBatch batch;
  batch.Put(apps_cf_, absl::StrCat(kAppPrefix, name), updated.SerializeAsString());
  if (absl::Status s = WriteSynced(&batch, "updating the app"); !s.ok()) return s;
  it->second = updated;
  return updated;
}

absl::Status Catalog::WriteSynced(rocksdb::WriteBatch* batch, absl::string_view what) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  return FromRocks(db_->Write(sync, batch), what);
}

std::optional<Credential> Catalog::Authenticate(absl::string_view secret) const {
  if (secret.empty() || secret.size() > 256) return std::nullopt;
  const std::string hash = Sha256(secret);
  absl::MutexLock lock(&mu_);
  auto it = credentials_.find(hash);
  if (it == credentials_.end()) return std::nullopt;
  const StoredCredential& stored = it->second;
  // The map lookup found the hash; comparing the stored copy in constant time
  // keeps the final check free of data-dependent timing.
  if (CRYPTO_memcmp(stored.hash.data(), hash.data(), hash.size()) != 0) return std::nullopt;
  if (stored.record.revoked()) return std::nullopt;
  Credential credential;
  credential.kind = stored.record.kind();
  credential.app_id = stored.record.app_id();
  credential.key_id = KeyId(hash);
  if (auto name = app_names_.find(credential.app_id); name != app_names_.end()) {
    credential.app_name = name->second;
  } else if (credential.kind != CREDENTIAL_KIND_ADMIN) {
    return std::nullopt;
  }
  return credential;
}

std::optional<AppRecord> Catalog::FindApp(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = apps_by_name_.find(name);
  if (it == apps_by_name_.end()) return std::nullopt;
  return it->second;
}

std::optional<AppRecord> Catalog::FindApp(AppId id) const {
  absl::MutexLock lock(&mu_);
  auto name = app_names_.find(id);
  if (name == app_names_.end()) return std::nullopt;
  return apps_by_name_.at(name->second);
}

std::vector<AppRecord> Catalog::ListApps() const {
  absl::MutexLock lock(&mu_);
  std::vector<AppRecord> apps;
  for (const auto& [name, app] : apps_by_name_) apps.push_back(app);
  std::sort(apps.begin(), apps.end(),
            [](const AppRecord& a, const AppRecord& b) { return a.name() < b.name(); });
  return apps;
}

absl::StatusOr<std::string> Catalog::LoadOrCreateAdminToken(const std::string& path) {
  {
    std::ifstream in(path);
    std::string token;
    if (in && std::getline(in, token)) {
      token = std::string(absl::StripAsciiWhitespace(token));
      std::optional<Credential> credential = Authenticate(token);
      if (credential && credential->kind == CREDENTIAL_KIND_ADMIN) return token;
      return absl::FailedPreconditionError(absl::StrCat(
          path,
          " holds a token this data directory does not know; delete the file to issue a "
          "new admin token"));
    }
  }
  // No token file: issue a new token and revoke any earlier admin tokens.
  absl::StatusOr<NewCredential> created = CreateCredential(0, CREDENTIAL_KIND_ADMIN);
  if (!created.ok()) return created.status();
  std::string* token = &created->secret;
  {
    absl::MutexLock lock(&mu_);
    const std::string new_hash = Sha256(*token);
    rocksdb::WriteBatch batch;
    for (auto& [hash, stored] : credentials_) {
      if (stored.record.kind() == CREDENTIAL_KIND_ADMIN && hash != new_hash &&
          !stored.record.revoked()) {
        stored.record.set_revoked(true);
        stored.record.set_revoked_unix_micros(NowUnixMicros());
        batch.Put(apps_cf_, absl::StrCat(kCredentialPrefix, hash),
                  stored.record.SerializeAsString());
      }
    }
    if (absl::Status s = WriteSynced(&batch, "revoking old admin tokens"); !s.ok()) return s;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write the admin token to ", path, ": ", std::strerror(errno)));
  }
  const std::string line = *token + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::fchmod(fd, 0600);
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!written || !synced) {
    return absl::DataLossError(absl::StrCat("cannot write the admin token to ", path));
  }
  return *token;
}

}  // namespace fieldlog::store
