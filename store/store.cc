#include "store/store.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "rocksdb/cache.h"
#include "rocksdb/convenience.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"
#include "store/block_times.h"
#include "store/group_commit.h"
#include "store/writer.h"

namespace fieldlog::store {
namespace {

constexpr const char* kFamilyNames[] = {"default",    "apps",       "devices",      "users",
                                        "block_meta", "blocks",     "device_users", "issues",
                                        "audit",      "block_times"};
static_assert(std::size(kFamilyNames) == static_cast<size_t>(Family::kCount));

// Counts RocksDB's transitions into a write stall (delayed or stopped).
class StallListener final : public rocksdb::EventListener {
 public:
  void OnStallConditionsChanged(const rocksdb::WriteStallInfo& info) override {
    if (info.condition.cur != rocksdb::WriteStallCondition::kNormal &&
        info.condition.prev == rocksdb::WriteStallCondition::kNormal) {
      stalls_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  uint64_t stalls() const { return stalls_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> stalls_{0};
};

bool Supported(rocksdb::CompressionType type) {
  for (rocksdb::CompressionType supported : rocksdb::GetSupportedCompressions()) {
    if (supported == type) return true;
  }
  return false;
}

// The small families (device and user records, block metas): LZ4 where data
// is young and compacted again soon, zstd in the bottommost level, where most
// of it stays (RocksDB's own advice). Measured on fieldlog-bench's store of
// 100,000 devices of 20 lines: these families took 16.9 B/line with LZ4
// everywhere and 11.0 with zstd at the bottom.
void SetSmallValueCompression(rocksdb::ColumnFamilyOptions* cf) {
  cf->compression =
      Supported(rocksdb::kLZ4Compression) ? rocksdb::kLZ4Compression : rocksdb::kSnappyCompression;
  if (Supported(rocksdb::kZSTD)) cf->bottommost_compression = rocksdb::kZSTD;
}

}  // namespace

absl::Status FromRocksStatus(const rocksdb::Status& status, absl::string_view context) {
  if (status.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(context, ": ", status.ToString());
  if (status.IsCorruption()) return absl::DataLossError(message);
  if (status.IsNotFound()) return absl::NotFoundError(message);
  if (status.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  return absl::UnavailableError(message);
}

Store::Store(const StoreOptions& options)
    : options_(options),
      retention_(
          std::make_unique<Retention>(options.default_retention_days, options.settled_zstd_level)) {
  write_options_.sync = options.sync == SyncPolicy::kEveryBatch;
}

Store::~Store() {
  group_committer_.reset();  // syncs and acknowledges what is waiting
  writer_.reset();
  if (retention_) {  // compactions may still run
    retention_->set_catalog(nullptr);
    retention_->set_dictionaries(nullptr);
  }
  catalog_.reset();
  if (db_) {
    for (rocksdb::ColumnFamilyHandle* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
    db_->Close();
  }
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  std::unique_ptr<Store> store(new Store(options));

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  db_options.keep_log_file_num = 5;
  store->stall_listener_ = std::make_shared<StallListener>();
  db_options.listeners.push_back(store->stall_listener_);

  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  const auto family_options = [&](Family family) {
    rocksdb::ColumnFamilyOptions cf;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
    table.block_size = 16 << 10;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    SetSmallValueCompression(&cf);
    if (family == Family::kBlocks) {
      // Payloads are zstd-compressed columns already; a second pass would only
      // cost CPU. Large data blocks keep the index small.
      cf.compression = rocksdb::kNoCompression;
      cf.bottommost_compression = rocksdb::kDisableCompressionOption;
      table.block_size = 64 << 10;
      table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
      // Every other key a restart point: a point read steps through at most
      // one other entry to its own, instead of up to 15, each a payload away
      // (a cache miss apiece). Whole keys cost bytes only where blocks are
      // tiny; store/README.md has both sides measured.
      table.block_restart_interval = 2;
      cf.write_buffer_size = 64 << 20;
    }
    // Retention (see retention.h): expired values are dropped by compaction,
    // and every file is compacted at least daily so none escapes.
    const Retention& retention = *store->retention_;
    switch (family) {
      case Family::kBlocks:
        cf.compaction_filter = retention.block_filter();
        break;
      case Family::kBlockMeta:
        cf.compaction_filter = retention.block_meta_filter();
        break;
      case Family::kDevices:
        cf.compaction_filter = retention.device_filter();
        break;
      case Family::kUsers:
      case Family::kDeviceUsers:
        cf.compaction_filter = retention.user_filter();
        break;
      case Family::kIssues:
        cf.compaction_filter = retention.issue_filter();
        break;
      case Family::kBlockTimes:
        cf.compaction_filter = retention.block_times_filter();
        break;
      default:
        break;
    }
    if (cf.compaction_filter != nullptr) cf.periodic_compaction_seconds = 24 * 3600;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    return cf;
  };

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int i = 0; i < static_cast<int>(Family::kCount); ++i) {
    descriptors.emplace_back(kFamilyNames[i], family_options(static_cast<Family>(i)));
  }
  rocksdb::DB* db = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, options.path, descriptors, &store->handles_, &db);
  if (!s.ok()) return FromRocksStatus(s, absl::StrCat("opening the store at ", options.path));
  store->db_.reset(db);

  store->catalog_ = std::make_unique<Catalog>(db, store->family(Family::kApps));
  if (absl::Status status = store->catalog_->Load(); !status.ok()) return status;
  store->retention_->set_catalog(store->catalog_.get());
  store->dictionaries_ =
      std::make_unique<Dictionaries>(db, store->family(Family::kApps), options.settled_zstd_level);
  if (absl::Status status = store->dictionaries_->Load(); !status.ok()) return status;
  if (options.compression_dictionaries && options.settled_zstd_level != 0) {
    store->sampler_ = std::make_unique<TemplateSampler>(
        TemplateSamplerOptions{.min_people = options.dictionary_min_people});
    store->retention_->set_dictionaries(store->dictionaries_.get());
  }
  // Before anything is written: a store from before the index gets it here.
  if (absl::Status status = IndexBlockTimes(*store); !status.ok()) return status;
  store->writer_ = std::make_unique<Writer>(store.get());
  if (options.sync == SyncPolicy::kInterval) {
    store->group_committer_ = std::make_unique<GroupCommitter>(db, options.sync_interval);
  }
  return store;
}

void Store::AppendAudit(AppId app, const AuditRecord& record,
                        absl::AnyInvocable<void(absl::Status)> done) {
  // The counter keeps two records of the same microsecond apart.
  const std::string key = TimeKey(app, record.time_unix_micros(), "",
                                  audit_counter_.fetch_add(1, std::memory_order_relaxed));
  const absl::Status written = FromRocksStatus(
      db_->Put(write_options_, family(Family::kAudit), key, record.SerializeAsString()),
      "writing the audit trail");
  if (!written.ok()) {
    done(written);
    return;
  }
  if (group_committer_ == nullptr) {
    done(absl::OkStatus());
    return;
  }
  // The latest sequence is this write's or a later one: waiting for it is
  // waiting at least as long as this write needs.
  group_committer_->WhenDurable(db_->GetLatestSequenceNumber(), std::move(done),
                                GroupCommitter::Urgency::kNow);
}

void Store::SyncNow() {
  if (group_committer_ != nullptr) group_committer_->SyncNow();
}

uint64_t Store::group_syncs() const { return group_committer_ ? group_committer_->syncs() : 0; }

uint64_t Store::write_stalls() const {
  return static_cast<const StallListener&>(*stall_listener_).stalls();
}

uint64_t Store::SumProperty(const std::string& property) const {
  uint64_t total = 0;
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    uint64_t value = 0;
    if (db_->GetIntProperty(handle, property, &value)) total += value;
  }
  return total;
}

void Store::WhenDurable(uint64_t sequence, absl::AnyInvocable<void(absl::Status)> done) {
  if (group_committer_ != nullptr) {
    group_committer_->WhenDurable(sequence, std::move(done));
  } else {
    done(absl::OkStatus());
  }
}

}  // namespace fieldlog::store
