#include "query/analytics.h"

#include <algorithm>
#include <array>
#include <functional>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "query/block_scan.h"
#include "query/row_filter.h"
#include "query/search.h"
#include "store/reader.h"
#include "store/time_buckets.h"

namespace fieldlog::query {
namespace {

// Calls `visit` for every block of the scope (a device, a user's devices, or
// the whole app when both are empty) that meets [from_us, to_us) and may
// hold a row `filter` accepts, on up to `workers` threads (see ScanBlocks),
// opened with `read_options`.
absl::Status ForEachBlock(const store::Store& store, const store::AppRecord& app,
                          absl::string_view user_id, absl::string_view device_id, int64_t from_us,
                          int64_t to_us, const RowFilter& filter, size_t workers,
                          const store::BlockReadOptions& read_options,
                          const std::function<void(size_t worker, absl::string_view device,
                                                   const store::BlockReader&)>& visit) {
  const auto may_match = [&](const store::BlockMeta& meta) { return filter.BlockMayMatch(meta); };
  if (device_id.empty() && user_id.empty()) {
    // Without a filter on levels or users, the blocks' metas have nothing to
    // rule out, and need not be read.
    std::function<bool(const store::BlockMeta&)> keep;
    if (filter.NeedsBlockMeta()) keep = may_match;
    return ScanAppBlocks(store, app.app_id(), from_us, to_us, keep, workers, visit, read_options);
  }
  store::Reader reader(store);
  std::vector<std::string> devices;
  if (!device_id.empty()) {
    devices.emplace_back(device_id);
  } else {
    absl::StatusOr<std::vector<store::UserDevice>> listed =
        reader.ListUserDevices(app.app_id(), user_id);
    if (!listed.ok()) return listed.status();
    for (store::UserDevice& d : *listed) devices.push_back(std::move(d.device_id));
  }
  std::vector<store::AppBlockRef> blocks;
  for (const std::string& device : devices) {
    absl::StatusOr<std::vector<store::BlockRef>> listed = reader.ListBlocks(app.app_id(), device);
    if (!listed.ok()) return listed.status();
    for (store::BlockRef& ref : *listed) {
      if (!store::BlockMetaMeetsRange(ref.meta, from_us, to_us) || !may_match(ref.meta)) continue;
      blocks.push_back({device, std::move(ref)});
    }
  }
  return ScanBlocks(store, reader, app.app_id(), blocks, workers, visit, read_options);
}

// Matching lines of one (device, user) pair.
struct PairCounts {
  uint64_t lines = 0;
  int64_t first_us = 0;
  int64_t last_us = 0;
  uint64_t last_seq = 0;  // of the line at last_us

  void Merge(const PairCounts& o) {
    lines += o.lines;
    first_us = std::min(first_us, o.first_us);
    if (std::tie(o.last_us, o.last_seq) > std::tie(last_us, last_seq)) {
      last_us = o.last_us;
      last_seq = o.last_seq;
    }
  }
};

// What one scan worker found.
struct WorkerCounts {
  uint64_t scanned = 0;
  uint64_t matching = 0;
  absl::flat_hash_map<std::pair<std::string, std::string>, PairCounts> pairs;
};

int64_t Cutoff(const store::Store& store, const store::AppRecord& app, int64_t now_us) {
  return store.retention().CutoffMicros(app.app_id(), now_us);
}

}  // namespace

absl::StatusOr<v1::StatsResponse> ComputeStats(const store::Store& store,
                                               const store::AppRecord& app,
                                               const v1::StatsRequest& request, int64_t now_us) {
  int64_t from, to;
  if (absl::Status s = ResolveTimeRange(request.from_unix_micros(), request.to_unix_micros(),
                                        now_us, &from, &to);
      !s.ok()) {
    return s;
  }
  const int64_t span = to - from;
  int64_t interval = request.interval_micros();
  if (interval < 0) return absl::InvalidArgumentError("interval must be positive");
  if (interval == 0) interval = std::max<int64_t>(1'000'000, span / 24);
  if ((span + interval - 1) / interval > kMaxBuckets) {
    return absl::InvalidArgumentError(
        absl::StrCat("the interval gives more than ", kMaxBuckets, " buckets; use a wider one"));
  }
  if (request.top_tags() > kMaxTopTags) {
    return absl::InvalidArgumentError(absl::StrCat("top_tags is at most ", kMaxTopTags));
  }
  const uint32_t top_tags = request.top_tags() == 0 ? kDefaultTopTags : request.top_tags();
  const int64_t cutoff = Cutoff(store, app, now_us);
  const int64_t previous_from = from - span;

  v1::StatsResponse response;
  response.set_from_unix_micros(from);
  response.set_to_unix_micros(to);
  response.set_interval_micros(interval);
  const size_t buckets = static_cast<size_t>((span + interval - 1) / interval);
  std::vector<std::array<uint64_t, 7>> counts(buckets, std::array<uint64_t, 7>{});
  std::array<uint64_t, 7> totals{}, previous_totals{};
  absl::flat_hash_map<std::string, v1::TagStats> tags;

  LineFilters filters;
  filters.user_id = request.user_id();
  absl::StatusOr<RowFilter> filter = RowFilter::Make(filters);
  if (!filter.ok()) return filter.status();
  absl::Status status = ForEachBlock(
      store, app, request.user_id(), request.device_id(), std::max(previous_from, cutoff), to,
      *filter, /*workers=*/1,
      // Stats count lines, tags and levels: no message is read.
      store::BlockReadOptions{.messages_from_us = 0, .messages_to_us = 0},
      [&](size_t, absl::string_view, const store::BlockReader& block) {
        for (size_t row = 0; row < block.size(); ++row) {
          const int64_t t = block.time_us(row);
          if (t < previous_from || t >= to || t < cutoff) continue;
          if (!request.user_id().empty() && block.user_id(row) != request.user_id()) continue;
          const int level = block.level(row);
          const bool error = level >= v1::LEVEL_ERROR;
          v1::TagStats& tag = tags[block.tag(row)];
          if (t >= from) {
            ++counts[static_cast<size_t>((t - from) / interval)][level];
            ++totals[level];
            tag.set_lines(tag.lines() + 1);
            if (error) tag.set_errors(tag.errors() + 1);
          } else {
            ++previous_totals[level];
            tag.set_previous_lines(tag.previous_lines() + 1);
            if (error) tag.set_previous_errors(tag.previous_errors() + 1);
          }
        }
      });
  if (!status.ok()) return status;

  for (size_t b = 0; b < buckets; ++b) {
    v1::StatsBucket* bucket = response.add_buckets();
    bucket->set_start_unix_micros(from + static_cast<int64_t>(b) * interval);
    for (uint64_t c : counts[b]) bucket->add_level_counts(c);
  }
  for (uint64_t c : totals) response.add_level_totals(c);
  for (uint64_t c : previous_totals) response.add_previous_level_totals(c);
  std::vector<v1::TagStats> sorted;
  sorted.reserve(tags.size());
  for (auto& [name, stats] : tags) {
    stats.set_tag(name);
    sorted.push_back(std::move(stats));
  }
  // Busiest first; tags seen only before the range (gone quiet) after those.
  std::sort(sorted.begin(), sorted.end(), [](const v1::TagStats& a, const v1::TagStats& b) {
    return std::make_tuple(a.lines(), a.previous_lines(), b.tag()) >
           std::make_tuple(b.lines(), b.previous_lines(), a.tag());
  });
  if (sorted.size() > top_tags) sorted.resize(top_tags);
  for (v1::TagStats& t : sorted) *response.add_tags() = std::move(t);
  return response;
}

absl::StatusOr<v1::AffectedResponse> FindAffected(const store::Store& store,
                                                  const store::AppRecord& app,
                                                  const v1::AffectedRequest& request,
                                                  int64_t now_us) {
  if (request.text().empty() && request.regex().empty()) {
    return absl::InvalidArgumentError("name the text or regex to look for");
  }
  if (request.limit() > kMaxAffectedLimit) {
    return absl::InvalidArgumentError(absl::StrCat("limit is at most ", kMaxAffectedLimit));
  }
  const uint32_t limit = request.limit() == 0 ? kDefaultAffectedLimit : request.limit();
  int64_t from, to;
  if (absl::Status s = ResolveTimeRange(request.from_unix_micros(), request.to_unix_micros(),
                                        now_us, &from, &to);
      !s.ok()) {
    return s;
  }
  from = std::max(from, Cutoff(store, app, now_us));
  v1::SearchRequest as_search;
  as_search.set_text(request.text());
  as_search.set_regex(request.regex());
  as_search.set_min_level(request.min_level());
  absl::StatusOr<LineFilters> filters = FiltersFromRequest(as_search);
  if (!filters.ok()) return filters.status();
  absl::StatusOr<RowFilter> filter = RowFilter::Make(*filters);
  if (!filter.ok()) return filter.status();

  // Each worker counts matching lines per (device, user) pair on its own;
  // the pairs are merged at the end. Matching lines are few, so the maps are
  // small whatever the number of lines scanned.
  const size_t workers = DefaultScanWorkers();
  std::vector<WorkerCounts> counts(workers);
  // A RowFilter keeps scratch space: one copy per worker.
  const std::vector<RowFilter> worker_filters(workers, *filter);
  if (from < to) {
    // Only rows of [from, to) that may hold the text have their message
    // rebuilt.
    absl::Status status = ForEachBlock(
        store, app, "", "", from, to, *filter, workers, filter->ReadOptions(from, to),
        [&](size_t worker, absl::string_view device_id, const store::BlockReader& block) {
          WorkerCounts& mine = counts[worker];
          mine.scanned += block.lines();
          for (size_t row = 0; row < block.size(); ++row) {
            const int64_t t = block.time_us(row);
            if (t < from || t >= to || !worker_filters[worker].Matches(block, row)) continue;
            ++mine.matching;
            PairCounts& pair =
                mine.pairs[std::make_pair(std::string(device_id), std::string(block.user_id(row)))];
            const uint64_t seq = block.seq(row);
            if (pair.lines == 0 || t < pair.first_us) pair.first_us = t;
            if (pair.lines == 0 || std::tie(t, seq) > std::tie(pair.last_us, pair.last_seq)) {
              pair.last_us = t;
              pair.last_seq = seq;
            }
            ++pair.lines;
          }
        });
    if (!status.ok()) return status;
  }

  // Merge the workers' pairs, then fold them into devices and users.
  uint64_t scanned = 0, matching = 0;
  absl::flat_hash_map<std::pair<std::string, std::string>, PairCounts> pairs;
  for (WorkerCounts& w : counts) {
    scanned += w.scanned;
    matching += w.matching;
    for (auto& [key, c] : w.pairs) {
      auto [it, inserted] = pairs.try_emplace(key, c);
      if (!inserted) it->second.Merge(c);
    }
  }
  absl::flat_hash_map<std::string, v1::AffectedUser> users;
  absl::flat_hash_map<std::string, v1::AffectedDevice> devices;
  // Per device, the (time, seq) of its latest matching line: its user is the
  // device's user in the answer.
  absl::flat_hash_map<std::string, std::pair<int64_t, uint64_t>> device_latest;
  for (const auto& [key, c] : pairs) {
    const auto& [device_id, user_id] = key;
    v1::AffectedDevice& device = devices[device_id];
    auto latest = device_latest.try_emplace(device_id, c.last_us, c.last_seq);
    if (device.lines() == 0) {
      device.set_device_id(device_id);
      device.set_first_unix_micros(c.first_us);
      device.set_last_unix_micros(c.last_us);
      device.set_user_id(user_id);
    } else {
      device.set_first_unix_micros(std::min(device.first_unix_micros(), c.first_us));
      if (std::make_pair(c.last_us, c.last_seq) > latest.first->second) {
        latest.first->second = {c.last_us, c.last_seq};
        device.set_last_unix_micros(c.last_us);
        device.set_user_id(user_id);
      }
    }
    device.set_lines(device.lines() + c.lines);
    if (user_id.empty()) continue;
    v1::AffectedUser& user = users[user_id];
    if (user.lines() == 0) {
      user.set_user_id(user_id);
      user.set_first_unix_micros(c.first_us);
      user.set_last_unix_micros(c.last_us);
    }
    user.set_lines(user.lines() + c.lines);
    user.set_devices(user.devices() + 1);
    user.set_first_unix_micros(std::min(user.first_unix_micros(), c.first_us));
    user.set_last_unix_micros(std::max(user.last_unix_micros(), c.last_us));
  }
  v1::AffectedResponse response;
  response.set_scanned_lines(scanned);
  response.set_matching_lines(matching);
  response.set_total_users(static_cast<uint32_t>(users.size()));
  response.set_total_devices(static_cast<uint32_t>(devices.size()));

  std::vector<v1::AffectedUser> sorted_users;
  for (auto& [id, user] : users) sorted_users.push_back(std::move(user));
  std::sort(sorted_users.begin(), sorted_users.end(),
            [](const v1::AffectedUser& a, const v1::AffectedUser& b) {
              return std::make_tuple(a.lines(), b.user_id()) >
                     std::make_tuple(b.lines(), a.user_id());
            });
  if (sorted_users.size() > limit) sorted_users.resize(limit);
  for (v1::AffectedUser& u : sorted_users) *response.add_users() = std::move(u);
  std::vector<v1::AffectedDevice> sorted_devices;
  for (auto& [id, device] : devices) sorted_devices.push_back(std::move(device));
  std::sort(sorted_devices.begin(), sorted_devices.end(),
            [](const v1::AffectedDevice& a, const v1::AffectedDevice& b) {
              return std::make_tuple(a.lines(), b.device_id()) >
                     std::make_tuple(b.lines(), a.device_id());
            });
  if (sorted_devices.size() > limit) sorted_devices.resize(limit);
  for (v1::AffectedDevice& d : sorted_devices) *response.add_devices() = std::move(d);
  return response;
}

}  // namespace fieldlog::query
