#include "store/dictionaries.h"

#include <zdict.h>
#include <zstd.h>

#include <utility>
#include <vector>

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

// zstd's dictionary magic number, little-endian, as zstd's own dictionaries
// (and so DictionaryRecord::zstd_tables) begin.
constexpr char kZstdDictionaryMagic[] = "\x37\xa4\x30\xec";

std::string DictionaryKey(uint32_t id) {
  std::string key = kDictionaryPrefix;
  PutFixed32BE(&key, id);
  return key;
}

// zstd's entropy tables for `content` (DictionaryRecord::zstd_tables); empty
// when zstd cannot compute them.
std::string ZstdTablesFor(absl::string_view content, int zstd_level) {
  // The samples zstd gathers its statistics from: the content's own
  // templates, each ending with its 0 byte (the tags before the first one
  // make one more sample). Each counts once, whatever its frequency: the
  // tables serve every block's text, common or not.
  std::vector<size_t> sizes;
  size_t start = 1;  // after the leading 0 byte
  for (size_t i = start; i < content.size(); ++i) {
    if (content[i] == '\0') {
      sizes.push_back(i + 1 - start);
      start = i + 1;
    }
  }
  if (start < content.size()) sizes.push_back(content.size() - start);
  if (sizes.empty()) return "";
  // The tables take well under a kilobyte; room for more, so that zstd never
  // shortens the content to fit (checked below all the same).
  std::string dictionary(content.size() + 16 * 1024, '\0');
  ZDICT_params_t params{};
  params.compressionLevel = zstd_level;
  // The id zstd would write into frames; fieldlog's frames leave it out (the
  // block's header names the dictionary), so any id does: zstd picks one.
  params.dictID = 0;
  const size_t n = ZDICT_finalizeDictionary(dictionary.data(), dictionary.size(), content.data(),
                                            content.size(), content.data() + 1, sizes.data(),
                                            static_cast<unsigned>(sizes.size()), params);
  if (ZDICT_isError(n) || n <= content.size()) return "";
  dictionary.resize(n);
  const absl::string_view tables = absl::string_view(dictionary).substr(0, n - content.size());
  if (!absl::EndsWith(dictionary, content) || !absl::StartsWith(tables, kZstdDictionaryMagic)) {
    return "";
  }
  return std::string(tables);
}

}  // namespace

CompressionDictionary::CompressionDictionary(uint32_t id, DictionaryRecord record, int zstd_level)
    : id_(id), record_(std::move(record)) {
  // zstd tells the two kinds apart by the first bytes. Without tables the
  // content is "raw content" (TemplateSampler starts it with a 0 byte, never
  // the magic number): history zstd may copy from before each block. With
  // them, tables and content are one dictionary in zstd's format.
  const std::string& content = record_.content();
  std::string zstd_dictionary;
  if (!record_.zstd_tables().empty()) zstd_dictionary = record_.zstd_tables() + content;
  const std::string& bytes = record_.zstd_tables().empty() ? content : zstd_dictionary;
  cdict_ = ZSTD_createCDict(bytes.data(), bytes.size(), zstd_level);
  ddict_ = ZSTD_createDDict(bytes.data(), bytes.size());
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
    const bool id_readable = key.size() == sizeof(kDictionaryPrefix) - 1 + 4;
    const uint32_t id = id_readable ? DecodeFixed32BE(key.data() + key.size() - 4) : 0;
    // Its id is never given to another dictionary, even a corrupt one's.
    if (id_readable) next_id_ = std::max(next_id_, id + 1);
    DictionaryRecord record;
    std::shared_ptr<const CompressionDictionary> dictionary;
    if (id_readable &&
        record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) &&
        !record.content().empty() && record.content()[0] == '\0' &&
        (record.zstd_tables().empty() ||
         absl::StartsWith(record.zstd_tables(), kZstdDictionaryMagic))) {
      dictionary =
          std::make_shared<const CompressionDictionary>(id, std::move(record), zstd_level_);
    }
    if (dictionary == nullptr || dictionary->ddict() == nullptr) {
      // A record that does not parse, or tables zstd refuses. Only the
      // blocks that name it become unreadable (DATA_LOSS naming the
      // dictionary); the rest of the store serves.
      ++corrupt_records_;
      LogWarning("store.corrupt_dictionary", {{"key", absl::BytesToHexString(key)},
                                              {"bytes", absl::StrCat(it->value().size())}});
      continue;
    }
    // Keys sort by id, so the last one of an app is its newest.
    newest_[dictionary->app()] = dictionary;
    by_id_[id] = std::move(dictionary);
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
  // Computed before taking the lock: it takes milliseconds, and readers look
  // dictionaries up under it.
  record.set_zstd_tables(ZstdTablesFor(record.content(), zstd_level_));
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
