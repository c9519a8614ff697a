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

absl::Status ResolveTimeRange(int64_t from_us, int64_t to_us, int64_t now_us, int64_t* from_out,
                              int64_t* to_out) {
  *to_out = to_us != 0 ? to_us : now_us + 1;
  *from_out = from_us != 0 ? from_us : *to_out - int64_t{24} * 3600 * 1000000;
  if (*from_out >= *to_out) {
    return absl::InvalidArgumentError("the time range is empty: from must be before to");
  }
  return absl::OkStatus();
}

void FillLogLine(const store::BlockReader& b, size_t row, absl::string_view app,
                 absl::string_view device_id, v1::LogLine* line) {
  line->set_app(std::string(app));
  line->set_device_id(std::string(device_id));
  line->set_user_id(std::string(b.user_id(row)));
  line->set_session_id(std::string(b.session_id(row)));
  line->set_seq(b.seq(row));
  line->set_time_unix_micros(b.time_us(row));
  line->set_device_time_unix_micros(b.device_time_us(row));
  line->set_receive_time_unix_micros(b.receive_time_us(row));
  line->set_level(b.level(row));
  line->set_kind(b.kind(row));
  line->set_tag(std::string(b.tag(row)));
  line->set_message(std::string(b.message(row)));
  line->set_file(std::string(b.file(row)));
  line->set_line(b.line(row));
  line->set_function(std::string(b.function(row)));
  std::vector<store::AttributeView> attributes;
  b.Attributes(row, &attributes);
  for (const store::AttributeView& a : attributes)
    store::AttributeToProto(a, line->add_attributes());
}

absl::StatusOr<SearchSpec> MakeSearchSpec(const v1::SearchRequest& request,
                                          const store::AppRecord& app, int64_t now_us) {
  SearchSpec spec;
  spec.app = app;
  spec.device_id = request.device_id();
  if (request.user_id().empty() && spec.device_id.empty()) {
    return absl::InvalidArgumentError("name a user_id or a device_id to search");
  }
  absl::StatusOr<LineFilters> filters = FiltersFromRequest(request);
  if (!filters.ok()) return filters.status();
  spec.filters = *std::move(filters);
  if (absl::Status s = ResolveTimeRange(request.from_unix_micros(), request.to_unix_micros(),
                                        now_us, &spec.from_us, &spec.to_us);
      !s.ok()) {
    return s;
  }
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
  spec.from_us =
      std::max(spec.from_us, store.retention().CutoffMicros(spec.app.app_id(), NowUnixMicros()));
  store::Reader reader(store);
  SearchResult result;
  if (spec.from_us >= spec.to_us) return result;
  absl::StatusOr<RowFilter> filter = RowFilter::Make(spec.filters);
  if (!filter.ok()) return filter.status();

  // 1. Devices.
  std::vector<std::string> devices;
  if (!spec.device_id.empty()) {
    devices.push_back(spec.device_id);
  } else {
    absl::StatusOr<std::vector<store::UserDevice>> user_devices =
        reader.ListUserDevices(spec.app.app_id(), spec.filters.user_id);
    if (!user_devices.ok()) return user_devices.status();
    for (store::UserDevice& d : *user_devices) devices.push_back(std::move(d.device_id));
  }

  // 2. Candidate blocks.
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
      if (!filter->BlockMayMatch(m)) continue;
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
      Row candidate{time, c.device, shared->seq(row), shared, row};
      if (spec.cursor) {
        const TimelineKey key = key_of(candidate);
        const TimelineKey cursor = spec.cursor->key();
        if (newest ? !(key < cursor) : !(cursor < key)) continue;
      }
      if (best.size() == keep && !before(candidate, best.top())) continue;
      if (!filter->Matches(*shared, row)) continue;
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
  for (const Row& r : rows) {
    FillLogLine(*r.block, r.row, spec.app.name(), devices[r.device], &result.lines.emplace_back());
  }
  return result;
}

}  // namespace fieldlog::query
