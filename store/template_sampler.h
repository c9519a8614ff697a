// TemplateSampler: learns an app's common text from a sample of the lines it
// stores, and writes it out as a compression dictionary (dictionaries.h).
//
// Each sampled line adds its message template (message_template.h: the text
// with its numbers taken out) and its tag to the app's table, with the
// distinct people who logged them (up to min_people, by a 32-bit hash of the
// line's user id, or of its device id when it has no user). Only entries that
// min_people logged go into a dictionary, so text that one user logged, on
// however many devices, never does (the privacy argument in dictionaries.h).
// The table is bounded: when full, entries only one person logged are
// dropped, and while it stays full new text is not added. An entry takes
// about 200 bytes, so an app whose text varies a lot holds up to ~3 MiB here
// (the server keeps one table per app that has stored lines since it
// started).
//
// Contract: thread-safe. Observe is cheap enough for the write path at the
// rate the writer samples (every line of an app's first 32,768 since the
// server started, then one in kSampleEvery).
#ifndef FIELDLOG_STORE_TEMPLATE_SAMPLER_H_
#define FIELDLOG_STORE_TEMPLATE_SAMPLER_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "store/keys.h"

namespace fieldlog::store {

struct TemplateSamplerOptions {
  // Distinct users (or devices without a user) that must have logged a
  // template or tag for it to be used; at most 16.
  uint32_t min_people = 8;
  // Templates and tags tracked per app.
  size_t max_entries = 16384;
  // Bytes of a dictionary, at most.
  size_t dictionary_bytes = 64 << 10;
  // Samples an app needs for its first dictionary; each later one needs four
  // times the samples of the one before.
  uint64_t first_build_samples = 32768;
};

class TemplateSampler {
 public:
  // Past an app's first_build_samples, the writer samples its lines whose
  // seq is a multiple of this (every line before: see SampleEvery).
  static constexpr uint64_t kSampleEvery = 16;

  explicit TemplateSampler(TemplateSamplerOptions options = {});

  // 1 (sample every line) while the app has fewer than first_build_samples,
  // so that its first dictionary comes soon and from many lines;
  // kSampleEvery afterwards, whether or not a dictionary came of them (an
  // app with too little common text is not sampled in full forever).
  uint64_t SampleEvery(AppId app) const;

  // Adds one line. True when the app has gathered the samples for a new
  // dictionary (once per threshold: the caller builds it).
  bool Observe(AppId app, absl::string_view user_id, absl::string_view device_id,
               absl::string_view tag, absl::string_view message);

  // The content of a dictionary from what the app's samples hold now: tags
  // and templates that min_people people logged, the most frequent last
  // (zstd reaches the end of its history with the shortest offsets), cut to
  // dictionary_bytes. It starts with a 0 byte. Empty when nothing qualifies.
  // `samples` is set to the samples it was built from.
  std::string BuildContent(AppId app, uint64_t* samples) const;

  const TemplateSamplerOptions& options() const { return options_; }

 private:
  struct Entry {
    uint64_t count = 0;
    uint32_t people = 0;  // distinct people seen, at most min_people
    uint32_t person_hashes[16] = {};
  };
  struct AppTable {
    uint64_t samples = 0;
    uint64_t next_build = 0;
    bool full = false;
    // Key: 't' + template, or 'g' + tag.
    absl::flat_hash_map<std::string, Entry> entries;
  };

  void Add(AppTable& table, std::string key, uint32_t person_hash)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const TemplateSamplerOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<AppId, AppTable> apps_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_TEMPLATE_SAMPLER_H_
