#include "query/block_scan.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <span>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace fieldlog::query {
namespace {

// Blocks a worker claims at a time: consecutive blocks are usually one
// device's, so a device's blocks tend to stay on one worker.
constexpr size_t kClaim = 16;

}  // namespace

size_t DefaultScanWorkers() {
  const unsigned cores = std::thread::hardware_concurrency();
  return std::clamp<size_t>(cores == 0 ? 1 : cores, 1, 8);
}

absl::Status ScanBlocks(const store::Store& store, store::Reader& reader, store::AppId app,
                        const std::vector<store::AppBlockRef>& blocks, size_t workers,
                        const std::function<void(size_t worker, absl::string_view device_id,
                                                 const store::BlockReader& block)>& visit,
                        const store::BlockReadOptions& read_options) {
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
      absl::Status status = own.ReadBlocks(
          app, std::span(blocks).subspan(first, end - first), read_options,
          [&](size_t i, absl::StatusOr<store::BlockReader> block) {
            if (!block.ok()) {
              // Worker 0 reads the listing's snapshot, where every listed
              // block exists; the others may miss one deleted since.
              return worker != 0 && absl::IsNotFound(block.status()) ? absl::OkStatus()
                                                                     : block.status();
            }
            visit(worker, blocks[first + i].device_id, *block);
            return absl::OkStatus();
          });
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

}  // namespace fieldlog::query
