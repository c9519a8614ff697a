#include "store/writer.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "rocksdb/write_batch.h"
#include "store/block_times.h"
#include "store/coding.h"
#include "store/reader.h"
#include "store/store.h"

namespace fieldlog::store {
namespace {

// The device's tail block as DeviceRecord keeps it: its line count (0: no
// tail) and last seq, from the compact fields or, in a record written before
// them, from the whole meta.
struct Tail {
  uint64_t lines;
  uint64_t last_seq;
};
Tail TailOf(const DeviceRecord& record) {
  if (record.tail_lines() > 0) return {record.tail_lines(), record.tail_last_seq()};
  return {record.tail_meta().count(), record.tail_meta().last_seq()};
}

void SetTail(const BlockMeta& meta, DeviceRecord* record) {
  record->clear_tail_meta();
  record->set_tail_lines(static_cast<uint32_t>(meta.count()));
  record->set_tail_last_seq(meta.last_seq());
}

void ClearTail(DeviceRecord* record) {
  record->clear_tail_meta();
  record->clear_tail_lines();
  record->clear_tail_last_seq();
}

}  // namespace

Writer::Writer(Store* store) : store_(store) {}

Writer::~Writer() {
  std::unique_ptr<std::thread> thread;
  {
    absl::MutexLock lock(&merge_mu_);
    // The merges already due run before the store closes, if they can within
    // kMergeDrainTime: a busy collector starves its low-priority merge thread,
    // and a merge left undone waits for the device's next append.
    merge_mu_.AwaitWithTimeout(absl::Condition(
                                   +[](Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->merge_mu_) {
                                     return w->merge_queue_.empty() &&
                                            w->dictionary_queue_.empty() && w->merge_idle_;
                                   },
                                   this),
                               kMergeDrainTime);
    merge_stop_ = true;
    thread = std::move(merge_thread_);
  }
  // A merge under way finishes first: its write is whole or absent.
  if (thread != nullptr) thread->join();
}

std::shared_ptr<Writer::DeviceState> Writer::Acquire(AppId app, absl::string_view device_id) {
  const std::string key = DeviceKey(app, device_id);
  absl::MutexLock lock(&devices_mu_);
  if (auto it = devices_.find(key); it != devices_.end()) return it->second;
  if (devices_.size() >= kMaxCachedDevices) {
    // Drop states nobody is using; they reload from RocksDB on next use.
    absl::erase_if(devices_, [](const auto& entry) { return entry.second.use_count() == 1; });
  }
  auto state = std::make_shared<DeviceState>();
  devices_.emplace(key, state);
  return state;
}

absl::Status Writer::LoadLocked(AppId app, absl::string_view device_id, DeviceState* state) {
  if (state->loaded) return absl::OkStatus();
  std::string value;
  rocksdb::Status s = store_->db()->Get(rocksdb::ReadOptions(), store_->family(Family::kDevices),
                                        DeviceKey(app, device_id), &value);
  if (s.ok()) {
    if (!state->record.ParseFromString(value)) {
      return absl::DataLossError(absl::StrCat("corrupt device record for ", device_id));
    }
  } else if (s.IsNotFound()) {
    state->record.Clear();
    state->record.set_device_id(std::string(device_id));
  } else {
    return FromRocksStatus(s, "reading a device record");
  }
  state->ranges = SeqRanges::FromProto(state->record.stored());
  state->loaded = true;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Writer::Watermark(AppId app, absl::string_view device_id) {
  std::shared_ptr<DeviceState> state = Acquire(app, device_id);
  absl::MutexLock lock(&state->mu);
  if (absl::Status s = LoadLocked(app, device_id, state.get()); !s.ok()) return s;
  return state->ranges.watermark();
}

absl::StatusOr<AppendResult> Writer::Append(const AppendRequest& request) {
  std::shared_ptr<DeviceState> state = Acquire(request.app, request.device_id);
  absl::MutexLock lock(&state->mu);
  if (absl::Status s = LoadLocked(request.app, request.device_id, state.get()); !s.ok()) return s;

  // Correct the clock (see the header for why small changes are ignored).
  int64_t offset = 0;
  if (request.clock_offset_estimate_us) {
    offset = *request.clock_offset_estimate_us;
    const int64_t previous = state->record.last_clock_offset_micros();
    if (std::abs(offset - previous) < kClockToleranceMicros) offset = previous;
  }
  for (EntryView& e : request.entries) e.time_us = e.device_time_us + offset;

  // Keep the entries not stored before, in seq order, each seq once.
  std::vector<const EntryView*> fresh;
  fresh.reserve(request.entries.size());
  for (const EntryView& e : request.entries) {
    if (!state->ranges.Contains(e.seq)) fresh.push_back(&e);
  }
  if (!std::is_sorted(fresh.begin(), fresh.end(),
                      [](const EntryView* a, const EntryView* b) { return a->seq < b->seq; })) {
    std::stable_sort(fresh.begin(), fresh.end(),
                     [](const EntryView* a, const EntryView* b) { return a->seq < b->seq; });
  }
  fresh.erase(std::unique(fresh.begin(), fresh.end(),
                          [](const EntryView* a, const EntryView* b) { return a->seq == b->seq; }),
              fresh.end());

  AppendResult result;
  result.duplicates = static_cast<uint32_t>(request.entries.size() - fresh.size());
  result.clock_offset_us = offset;
  if (fresh.empty() && request.device_attributes == nullptr) {
    result.watermark = state->ranges.watermark();
    // Nothing new to write, but the earlier write of these entries may still
    // await its fsync: acknowledge no sooner than everything written so far.
    result.sequence = store_->db()->GetLatestSequenceNumber();
    return result;
  }

  DeviceRecord record = state->record;
  // Reused by the thread's appends, as WriteBlocks' buffers are (see there).
  thread_local rocksdb::WriteBatch batch;
  batch.Clear();
  rocksdb::ColumnFamilyHandle* blocks_cf = store_->family(Family::kBlocks);

  // A small tail block is extended rather than a new one started.
  std::vector<BlockReader> rewritten;
  std::vector<uint64_t> rewritten_keys;
  const bool newest = !fresh.empty() && fresh.back()->seq > state->ranges.watermark();
  if (const Tail tail = TailOf(record); !fresh.empty() && tail.lines > 0 &&
                                        tail.lines < kSmallBlockLines &&
                                        fresh.front()->seq > tail.last_seq) {
    rocksdb::PinnableSlice payload;  // no copy: BlockReader copies what it keeps
    rocksdb::Status s = store_->db()->Get(
        rocksdb::ReadOptions(), blocks_cf,
        BlockKey(request.app, request.device_id, record.tail_first_seq()), &payload);
    if (s.ok()) {
      absl::StatusOr<BlockReader> reader =
          BlockReader::Open(absl::string_view(payload.data(), payload.size()), ReadOptions());
      // A tail that cannot be read is left as it is and a new block starts.
      if (reader.ok()) {
        rewritten.push_back(*std::move(reader));
        rewritten_keys.push_back(record.tail_first_seq());
      }
    } else if (!s.IsNotFound()) {
      return FromRocksStatus(s, "reading the tail block");
    }
  }
  const uint64_t first_key =
      WriteBlocks(request.app, request.device_id, rewritten, rewritten_keys, fresh,
                  /*merging=*/false, newest, &record, &batch);
  bool merge_due = false;
  if (newest) {
    if (record.run_first_seq() == 0) record.set_run_first_seq(first_key);
    record.set_run_lines(record.run_lines() + fresh.size());
    const size_t merge_lines = store_->options().merge_lines;
    merge_due = merge_lines > 0 && record.run_lines() >= merge_lines;
  }

  std::vector<uint64_t> fresh_seqs;
  fresh_seqs.reserve(fresh.size());
  // Lines per user in this batch, in first-seen order (usually one user).
  std::vector<std::pair<absl::string_view, uint64_t>> user_lines;
  for (const EntryView* e : fresh) {
    fresh_seqs.push_back(e->seq);
    if (user_lines.empty() || user_lines.back().first != e->user_id) {
      auto it = std::find_if(user_lines.begin(), user_lines.end(),
                             [&](const auto& u) { return u.first == e->user_id; });
      if (it == user_lines.end()) {
        user_lines.emplace_back(e->user_id, 0);
        it = user_lines.end() - 1;
      }
      ++it->second;
    } else {
      ++user_lines.back().second;
    }
  }

  SeqRanges ranges = state->ranges;
  ranges.AddSorted(fresh_seqs);
  ranges.ToProto(record.mutable_stored());
  if (request.device_attributes != nullptr) {
    *record.mutable_attributes() = *request.device_attributes;
  }
  if (record.first_seen_unix_micros() == 0) {
    record.set_first_seen_unix_micros(request.receive_time_us);
  }
  record.set_last_seen_unix_micros(request.receive_time_us);
  record.set_lines(record.lines() + fresh.size());
  record.set_last_clock_offset_micros(offset);
  if (!fresh.empty()) {
    record.set_last_user_id(std::string(fresh.back()->user_id));
    record.set_last_session_id(std::string(fresh.back()->session_id));
  }
  batch.Put(store_->family(Family::kDevices), DeviceKey(request.app, request.device_id),
            record.SerializeAsString());

  // The (user, device) index: first/last seen and line counts per user.
  std::vector<std::pair<std::string, UserDeviceRecord>> user_updates;
  for (const auto& [user_id, lines] : user_lines) {
    UserDeviceRecord user_record;
    if (auto it = state->users.find(user_id); it != state->users.end()) {
      user_record = it->second;
    } else {
      std::string value;
      rocksdb::Status s =
          store_->db()->Get(rocksdb::ReadOptions(), store_->family(Family::kUsers),
                            UserDeviceKey(request.app, user_id, request.device_id), &value);
      if (s.ok()) {
        user_record.ParseFromString(value);
      } else if (!s.IsNotFound()) {
        return FromRocksStatus(s, "reading a user record");
      }
    }
    if (user_record.first_seen_unix_micros() == 0) {
      user_record.set_first_seen_unix_micros(request.receive_time_us);
    }
    user_record.set_last_seen_unix_micros(request.receive_time_us);
    user_record.set_lines(user_record.lines() + lines);
    const std::string value = user_record.SerializeAsString();
    batch.Put(store_->family(Family::kUsers),
              UserDeviceKey(request.app, user_id, request.device_id), value);
    batch.Put(store_->family(Family::kDeviceUsers),
              DeviceUserKey(request.app, request.device_id, user_id), value);
    user_updates.emplace_back(std::string(user_id), std::move(user_record));
  }

  // Issues and feedback users sent get an index of their own, in time order.
  for (const EntryView* e : fresh) {
    if (e->kind != v1::ENTRY_KIND_ISSUE && e->kind != v1::ENTRY_KIND_FEEDBACK) continue;
    IssueRecord issue;
    issue.set_kind(e->kind);
    issue.set_user_id(std::string(e->user_id));
    issue.set_session_id(std::string(e->session_id));
    issue.set_tag(std::string(e->tag));
    issue.set_message(std::string(e->message));
    batch.Put(store_->family(Family::kIssues),
              TimeKey(request.app, e->time_us, request.device_id, e->seq),
              issue.SerializeAsString());
  }

  rocksdb::Status s = store_->db()->Write(store_->write_options(), &batch);
  if (!s.ok()) return FromRocksStatus(s, "writing a batch");

  // Durable: now the in-memory state may move forward.
  state->record = std::move(record);
  state->ranges = std::move(ranges);
  if (state->users.size() > 8) state->users.clear();
  for (auto& [user_id, user_record] : user_updates) {
    state->users[user_id] = std::move(user_record);
  }
  if (merge_due) ScheduleMerge(request.app, request.device_id);
  if (TemplateSampler* sampler = store_->sampler(); sampler != nullptr) {
    const uint64_t every = sampler->SampleEvery(request.app);
    for (const EntryView* e : fresh) {
      if (e->seq % every == 0 &&
          sampler->Observe(request.app, e->user_id, request.device_id, e->tag, e->message)) {
        ScheduleDictionary(request.app);
      }
    }
  }
  result.stored = static_cast<uint32_t>(fresh.size());
  result.watermark = state->ranges.watermark();
  result.sequence = store_->db()->GetLatestSequenceNumber();
  if (observer_ && !fresh.empty()) {
    AppendEvent event{request.app, request.device_id, {}};
    for (const auto& [user_id, lines] : user_lines) event.user_ids.push_back(user_id);
    observer_(event);
  }
  return result;
}

uint64_t Writer::WriteBlocks(AppId app, absl::string_view device_id,
                             std::vector<BlockReader>& rewritten,
                             const std::vector<uint64_t>& rewritten_keys,
                             std::span<const EntryView* const> fresh, bool merging, bool newest,
                             DeviceRecord* record, rocksdb::WriteBatch* batch) {
  rocksdb::ColumnFamilyHandle* blocks_cf = store_->family(Family::kBlocks);
  rocksdb::ColumnFamilyHandle* meta_cf = store_->family(Family::kBlockMeta);
  // Every row to write, in seq order: (block index, row) for rewritten rows,
  // (-1, index into fresh) for new ones.
  struct RowRef {
    uint64_t seq;
    int32_t block;
    uint32_t row;
  };
  std::vector<RowRef> rows;
  for (size_t b = 0; b < rewritten.size(); ++b) {
    for (size_t r = 0; r < rewritten[b].size(); ++r) {
      rows.push_back({rewritten[b].seq(r), static_cast<int32_t>(b), static_cast<uint32_t>(r)});
    }
  }
  for (size_t i = 0; i < fresh.size(); ++i) {
    rows.push_back({fresh[i]->seq, -1, static_cast<uint32_t>(i)});
  }
  const auto by_seq = [](const RowRef& a, const RowRef& b) { return a.seq < b.seq; };
  // Usually sorted already; a run that holds a late, gap-filling block is not.
  if (!std::is_sorted(rows.begin(), rows.end(), by_seq)) {
    std::stable_sort(rows.begin(), rows.end(), by_seq);
  }

  // The block builder and payload are reused by the thread: made afresh, each
  // append allocated and freed buffers of 64 KiB or more, and glibc
  // consolidates its free lists on every such free (a tenth of the server's
  // CPU went to malloc at fieldlog-bench's full speed). Merged blocks are
  // compressed for keeps; the others cheaply, left for compaction to settle
  // (block.h).
  thread_local BlockBuilder builder;
  builder.Clear();
  // Held while the blocks are built: a newer dictionary may arrive meanwhile.
  std::shared_ptr<const CompressionDictionary> dictionary;
  if (merging && store_->sampler() != nullptr) dictionary = store_->dictionaries().Newest(app);
  builder.set_encoding(
      merging ? BlockEncoding{store_->options().settled_zstd_level, true, dictionary.get()}
              : BlockEncoding{store_->options().zstd_level, false});
  // A merge splits its rows evenly, so that no merged block is left small.
  size_t block_lines = kMaxBlockLines;
  if (merging && !rows.empty()) {
    const size_t blocks = (rows.size() + kMaxBlockLines - 1) / kMaxBlockLines;
    block_lines = (rows.size() + blocks - 1) / blocks;
  }
  BlockTimesUpdate times;
  for (size_t b = 0; b < rewritten_keys.size(); ++b) {
    // Rewritten under new keys; a Put below of the same key wins over this.
    const std::string block_key = BlockKey(app, device_id, rewritten_keys[b]);
    batch->Delete(blocks_cf, block_key);
    batch->Delete(meta_cf, block_key);
    times.Remove(rewritten_keys[b], rewritten[b]);
  }
  thread_local std::string payload;
  BlockMeta meta;
  uint64_t block_first_seq = 0;
  const auto flush_block = [&]() {
    times.Add(block_first_seq, builder.row_times());
    builder.Finish(&payload, &meta);
    const std::string key = BlockKey(app, device_id, block_first_seq);
    batch->Put(blocks_cf, key, payload);
    batch->Put(meta_cf, key, meta.SerializeAsString());
  };
  std::vector<AttributeView> attributes;
  uint64_t previous_seq = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowRef& row = rows[i];
    // Never twice the same seq, whatever a corrupt block may claim.
    if (i > 0 && row.seq == previous_seq) continue;
    previous_seq = row.seq;
    if (builder.count() == 0) block_first_seq = row.seq;
    builder.Add(row.block < 0 ? *fresh[row.row] : rewritten[row.block].Row(row.row, &attributes));
    const bool full = builder.count() >= block_lines || builder.raw_bytes() >= kMaxBlockRawBytes;
    if (full && i + 1 < rows.size()) flush_block();
  }
  if (builder.count() > 0) {
    if (newest && !merging && builder.count() < kSmallBlockLines) {
      // The next batch will read and rewrite this block: compressing it now
      // would be wasted (each small batch used to cost a whole tail's zstd).
      builder.set_encoding(BlockEncoding{0, /*settled=*/false});
    }
    flush_block();
    // The last block written is the newest only if nothing stored sorts after it.
    if (newest) {
      record->set_tail_first_seq(block_first_seq);
      SetTail(meta, record);
    }
  }
  times.WriteTo(app, device_id, store_->family(Family::kBlockTimes), batch);
  return rows.empty() ? 0 : rows.front().seq;
}

void Writer::ScheduleMerge(AppId app, absl::string_view device_id) {
  absl::MutexLock lock(&merge_mu_);
  if (merge_thread_ == nullptr) {
    merge_thread_ = std::make_unique<std::thread>([this] { MergeLoop(); });
  }
  std::string key = DeviceKey(app, device_id);
  if (merge_pending_.insert(key).second) merge_queue_.push_back(std::move(key));
}

void Writer::ScheduleDictionary(AppId app) {
  absl::MutexLock lock(&merge_mu_);
  if (merge_thread_ == nullptr) {
    merge_thread_ = std::make_unique<std::thread>([this] { MergeLoop(); });
  }
  if (std::find(dictionary_queue_.begin(), dictionary_queue_.end(), app) ==
      dictionary_queue_.end()) {
    dictionary_queue_.push_back(app);
  }
}

absl::Status Writer::BuildDictionary(AppId app) {
  TemplateSampler* sampler = store_->sampler();
  if (sampler == nullptr) return absl::OkStatus();
  uint64_t samples = 0;
  std::string content = sampler->BuildContent(app, &samples);
  // Too little common text to be worth a dictionary yet.
  if (content.size() < kMinDictionaryBytes) return absl::OkStatus();
  // After a restart the sampler starts again from nothing: a dictionary is
  // replaced only by one built from more samples than it was.
  if (auto newest = store_->dictionaries().Newest(app);
      newest != nullptr && samples <= newest->record().samples()) {
    return absl::OkStatus();
  }
  return store_->dictionaries()
      .Add(app, std::move(content), samples, sampler->options().min_people)
      .status();
}

BlockReadOptions Writer::ReadOptions() const {
  BlockReadOptions options;
  options.dictionaries = &store_->dictionaries();
  return options;
}

void Writer::MergeLoop() {
  // Below the collector's threads: merges use the CPU that acknowledging
  // batches leaves, as RocksDB's compactions do.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
  pthread_setname_np(pthread_self(), "store-merge");  // for top and profiles
  while (true) {
    std::string key;
    std::optional<AppId> dictionary_app;
    {
      absl::MutexLock lock(&merge_mu_);
      merge_idle_ = true;
      merge_mu_.Await(absl::Condition(
          +[](Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->merge_mu_) {
            return w->merge_stop_ || !w->merge_queue_.empty() || !w->dictionary_queue_.empty();
          },
          this));
      if (merge_stop_) return;
      if (!dictionary_queue_.empty()) {
        dictionary_app = dictionary_queue_.front();
        dictionary_queue_.erase(dictionary_queue_.begin());
      } else {
        key = std::move(merge_queue_.front());
        merge_queue_.pop_front();
        merge_pending_.erase(key);
      }
      merge_idle_ = false;
    }
    if (dictionary_app.has_value()) {
      // A dictionary that cannot be stored is tried again at the next
      // threshold; blocks meanwhile use the one before.
      (void)BuildDictionary(*dictionary_app);
      continue;
    }
    key.append(8, '\0');  // the key of a block of the device: parses into app and id
    std::optional<ParsedBlockKey> parsed = ParseBlockKey(key);
    if (!parsed) continue;
    // A merge that fails leaves the run as it is; the device's next append
    // schedules it again.
    (void)MergeRun(parsed->app, parsed->device_id);
  }
}

absl::Status Writer::MergeRun(AppId app, absl::string_view device_id) {
  std::shared_ptr<DeviceState> state = Acquire(app, device_id);
  absl::MutexLock lock(&state->mu);
  if (absl::Status s = LoadLocked(app, device_id, state.get()); !s.ok()) return s;
  const size_t merge_lines = store_->options().merge_lines;
  DeviceRecord record = state->record;
  if (merge_lines == 0 || record.run_first_seq() == 0 || record.run_lines() < merge_lines) {
    return absl::OkStatus();
  }
  std::vector<BlockReader> run;
  std::vector<uint64_t> keys;
  if (absl::Status s = ReadRunLocked(app, device_id, record.run_first_seq(), &run, &keys);
      !s.ok()) {
    return s;
  }
  // The merged blocks hold the device's newest line when the run did.
  bool newest = false;
  for (const BlockReader& block : run) {
    newest =
        newest || (block.size() > 0 && block.seq(block.size() - 1) == state->ranges.watermark());
  }
  thread_local rocksdb::WriteBatch batch;
  batch.Clear();
  WriteBlocks(app, device_id, run, keys, {}, /*merging=*/true, newest, &record, &batch);
  record.clear_run_first_seq();
  record.clear_run_lines();
  batch.Put(store_->family(Family::kDevices), DeviceKey(app, device_id),
            record.SerializeAsString());
  if (rocksdb::Status s = store_->db()->Write(store_->write_options(), &batch); !s.ok()) {
    return FromRocksStatus(s, "merging a device's blocks");
  }
  state->record = std::move(record);
  merges_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

void Writer::WaitForMerges() {
  absl::MutexLock lock(&merge_mu_);
  // The queue empties before the last merge has run: wait for the thread to
  // come back for more, with nothing left.
  merge_mu_.Await(absl::Condition(
      +[](Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->merge_mu_) {
        return w->merge_queue_.empty() && w->dictionary_queue_.empty() && w->merge_idle_;
      },
      this));
}

absl::Status Writer::ReadRunLocked(AppId app, absl::string_view device_id, uint64_t first_seq,
                                   std::vector<BlockReader>* blocks, std::vector<uint64_t>* keys) {
  const std::string prefix = DeviceKey(app, device_id);
  const std::string end = PrefixSuccessor(prefix);
  rocksdb::ReadOptions options;
  // The run is about to be rewritten and deleted: keep its blocks out of the
  // block cache, where they would push out blocks queries still read.
  options.fill_cache = false;
  rocksdb::Slice end_slice(end);
  if (!end.empty()) options.iterate_upper_bound = &end_slice;
  std::unique_ptr<rocksdb::Iterator> it(
      store_->db()->NewIterator(options, store_->family(Family::kBlocks)));
  for (it->Seek(BlockKey(app, device_id, first_seq)); it->Valid(); it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    if (key.size() != prefix.size() + 8 || !absl::StartsWith(key, prefix)) break;
    absl::StatusOr<BlockReader> reader =
        BlockReader::Open(absl::string_view(it->value().data(), it->value().size()), ReadOptions());
    // A block that cannot be read is left where it is, not merged away.
    if (!reader.ok()) continue;
    blocks->push_back(*std::move(reader));
    keys->push_back(DecodeFixed64BE(key.data() + prefix.size()));
  }
  return FromRocksStatus(it->status(), "reading a device's newest blocks");
}

absl::StatusOr<EraseResult> Writer::EraseUser(AppId app, absl::string_view user_id) {
  std::vector<UserDevice> devices;
  {
    Reader reader(*store_);
    absl::StatusOr<std::vector<UserDevice>> listed = reader.ListUserDevices(app, user_id);
    if (!listed.ok()) return listed.status();
    devices = *std::move(listed);
  }
  rocksdb::ColumnFamilyHandle* blocks_cf = store_->family(Family::kBlocks);
  rocksdb::ColumnFamilyHandle* meta_cf = store_->family(Family::kBlockMeta);
  EraseResult result;
  for (const UserDevice& device : devices) {
    std::shared_ptr<DeviceState> state = Acquire(app, device.device_id);
    absl::MutexLock lock(&state->mu);
    if (absl::Status s = LoadLocked(app, device.device_id, state.get()); !s.ok()) return s;
    // Under the device's lock no append can interleave: read a fresh view.
    Reader reader(*store_);
    absl::StatusOr<std::vector<BlockRef>> blocks = reader.ListBlocks(app, device.device_id);
    if (!blocks.ok()) return blocks.status();

    DeviceRecord record = state->record;
    rocksdb::WriteBatch batch;
    // Unsettled: the compaction below settles what is rewritten here.
    BlockBuilder builder(BlockEncoding{store_->options().zstd_level, /*settled=*/false});
    std::vector<AttributeView> attributes;
    std::string payload;
    BlockMeta meta;
    BlockTimesUpdate times;
    uint64_t removed = 0;
    for (const BlockRef& ref : *blocks) {
      const auto& users = ref.meta.users();
      if (!ref.meta.many_users() && std::find(users.begin(), users.end(), user_id) == users.end()) {
        continue;
      }
      absl::StatusOr<BlockReader> block = reader.ReadBlock(app, device.device_id, ref.first_seq);
      if (!block.ok()) return block.status();
      uint64_t removed_here = 0;
      for (size_t row = 0; row < block->size(); ++row)
        removed_here += block->user_id(row) == user_id;
      if (removed_here == 0) continue;
      removed += removed_here;
      for (size_t row = 0; row < block->size(); ++row) {
        if (block->user_id(row) != user_id) builder.Add(block->Row(row, &attributes));
      }
      times.Remove(ref.first_seq, *block);
      const std::string key = BlockKey(app, device.device_id, ref.first_seq);
      const bool is_tail = ref.first_seq == record.tail_first_seq() && TailOf(record).lines > 0;
      if (builder.count() == 0) {
        batch.Delete(blocks_cf, key);
        batch.Delete(meta_cf, key);
        if (is_tail) ClearTail(&record);
      } else {
        times.Add(ref.first_seq, builder.row_times());
        builder.Finish(&payload, &meta);
        batch.Put(blocks_cf, key, payload);
        batch.Put(meta_cf, key, meta.SerializeAsString());
        if (is_tail) SetTail(meta, &record);
      }
    }
    times.WriteTo(app, device.device_id, store_->family(Family::kBlockTimes), &batch);
    record.set_lines(record.lines() - std::min<uint64_t>(record.lines(), removed));
    if (record.last_user_id() == user_id) record.clear_last_user_id();
    batch.Put(store_->family(Family::kDevices), DeviceKey(app, device.device_id),
              record.SerializeAsString());
    batch.Delete(store_->family(Family::kUsers), UserDeviceKey(app, user_id, device.device_id));
    batch.Delete(store_->family(Family::kDeviceUsers),
                 DeviceUserKey(app, device.device_id, user_id));
    rocksdb::WriteOptions sync = store_->write_options();
    sync.sync = true;  // an erasure is confirmed to a person; make it stick
    if (rocksdb::Status s = store_->db()->Write(sync, &batch); !s.ok()) {
      return FromRocksStatus(s, "erasing a user's lines");
    }
    state->record = std::move(record);
    state->users.erase(std::string(user_id));
    ++result.devices;
    result.lines += removed;
  }
  // Her issues and feedback.
  {
    Reader reader(*store_);
    absl::StatusOr<std::vector<IssueEntry>> issues =
        reader.ListIssues(app, INT64_MIN, INT64_MAX, user_id, SIZE_MAX);
    if (!issues.ok()) return issues.status();
    rocksdb::WriteBatch batch;
    for (const IssueEntry& issue : *issues) {
      batch.Delete(store_->family(Family::kIssues),
                   TimeKey(app, issue.time_us, issue.device_id, issue.seq));
    }
    rocksdb::WriteOptions sync = store_->write_options();
    sync.sync = true;
    if (rocksdb::Status s = store_->db()->Write(sync, &batch); !s.ok()) {
      return FromRocksStatus(s, "erasing a user's issues");
    }
  }
  // Compaction rewrites the touched ranges without the deleted values, so the
  // lines are gone from the files, not only hidden by tombstones.
  const auto compact = [&](Family family, const std::string& begin) {
    const std::string end = PrefixSuccessor(begin);
    rocksdb::Slice begin_slice(begin), end_slice(end);
    rocksdb::CompactRangeOptions options;
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    return store_->db()->CompactRange(options, store_->family(family), &begin_slice,
                                      end.empty() ? nullptr : &end_slice);
  };
  for (const UserDevice& device : devices) {
    const std::string prefix = DeviceKey(app, device.device_id);
    if (rocksdb::Status s = compact(Family::kBlocks, prefix); !s.ok()) {
      return FromRocksStatus(s, "compacting erased blocks");
    }
    if (rocksdb::Status s = compact(Family::kBlockMeta, prefix); !s.ok()) {
      return FromRocksStatus(s, "compacting erased block metas");
    }
  }
  if (rocksdb::Status s = compact(Family::kUsers, UserPrefix(app, user_id)); !s.ok()) {
    return FromRocksStatus(s, "compacting the users index");
  }
  for (const UserDevice& device : devices) {
    if (rocksdb::Status s = compact(Family::kDeviceUsers, DeviceKey(app, device.device_id));
        !s.ok()) {
      return FromRocksStatus(s, "compacting the device-users index");
    }
  }
  if (rocksdb::Status s = compact(Family::kIssues, AppPrefix(app)); !s.ok()) {
    return FromRocksStatus(s, "compacting the issues index");
  }
  if (rocksdb::Status s = compact(Family::kBlockTimes, AppPrefix(app)); !s.ok()) {
    return FromRocksStatus(s, "compacting the blocks' time index");
  }
  return result;
}

}  // namespace fieldlog::store
