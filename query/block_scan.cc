#include "query/block_scan.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>
#include <span>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"

namespace fieldlog::query {
namespace {

// Blocks a worker claims at a time: consecutive blocks are usually one
// device's, so a device's blocks tend to stay on one worker.
constexpr size_t kClaim = 16;

using Visit = std::function<void(size_t worker, absl::string_view device_id,
                                 const store::BlockReader& block)>;

// Reads `refs` through `reader` and visits them as `worker`. Worker 0 reads
// the listing's snapshot, where every listed block exists; the others may
// miss one deleted since (skipped).
absl::Status ReadClaimed(store::Reader& reader, store::AppId app, size_t worker,
                         std::span<const store::AppBlockRef> refs, store::BlockSpread spread,
                         const Visit& visit, const store::BlockReadOptions& read_options) {
  return reader.ReadBlocks(
      app, refs, spread, read_options, [&](size_t i, absl::StatusOr<store::BlockReader> block) {
        if (!block.ok()) {
          // Gone since it was listed: possible for the other workers (their
          // snapshots are later) and for a block the time index named.
          const bool may_be_gone = worker != 0 || refs[i].may_be_gone;
          return may_be_gone && absl::IsNotFound(block.status()) ? absl::OkStatus()
                                                                 : block.status();
        }
        visit(worker, refs[i].device_id, *block);
        return absl::OkStatus();
      });
}

}  // namespace

size_t DefaultScanWorkers() {
  const unsigned cores = std::thread::hardware_concurrency();
  return std::clamp<size_t>(cores == 0 ? 1 : cores, 1, 8);
}

absl::Status ScanBlocks(const store::Store& store, store::Reader& reader, store::AppId app,
                        const std::vector<store::AppBlockRef>& blocks, size_t workers,
                        const Visit& visit, const store::BlockReadOptions& read_options) {
  workers =
      std::clamp<size_t>(workers, 1, std::max<size_t>(1, blocks.size() / kMinBlocksPerWorker));
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  absl::Status error;  // the first one
  const auto work = [&](size_t worker, store::Reader& own) {
    for (;;) {
      const size_t first = next.fetch_add(kClaim);
      if (first >= blocks.size()) return;
      const size_t end = std::min(blocks.size(), first + kClaim);
      absl::Status status =
          ReadClaimed(own, app, worker, std::span(blocks).subspan(first, end - first),
                      store::BlockSpread::kNeighbours, visit, read_options);
      if (!status.ok()) {
        absl::MutexLock lock(&mu);
        if (error.ok()) error = std::move(status);
        next = blocks.size();
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (size_t w = 1; w < workers; ++w) {
    threads.emplace_back([&, w] {
      store::Reader own(store);
      work(w, own);
    });
  }
  work(0, reader);
  for (std::thread& t : threads) t.join();
  return error;
}

namespace {

// The claims an app-wide scan's listing hands out as it finds blocks, and the
// scan's first error. A deque: its elements stay where they are while it
// grows, so workers read a claim while the listing adds more.
class Claims {
 public:
  void Add(std::vector<store::AppBlockRef> refs) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    claims_.push_back(std::move(refs));
  }
  // No more claims will come.
  void Close() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  // The next claim, once there is one; null when there is none left or the
  // scan failed.
  const std::vector<store::AppBlockRef>* Next() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Claims::Ready));
    if (!error_.ok() || next_ == claims_.size()) return nullptr;
    return &claims_[next_++];
  }
  // Keeps the first error; the scan stops.
  void Fail(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (error_.ok()) error_ = std::move(status);
  }
  absl::Status error() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return error_;
  }

 private:
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || !error_.ok() || next_ < claims_.size();
  }

  mutable absl::Mutex mu_;
  std::deque<std::vector<store::AppBlockRef>> claims_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::Status ScanAppBlocks(const store::Store& store, store::AppId app, int64_t from_us,
                           int64_t to_us,
                           const std::function<bool(const store::BlockMeta& meta)>& keep,
                           size_t workers, const Visit& visit,
                           const store::BlockReadOptions& read_options) {
  Claims claims;
  // An hour's blocks, named by the time index, lie far apart in the key
  // space; a walk of every meta lists most of the app's, side by side.
  const store::BlockSpread spread = store::ListsThroughTimeIndex(from_us, to_us)
                                        ? store::BlockSpread::kScattered
                                        : store::BlockSpread::kNeighbours;
  const auto work = [&](size_t worker, store::Reader& own) {
    while (const std::vector<store::AppBlockRef>* refs = claims.Next()) {
      if (absl::Status s = ReadClaimed(own, app, worker, *refs, spread, visit, read_options);
          !s.ok()) {
        claims.Fail(std::move(s));
        return;
      }
    }
  };
  // Worker 0 lists, on the caller's thread, then reads what is left; the
  // others start as the listing finds enough blocks to share (a thread costs
  // more than reading a few blocks).
  store::Reader reader(store);
  std::vector<std::thread> threads;
  std::vector<store::AppBlockRef> pending;
  size_t found = 0;
  const auto publish = [&] {
    claims.Add(std::exchange(pending, {}));
    pending.reserve(kClaim);
    if (threads.size() + 1 < workers && found >= (threads.size() + 1) * kMinBlocksPerWorker) {
      threads.emplace_back([&, w = threads.size() + 1] {
        store::Reader own(store);
        work(w, own);
      });
    }
  };
  absl::Status listing = reader.ForEachAppBlock(
      app, from_us, to_us,
      [&](store::AppBlockRef ref) -> absl::Status {
        if (keep != nullptr && !keep(ref.block.meta)) return absl::OkStatus();
        pending.push_back(std::move(ref));
        ++found;
        if (pending.size() < kClaim) return absl::OkStatus();
        publish();
        // A worker's read error ends the listing too.
        return claims.error();
      },
      keep != nullptr ? store::BlockListing::kMetas : store::BlockListing::kKeys);
  if (!pending.empty()) publish();
  if (!listing.ok()) claims.Fail(std::move(listing));
  claims.Close();
  work(0, reader);
  for (std::thread& t : threads) t.join();
  return claims.error();
}

}  // namespace fieldlog::query
