#include "store/dictionaries.h"

#include <zstd.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "store/coding.h"
#include "store/store.h"

namespace fieldlog::store {
namespace {

constexpr char kDictionaryPrefix[] = "dict/";

std::string DictionaryKey(uint32_t id) {
  std::string key = kDictionaryPrefix;
  PutFixed32BE(&key, id);
  return key;
}

}  // namespace

CompressionDictionary::CompressionDictionary(uint32_t id, DictionaryRecord record, int zstd_level)
    : id_(id), record_(std::move(record)) {
  // Content that does not start with zstd's dictionary magic number is "raw
  // content": zstd uses the bytes as history before each block, which is
  // what a list of common templates is. TemplateSampler starts every
  // dictionary with a 0 byte, so none is taken for a trained one.
  const std::string& content = record_.content();
  cdict_ = ZSTD_createCDict(content.data(), content.size(), zstd_level);
  ddict_ = ZSTD_createDDict(content.data(), content.size());
}

CompressionDictionary::~CompressionDictionary() {
  ZSTD_freeCDict(cdict_);
  ZSTD_freeDDict(ddict_);
}

Dictionaries::Dictionaries(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, int zstd_level)
    : db_(db), family_(family), zstd_level_(zstd_level) {}

absl::Status Dictionaries::Load() {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), family_));
  for (it->Seek(kDictionaryPrefix); it->Valid(); it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    if (!absl::StartsWith(key, kDictionaryPrefix)) break;
    DictionaryRecord record;
    if (key.size() != sizeof(kDictionaryPrefix) - 1 + 4 ||
        !record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) ||
        record.content().empty() || record.content()[0] != '\0') {
      // Only the blocks that name it become unreadable (DATA_LOSS naming the
      // dictionary); the rest of the store serves.
      ++corrupt_records_;
      // Its id is never given to another dictionary.
      if (key.size() == sizeof(kDictionaryPrefix) - 1 + 4) {
        next_id_ = std::max(next_id_, DecodeFixed32BE(key.data() + key.size() - 4) + 1);
      }
      LogWarning("store.corrupt_dictionary", {{"key", absl::BytesToHexString(key)},
                                              {"bytes", absl::StrCat(it->value().size())}});
      continue;
    }
    const uint32_t id = DecodeFixed32BE(key.data() + sizeof(kDictionaryPrefix) - 1);
    auto dictionary =
        std::make_shared<const CompressionDictionary>(id, std::move(record), zstd_level_);
    // Keys sort by id, so the last one of an app is its newest.
    newest_[dictionary->app()] = dictionary;
    by_id_[id] = std::move(dictionary);
    next_id_ = std::max(next_id_, id + 1);
  }
  return FromRocksStatus(it->status(), "reading the compression dictionaries");
}

absl::StatusOr<std::shared_ptr<const CompressionDictionary>> Dictionaries::Add(
    AppId app, std::string content, uint64_t samples, uint32_t min_people) {
  if (content.empty() || content[0] != '\0') {
    return absl::InvalidArgumentError("a dictionary's content starts with a 0 byte");
  }
  DictionaryRecord record;
  record.set_app_id(app);
  record.set_content(std::move(content));
  record.set_samples(samples);
  record.set_min_people(min_people);
  record.set_created_unix_micros(absl::ToUnixMicros(absl::Now()));
  absl::MutexLock lock(&mu_);
  const uint32_t id = next_id_;
  rocksdb::WriteOptions options;
  options.sync = true;  // before any block that uses it
  if (absl::Status s =
          FromRocksStatus(db_->Put(options, family_, DictionaryKey(id), record.SerializeAsString()),
                          "writing a compression dictionary");
      !s.ok()) {
    return s;
  }
  ++next_id_;
  auto dictionary =
      std::make_shared<const CompressionDictionary>(id, std::move(record), zstd_level_);
  by_id_[id] = dictionary;
  newest_[app] = dictionary;
  return dictionary;
}

std::shared_ptr<const CompressionDictionary> Dictionaries::Find(uint32_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

std::shared_ptr<const CompressionDictionary> Dictionaries::Newest(AppId app) const {
  absl::MutexLock lock(&mu_);
  auto it = newest_.find(app);
  return it == newest_.end() ? nullptr : it->second;
}

}  // namespace fieldlog::store
