#include "store/template_sampler.h"

#include <algorithm>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "store/coding.h"
#include "store/message_template.h"

namespace fieldlog::store {

TemplateSampler::TemplateSampler(TemplateSamplerOptions options)
    : options_([&] {
        options.min_people = std::clamp<uint32_t>(options.min_people, 1, 16);
        return options;
      }()) {}

bool TemplateSampler::Observe(AppId app, absl::string_view user_id, absl::string_view device_id,
                              absl::string_view tag, absl::string_view message) {
  // The template is made outside the lock.
  std::string key = "t";
  AppendMessageTemplate(message, &key, nullptr);
  const uint32_t person_hash = static_cast<uint32_t>(user_id.empty() ? absl::HashOf('d', device_id)
                                                                     : absl::HashOf('u', user_id));
  absl::MutexLock lock(&mu_);
  AppTable& table = apps_[app];
  if (table.next_build == 0) table.next_build = options_.first_build_samples;
  Add(table, std::move(key), person_hash);
  if (!tag.empty()) Add(table, absl::StrCat("g", tag), person_hash);
  if (++table.samples < table.next_build) return false;
  table.next_build = table.samples * 4;
  return true;
}

uint64_t TemplateSampler::SampleEvery(AppId app) const {
  absl::MutexLock lock(&mu_);
  auto it = apps_.find(app);
  const uint64_t samples = it == apps_.end() ? 0 : it->second.samples;
  return samples < options_.first_build_samples ? 1 : kSampleEvery;
}

void TemplateSampler::Add(AppTable& table, std::string key, uint32_t person_hash) {
  auto it = table.entries.find(key);
  if (it == table.entries.end()) {
    if (table.entries.size() >= options_.max_entries) {
      if (table.full) return;
      // Make room by forgetting what only one device logged; if that frees
      // little, stop adding text (the common text is in by now).
      absl::erase_if(table.entries, [](const auto& e) { return e.second.people < 2; });
      table.full = table.entries.size() >= options_.max_entries * 9 / 10;
      if (table.full) return;
    }
    it = table.entries.emplace(std::move(key), Entry{}).first;
  }
  Entry& entry = it->second;
  ++entry.count;
  if (entry.people < options_.min_people &&
      std::find(entry.person_hashes, entry.person_hashes + entry.people, person_hash) ==
          entry.person_hashes + entry.people) {
    entry.person_hashes[entry.people++] = person_hash;
  }
}

std::string TemplateSampler::BuildContent(AppId app, uint64_t* samples) const {
  struct Candidate {
    uint64_t count;
    absl::string_view key;
  };
  std::vector<Candidate> candidates;
  absl::MutexLock lock(&mu_);
  auto app_it = apps_.find(app);
  *samples = app_it == apps_.end() ? 0 : app_it->second.samples;
  if (app_it == apps_.end()) return "";
  for (const auto& [key, entry] : app_it->second.entries) {
    if (entry.people >= options_.min_people) candidates.push_back({entry.count, key});
  }
  if (candidates.empty()) return "";
  // The most frequent first, to keep the best within the budget.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.count != b.count ? a.count > b.count : a.key < b.key;
  });
  size_t bytes = 1, kept = 0;
  for (; kept < candidates.size(); ++kept) {
    // A tag is stored as a length byte and the tag, as in a block's words.
    const size_t size = candidates[kept].key.size() - 1 + (candidates[kept].key[0] == 'g');
    if (bytes + size > options_.dictionary_bytes) break;
    bytes += size;
  }
  std::string content(1, '\0');  // never zstd's dictionary magic (dictionaries.h)
  content.reserve(bytes);
  // Tags first (they sit at the head of a block's columns), then templates;
  // each group the most frequent last.
  for (const char group : {'g', 't'}) {
    for (size_t i = kept; i-- > 0;) {
      const absl::string_view key = candidates[i].key;
      if (key[0] != group) continue;
      if (group == 'g') PutVarint64(&content, key.size() - 1);
      content.append(key.data() + 1, key.size() - 1);
    }
  }
  return content;
}

}  // namespace fieldlog::store
