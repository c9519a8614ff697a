// Compression dictionaries for settled blocks.
//
// A device that logs a few dozen lines leaves blocks too small for zstd to
// learn the app's text from: on fieldlog-bench's lines a 20-line block kept
// 67 bytes a line where a 2,048-line one keeps 18. A dictionary of the app's
// common text, which zstd may copy from as if it preceded every block, gives
// small blocks what large ones learn from themselves.
//
// What goes into one (template_sampler.h): message templates (numbers taken
// out) and tags that at least `min_people` distinct users of the app logged
// (8 by default; devices count for lines without a user). Text only one user
// logged (a name, an address) never qualifies, so a dictionary holds no
// user's data: it outlives retention and `erase-user` by design, and it is
// per app, so no app's text helps compress another's. Since December 2026
// a dictionary also carries zstd's entropy tables computed from that same
// text (DictionaryRecord::zstd_tables): a 20-line block need not describe
// its own Huffman and FSE tables, and then decodes without building them.
//
// Contract: dictionaries are immutable and never deleted (each is at most 64
// KiB, and a new one is built only from four times the samples the previous
// one was, so an app has a few in its life; store/README.md). A dictionary is durable
// (synced) before any block that uses it is written. Dictionaries is thread-safe; what Find and
// Newest return stays valid as long as the caller holds it.
#ifndef FIELDLOG_STORE_DICTIONARIES_H_
#define FIELDLOG_STORE_DICTIONARIES_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "store/keys.h"
#include "store/records.pb.h"

struct ZSTD_CDict_s;
struct ZSTD_DDict_s;

namespace fieldlog::store {

// One dictionary with zstd's tables for it, prepared once.
class CompressionDictionary {
 public:
  CompressionDictionary(uint32_t id, DictionaryRecord record, int zstd_level);
  ~CompressionDictionary();
  CompressionDictionary(const CompressionDictionary&) = delete;
  CompressionDictionary& operator=(const CompressionDictionary&) = delete;

  uint32_t id() const { return id_; }
  AppId app() const { return record_.app_id(); }
  const DictionaryRecord& record() const { return record_; }
  // Null only if zstd could not allocate the tables.
  const ZSTD_CDict_s* cdict() const { return cdict_; }
  const ZSTD_DDict_s* ddict() const { return ddict_; }

 private:
  const uint32_t id_;
  const DictionaryRecord record_;
  ZSTD_CDict_s* cdict_;
  ZSTD_DDict_s* ddict_;
};

class Dictionaries {
 public:
  // Dictionaries are kept in `family` (the `apps` family) under "dict/";
  // their compression tables are prepared for `zstd_level`.
  Dictionaries(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, int zstd_level);

  // Reads every stored dictionary. A corrupt record is skipped and logged
  // (store.corrupt_dictionary): the blocks that name it read as DATA_LOSS,
  // everything else serves. Fails only when RocksDB cannot be read.
  absl::Status Load();
  // Records Load skipped as corrupt.
  int corrupt_records() const {
    absl::MutexLock lock(&mu_);
    return corrupt_records_;
  }

  // Stores a new dictionary for `app` (synced) and makes it the app's newest.
  absl::StatusOr<std::shared_ptr<const CompressionDictionary>> Add(AppId app, std::string content,
                                                                   uint64_t samples,
                                                                   uint32_t min_people);

  // The dictionary with this id; null when there is none.
  std::shared_ptr<const CompressionDictionary> Find(uint32_t id) const;
  // The app's newest dictionary, which new settled blocks use; null when the
  // app has none yet.
  std::shared_ptr<const CompressionDictionary> Newest(AppId app) const;

 private:
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const family_;
  const int zstd_level_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint32_t, std::shared_ptr<const CompressionDictionary>> by_id_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<AppId, std::shared_ptr<const CompressionDictionary>> newest_
      ABSL_GUARDED_BY(mu_);
  uint32_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int corrupt_records_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_DICTIONARIES_H_
