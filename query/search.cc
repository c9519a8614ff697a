#include "query/search.h"

#include <algorithm>
#include <memory>
#include <queue>

#include "absl/strings/str_cat.h"
#include "common/text.h"
#include "common/time_util.h"
#include "store/block.h"
#include "store/reader.h"

namespace fieldlog::query {
namespace {

struct Candidate {
  size_t device;  // index into the device list
  uint64_t first_seq;
  store::BlockMeta meta;
};

struct Row {
  int64_t time_us;
  size_t device;
  uint64_t seq;
  std::shared_ptr<const store::BlockReader> block;
  size_t row;
};

}  // namespace

absl::StatusOr<SearchSpec> MakeSearchSpec(const v1::SearchRequest& request,
                                          const store::AppRecord& app, int64_t now_us) {
  SearchSpec spec;
  spec.app = app;
  spec.user_id = request.user_id();
  spec.device_id = request.device_id();
  if (spec.user_id.empty() && spec.device_id.empty()) {
    return absl::InvalidArgumentError("name a user_id or a device_id to search");
  }
  spec.to_us = request.to_unix_micros() != 0 ? request.to_unix_micros() : now_us + 1;
  spec.from_us = request.from_unix_micros() != 0 ? request.from_unix_micros()
                                                 : spec.to_us - int64_t{24} * 3600 * 1000000;
  if (spec.from_us >= spec.to_us) {
    return absl::InvalidArgumentError("the time range is empty: from must be before to");
  }
  if (!v1::Level_IsValid(request.min_level())) {
    return absl::InvalidArgumentError("min_level is not a known level");
  }
  spec.min_level = request.min_level();
  if (request.text().size() > kMaxTextBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("text is ", request.text().size(), " bytes; at most ", kMaxTextBytes));
  }
  spec.text = AsciiLower(request.text());
  if (request.limit() > kMaxLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit ", request.limit(), " is above the maximum of ", kMaxLimit));
  }
  spec.limit = request.limit() == 0 ? kDefaultLimit : request.limit();
  spec.newest_first = request.newest_first();
  if (!request.cursor().empty()) {
    absl::StatusOr<Cursor> cursor = DecodeCursor(request.cursor());
    if (!cursor.ok()) return cursor.status();
    if (cursor->newest_first != spec.newest_first) {
      return absl::InvalidArgumentError("the cursor belongs to a search in the other direction");
    }
    spec.cursor = *std::move(cursor);
  }
  return spec;
}

absl::StatusOr<SearchResult> Search(const store::Store& store, const SearchSpec& requested) {
  // Lines past the app's retention are never shown, even before compaction
  // has deleted them.
  SearchSpec spec = requested;
  spec.from_us = std::max(spec.from_us,
                          store.retention().CutoffMicros(spec.app.app_id(), NowUnixMicros()));
  store::Reader reader(store);
  SearchResult result;
  if (spec.from_us >= spec.to_us) return result;

  // 1. Devices.
  std::vector<std::string> devices;
  if (!spec.device_id.empty()) {
    devices.push_back(spec.device_id);
  } else {
    absl::StatusOr<std::vector<store::UserDevice>> user_devices =
        reader.ListUserDevices(spec.app.app_id(), spec.user_id);
    if (!user_devices.ok()) return user_devices.status();
    for (store::UserDevice& d : *user_devices) devices.push_back(std::move(d.device_id));
  }

  // 2. Candidate blocks.
  uint32_t wanted_levels = 0;
  for (int level = std::max<int>(spec.min_level, v1::LEVEL_TRACE); level <= v1::LEVEL_FATAL;
       ++level) {
    wanted_levels |= 1u << level;
  }
  std::vector<Candidate> candidates;
  for (size_t d = 0; d < devices.size(); ++d) {
    absl::StatusOr<std::vector<store::BlockRef>> blocks =
        reader.ListBlocks(spec.app.app_id(), devices[d]);
    if (!blocks.ok()) return blocks.status();
    for (store::BlockRef& block : *blocks) {
      const store::BlockMeta& m = block.meta;
      if (m.max_time_unix_micros() < spec.from_us || m.min_time_unix_micros() >= spec.to_us) {
        continue;
      }
      if ((m.level_mask() & wanted_levels) == 0) continue;
      if (!spec.user_id.empty() && !m.many_users() &&
          std::find(m.users().begin(), m.users().end(), spec.user_id) == m.users().end()) {
        continue;
      }
      if (spec.cursor) {
        if (!spec.newest_first && m.max_time_unix_micros() < spec.cursor->time_us) continue;
        if (spec.newest_first && m.min_time_unix_micros() > spec.cursor->time_us) continue;
      }
      candidates.push_back({d, block.first_seq, std::move(block.meta)});
    }
  }

  // 3. Visit blocks in timeline order, keeping the best limit+1 rows (one
  //    extra tells whether there is a next page).
  const bool newest = spec.newest_first;
  std::sort(candidates.begin(), candidates.end(), [&](const Candidate& a, const Candidate& b) {
    return newest ? a.meta.max_time_unix_micros() > b.meta.max_time_unix_micros()
                  : a.meta.min_time_unix_micros() < b.meta.min_time_unix_micros();
  });
  const auto key_of = [&](const Row& r) {
    return TimelineKey{r.time_us, devices[r.device], r.seq};
  };
  // "a comes before b" in the requested direction.
  const auto before = [&](const Row& a, const Row& b) {
    return newest ? key_of(b) < key_of(a) : key_of(a) < key_of(b);
  };
  // Max-heap on `before`: the top is the row that would be dropped first.
  std::priority_queue<Row, std::vector<Row>, decltype(before)> best(before);
  const size_t keep = static_cast<size_t>(spec.limit) + 1;

  for (const Candidate& c : candidates) {
    if (best.size() == keep) {
      const int64_t worst = best.top().time_us;
      // Every remaining block starts after the worst row kept: done.
      if (!newest && c.meta.min_time_unix_micros() > worst) break;
      if (newest && c.meta.max_time_unix_micros() < worst) break;
    }
    absl::StatusOr<store::BlockReader> block =
        reader.ReadBlock(spec.app.app_id(), devices[c.device], c.first_seq);
    if (!block.ok()) return block.status();
    auto shared = std::make_shared<const store::BlockReader>(*std::move(block));
    ++result.blocks_read;
    for (size_t row = 0; row < shared->size(); ++row) {
      ++result.rows_scanned;
      const int64_t time = shared->time_us(row);
      if (time < spec.from_us || time >= spec.to_us) continue;
      if (shared->level(row) < spec.min_level) continue;
      if (!spec.user_id.empty() && shared->user_id(row) != spec.user_id) continue;
      Row candidate{time, c.device, shared->seq(row), shared, row};
      if (spec.cursor) {
        const TimelineKey key = key_of(candidate);
        const TimelineKey cursor = spec.cursor->key();
        if (newest ? !(key < cursor) : !(cursor < key)) continue;
      }
      if (best.size() == keep && !before(candidate, best.top())) continue;
      if (!ContainsIgnoreCase(shared->message(row), spec.text)) continue;
      best.push(std::move(candidate));
      if (best.size() > keep) best.pop();
    }
  }

  // 4. The page, in order.
  std::vector<Row> rows;
  rows.reserve(best.size());
  while (!best.empty()) {
    rows.push_back(best.top());
    best.pop();
  }
  std::reverse(rows.begin(), rows.end());
  if (rows.size() == keep) {
    rows.pop_back();
    const Row& last = rows.back();
    result.next = Cursor{last.time_us, devices[last.device], last.seq, newest};
  }
  result.lines.reserve(rows.size());
  std::vector<store::AttributeView> attributes;
  for (const Row& r : rows) {
    const store::BlockReader& b = *r.block;
    v1::LogLine& line = result.lines.emplace_back();
    line.set_app(spec.app.name());
    line.set_device_id(devices[r.device]);
    line.set_user_id(std::string(b.user_id(r.row)));
    line.set_session_id(std::string(b.session_id(r.row)));
    line.set_seq(r.seq);
    line.set_time_unix_micros(r.time_us);
    line.set_device_time_unix_micros(b.device_time_us(r.row));
    line.set_receive_time_unix_micros(b.receive_time_us(r.row));
    line.set_level(b.level(r.row));
    line.set_kind(b.kind(r.row));
    line.set_tag(std::string(b.tag(r.row)));
    line.set_message(std::string(b.message(r.row)));
    line.set_file(std::string(b.file(r.row)));
    line.set_line(b.line(r.row));
    line.set_function(std::string(b.function(r.row)));
    b.Attributes(r.row, &attributes);
    for (const store::AttributeView& a : attributes) {
      store::AttributeToProto(a, line.add_attributes());
    }
  }
  return result;
}

}  // namespace fieldlog::query
