#include "query/search.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/claimable_task.h"
#include "common/text.h"
#include "common/time_util.h"
#include "store/block.h"
#include "store/reader.h"
#include "store/time_buckets.h"

namespace fieldlog::query {
namespace {

struct Candidate {
  size_t device;  // index into the device list
  uint64_t first_seq;
  store::BlockMeta meta;
};

// A row kept for the page: where to find it, and its timeline key's parts.
// Plain data, so sorting moves 32 bytes rather than reference counts.
struct Row {
  int64_t time_us;
  uint64_t seq;
  uint32_t device;  // index into the (sorted) device list
  uint32_t block;   // index into the blocks read
  uint32_t row;
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
  // Empty fields are left unset: proto3 sends nothing for them either way,
  // and each set string costs an allocation off an arena.
  const auto set = [](absl::string_view value, auto setter) {
    if (!value.empty()) setter(value.data(), value.size());
  };
  set(app, [&](const char* d, size_t n) { line->set_app(d, n); });
  set(device_id, [&](const char* d, size_t n) { line->set_device_id(d, n); });
  set(b.user_id(row), [&](const char* d, size_t n) { line->set_user_id(d, n); });
  set(b.session_id(row), [&](const char* d, size_t n) { line->set_session_id(d, n); });
  line->set_seq(b.seq(row));
  line->set_time_unix_micros(b.time_us(row));
  line->set_device_time_unix_micros(b.device_time_us(row));
  line->set_receive_time_unix_micros(b.receive_time_us(row));
  line->set_level(b.level(row));
  line->set_kind(b.kind(row));
  set(b.tag(row), [&](const char* d, size_t n) { line->set_tag(d, n); });
  set(b.message(row), [&](const char* d, size_t n) { line->set_message(d, n); });
  set(b.file(row), [&](const char* d, size_t n) { line->set_file(d, n); });
  line->set_line(b.line(row));
  set(b.function(row), [&](const char* d, size_t n) { line->set_function(d, n); });
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

absl::StatusOr<SearchResult> Search(const store::Store& store, const SearchSpec& spec,
                                    google::protobuf::RepeatedPtrField<v1::LogLine>* lines_out) {
  if (lines_out != nullptr) {
    return SearchRows(store, spec,
                      [&](const store::BlockReader& block, size_t row, absl::string_view app,
                          absl::string_view device_id) {
                        FillLogLine(block, row, app, device_id, lines_out->Add());
                      });
  }
  std::vector<v1::LogLine> lines;
  absl::StatusOr<SearchResult> result =
      SearchRows(store, spec,
                 [&](const store::BlockReader& block, size_t row, absl::string_view app,
                     absl::string_view device_id) {
                   FillLogLine(block, row, app, device_id, &lines.emplace_back());
                 });
  if (result.ok()) result->lines = std::move(lines);
  return result;
}

absl::StatusOr<SearchResult> SearchRows(const store::Store& store, const SearchSpec& requested,
                                        RowSink sink, StreamOptions stream) {
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
  // Sorted, so comparing device indexes orders rows as comparing ids would.
  std::sort(devices.begin(), devices.end());

  // 2. Candidate blocks.
  std::vector<Candidate> candidates;
  for (size_t d = 0; d < devices.size(); ++d) {
    absl::StatusOr<std::vector<store::BlockRef>> blocks =
        reader.ListBlocks(spec.app.app_id(), devices[d]);
    if (!blocks.ok()) return blocks.status();
    for (store::BlockRef& block : *blocks) {
      const store::BlockMeta& m = block.meta;
      if (!store::BlockMetaMeetsRange(m, spec.from_us, spec.to_us)) continue;
      if (!filter->BlockMayMatch(m)) continue;
      if (spec.cursor) {
        if (!spec.newest_first && m.max_time_unix_micros() < spec.cursor->time_us) continue;
        if (spec.newest_first && m.min_time_unix_micros() > spec.cursor->time_us) continue;
      }
      candidates.push_back({d, block.first_seq, std::move(block.meta)});
    }
  }

  // 3. Visit blocks in timeline order, keeping the best limit+1 rows (one
  //    extra tells whether there is a next page), and hand the sink each row
  //    as soon as no block still to visit can hold a row before it: a page
  //    streams while it is read, and the blocks of rows sent are let go.
  const bool newest = spec.newest_first;
  std::sort(candidates.begin(), candidates.end(), [&](const Candidate& a, const Candidate& b) {
    return newest ? a.meta.max_time_unix_micros() > b.meta.max_time_unix_micros()
                  : a.meta.min_time_unix_micros() < b.meta.min_time_unix_micros();
  });
  const auto key_of = [&](const Row& r) {
    return TimelineKey{r.time_us, devices[r.device], r.seq};
  };
  // Timeline order: (time, device id, seq), with device indexes standing in
  // for ids (the list is sorted).
  const auto less = [](const Row& a, const Row& b) {
    if (a.time_us != b.time_us) return a.time_us < b.time_us;
    if (a.device != b.device) return a.device < b.device;
    return a.seq < b.seq;
  };
  // "a comes before b" in the requested direction.
  const auto before = [&](const Row& a, const Row& b) { return newest ? less(b, a) : less(a, b); };
  const size_t keep = static_cast<size_t>(spec.limit) + 1;
  // Blocks read, released once none of their rows is kept.
  std::vector<std::unique_ptr<store::BlockReader>> blocks;
  std::vector<uint32_t> kept_rows;  // by block
  // By block: whether its rows in the range have their messages already (a
  // block read ahead), so sending them rebuilds nothing.
  std::vector<bool> messages_rebuilt;
  // The rows that may be on the page and are not sent yet, in the order
  // visited. One device's rows mostly arrive in page order already, so `kept`
  // is sorted only when they did not (checked as they come, one comparison a
  // row), and cut to the room left when it reaches that (in order) or twice
  // that (not).
  std::vector<Row> kept;
  bool kept_in_order = true;
  size_t sent = 0;  // rows given to the sink, the page's first ones
  std::optional<Row> last_sent;
  // Once the page's remaining rows are known, the last of them: a row not
  // before it cannot be on the page (nor be the one that says there is a
  // next).
  std::optional<Row> bar;
  const auto release = [&](uint32_t block, size_t current_block) {
    if (--kept_rows[block] == 0 && block != current_block) blocks[block].reset();
  };
  const auto cut = [&](size_t current_block) {
    if (!kept_in_order) std::sort(kept.begin(), kept.end(), before);
    kept_in_order = true;
    const size_t room = keep - sent;
    if (kept.size() < room) return;
    for (size_t i = room; i < kept.size(); ++i) release(kept[i].block, current_block);
    kept.resize(room);
    bar = kept.back();
  };
  // A filter that does not look at messages picks rows by the other columns:
  // blocks are then opened without their messages, and only the rows sent
  // get theirs, just before they go (a newest page of 500 out of a
  // 2,000-line block rebuilds 500 messages, not 2,000).
  const bool messages_at_end = !filter->TestsMessages();
  // Sends the kept rows that come before `frontier` (a time no row of the
  // blocks still to visit comes before), or all of them without one; never
  // more than the limit: the row after it only says there is a next page.
  // Before the end, only runs of `stream_run` (search.h).
  const auto send = [&](std::optional<int64_t> frontier, size_t current_block) -> absl::Status {
    cut(current_block);
    size_t n = 0;
    while (n < kept.size() && sent + n < spec.limit &&
           (!frontier || (newest ? kept[n].time_us > *frontier : kept[n].time_us < *frontier))) {
      ++n;
    }
    if (n == 0 || (frontier && n < stream.run)) return absl::OkStatus();
    if (messages_at_end) {
      std::vector<std::vector<bool>> to_send(blocks.size());
      for (size_t i = 0; i < n; ++i) {
        std::vector<bool>& flags = to_send[kept[i].block];
        if (flags.empty()) flags.resize(blocks[kept[i].block]->size());
        flags[kept[i].row] = true;
      }
      for (size_t b = 0; b < blocks.size(); ++b) {
        if (to_send[b].empty() || messages_rebuilt[b]) continue;
        if (absl::Status s =
                blocks[b]->RebuildMessages([&](size_t row) { return to_send[b][row]; });
            !s.ok()) {
          return s;
        }
      }
    }
    for (size_t i = 0; i < n; ++i) {
      const Row& r = kept[i];
      sink(*blocks[r.block], r.row, spec.app.name(), devices[r.device]);
    }
    sent += n;
    last_sent = kept[n - 1];
    for (size_t i = 0; i < n; ++i) release(kept[i].block, current_block);
    kept.erase(kept.begin(), kept.begin() + static_cast<ptrdiff_t>(n));
    return absl::OkStatus();
  };
  const store::BlockReadOptions read_options =
      messages_at_end ? store::BlockReadOptions{.messages_from_us = 0, .messages_to_us = 0}
                      : filter->ReadOptions(spec.from_us, spec.to_us);
  std::optional<TimelineKey> cursor;
  if (spec.cursor) cursor = spec.cursor->key();

  // The next block, read ahead while the rows before it go to the sink (see
  // StreamOptions). Its rows in the range get their messages there too: a
  // long page sends nearly all of them.
  store::BlockReadOptions ahead_options = read_options;
  if (messages_at_end) {
    ahead_options.messages_from_us = spec.from_us;
    ahead_options.messages_to_us = spec.to_us;
  }
  // Declared after all it reads: its destructor waits for a read running.
  using AheadRead = ClaimableTask<absl::StatusOr<store::BlockReader>>;
  std::unique_ptr<AheadRead> ahead;
  // Every block from `c` on starts after the last row the page needs.
  const auto past_the_page = [&](const Candidate& c) {
    if (!bar) return false;
    return newest ? c.meta.max_time_unix_micros() < bar->time_us
                  : c.meta.min_time_unix_micros() > bar->time_us;
  };
  const auto read_ahead = [&](size_t next) {
    if (stream.read_ahead == nullptr || next >= candidates.size()) return;
    const Candidate& n = candidates[next];
    if (past_the_page(n)) return;  // the page is full before it
    ahead = std::make_unique<AheadRead>(
        stream.read_ahead, [&reader, &spec, &devices, &n, &ahead_options] {
          return reader.ReadBlock(spec.app.app_id(), devices[n.device], n.first_seq, ahead_options);
        });
  };

  for (size_t next = 0; next < candidates.size(); ++next) {
    const Candidate& c = candidates[next];
    if (past_the_page(c)) break;
    // This block and the ones after it hold no row before its first (or,
    // newest first, after its last): what comes before that goes now.
    if (absl::Status s = send(
            newest ? c.meta.max_time_unix_micros() : c.meta.min_time_unix_micros(), blocks.size());
        !s.ok()) {
      return s;
    }
    // The block after this one starts before this one is taken: the first
    // block, read here, has the next read beside it too.
    const std::unique_ptr<AheadRead> this_ahead = std::exchange(ahead, nullptr);
    const bool was_ahead = this_ahead != nullptr;
    read_ahead(next + 1);
    // Rows outside the range, or without the text asked for, are skipped
    // before their message is rebuilt.
    absl::StatusOr<store::BlockReader> read =
        was_ahead
            ? this_ahead->Take()
            : reader.ReadBlock(spec.app.app_id(), devices[c.device], c.first_seq, read_options);
    if (!read.ok()) return read.status();
    const uint32_t index = static_cast<uint32_t>(blocks.size());
    blocks.push_back(std::make_unique<store::BlockReader>(*std::move(read)));
    kept_rows.push_back(0);
    messages_rebuilt.push_back(was_ahead && messages_at_end);
    const store::BlockReader& block = *blocks.back();
    ++result.blocks_read;
    if (was_ahead) ++result.blocks_read_ahead;
    result.rows_scanned += block.lines();
    // A block's rows run mostly oldest to newest: a newest-first page visits
    // them from the end, so they arrive in page order, and once the page is
    // full the older ones fail the test against `bar` at once.
    for (size_t i = 0; i < block.size(); ++i) {
      const size_t row = newest ? block.size() - 1 - i : i;
      const int64_t time = block.time_us(row);
      if (time < spec.from_us || time >= spec.to_us) continue;
      const Row candidate{time, block.seq(row), static_cast<uint32_t>(c.device), index,
                          static_cast<uint32_t>(row)};
      if (cursor) {
        const TimelineKey key = key_of(candidate);
        if (newest ? !(key < *cursor) : !(*cursor < key)) continue;
      }
      if (bar && !before(candidate, *bar)) continue;
      if (!filter->Matches(block, row)) continue;
      if (!kept.empty() && before(candidate, kept.back())) kept_in_order = false;
      kept.push_back(candidate);
      ++kept_rows[index];
      const size_t room = keep - sent;
      if (kept.size() >= (kept_in_order ? room : 2 * room)) cut(index);
    }
    if (kept_rows[index] == 0) blocks[index].reset();
  }

  ahead.reset();  // a block past the page's last row: not read, if not begun

  // 4. The rest of the page, and whether there is a next one: the row after
  //    the limit, found but not sent.
  if (absl::Status s = send(std::nullopt, blocks.size()); !s.ok()) return s;
  if (!kept.empty() && last_sent) {
    result.next = Cursor{last_sent->time_us, devices[last_sent->device], last_sent->seq, newest};
  }
  return result;
}

}  // namespace fieldlog::query
