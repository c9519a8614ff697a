#include "agent/src/batch_compressor.h"

#include <zstd.h>

#include <new>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace fieldlog::agent {
namespace {

struct FreeContext {
  void operator()(ZSTD_CCtx* cctx) const { ZSTD_freeCCtx(cctx); }
};
using Context = std::unique_ptr<ZSTD_CCtx, FreeContext>;

// The process's zstd contexts not lent out, and how many compressors exist.
class ContextPool {
 public:
  // Contexts kept idle at most: more than the batches a process compresses at
  // once on the devices and hosts agents run on. A burst beyond it creates
  // contexts and frees them when they come back.
  static constexpr size_t kMaxIdle = 8;

  // Never destroyed: an agent held in one of the app's statics may still be
  // compressing while the program's statics are destroyed.
  static ContextPool& Get() {
    alignas(ContextPool) static unsigned char storage[sizeof(ContextPool)];
    static ContextPool* const pool = ::new (storage) ContextPool();
    return *pool;
  }

  void AddCompressor() {
    absl::MutexLock lock(&mu_);
    ++compressors_;
  }

  // The last compressor gone, the idle contexts are freed (after the lock is
  // released: `freed` is declared before it).
  void RemoveCompressor() {
    std::vector<Context> freed;
    absl::MutexLock lock(&mu_);
    if (--compressors_ == 0) freed.swap(idle_);
  }

  // The most recently returned context (the likeliest still in the caches),
  // or a new one; null only when zstd cannot allocate.
  Context Take() {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        Context context = std::move(idle_.back());
        idle_.pop_back();
        return context;
      }
    }
    return Context(ZSTD_createCCtx());
  }

  // Keeps `context` for the next batch, or frees it (a parameter: destroyed
  // after the lock is released) when enough are idle or no compressor is left.
  void Give(Context context) {
    absl::MutexLock lock(&mu_);
    if (compressors_ > 0 && idle_.size() < kMaxIdle) idle_.push_back(std::move(context));
  }

  size_t idle() {
    absl::MutexLock lock(&mu_);
    return idle_.size();
  }

 private:
  ContextPool() = default;

  absl::Mutex mu_;
  std::vector<Context> idle_ ABSL_GUARDED_BY(mu_);
  size_t compressors_ ABSL_GUARDED_BY(mu_) = 0;
};

// A context borrowed for one batch.
class Lease {
 public:
  Lease() : context_(ContextPool::Get().Take()) {}
  ~Lease() {
    if (context_ != nullptr) ContextPool::Get().Give(std::move(context_));
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  ZSTD_CCtx* get() const { return context_.get(); }

 private:
  Context context_;
};

}  // namespace

BatchCompressor::BatchCompressor(int level) : level_(level) { ContextPool::Get().AddCompressor(); }

BatchCompressor::~BatchCompressor() { ContextPool::Get().RemoveCompressor(); }

size_t BatchCompressor::IdleContexts() { return ContextPool::Get().idle(); }

std::optional<std::string_view> BatchCompressor::Compress(std::string_view header,
                                                          std::string_view entries) {
  const Lease lease;
  ZSTD_CCtx* cctx = lease.get();
  if (cctx == nullptr) return std::nullopt;
  const size_t total = header.size() + entries.size();
  // The pledged size goes into the frame header: the collector sizes its
  // buffer from it and refuses frames without it.
  if (ZSTD_isError(ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level_)) ||
      ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cctx, total))) {
    return std::nullopt;
  }
  const size_t bound = ZSTD_compressBound(total);
  if (bound > buffer_size_) {
    buffer_ = std::make_unique_for_overwrite<char[]>(bound);
    buffer_size_ = bound;
  }
  ZSTD_outBuffer out{buffer_.get(), buffer_size_, 0};
  ZSTD_inBuffer head{header.data(), header.size(), 0};
  while (head.pos < head.size) {
    if (ZSTD_isError(ZSTD_compressStream2(cctx, &out, &head, ZSTD_e_continue))) {
      return std::nullopt;
    }
  }
  ZSTD_inBuffer body{entries.data(), entries.size(), 0};
  for (;;) {
    const size_t left = ZSTD_compressStream2(cctx, &out, &body, ZSTD_e_end);
    if (ZSTD_isError(left)) return std::nullopt;
    if (left == 0) break;
    // compressBound leaves room for the whole frame; more output space is
    // never needed, but an exhausted buffer must not loop forever.
    if (out.pos == out.size) return std::nullopt;
  }
  return std::string_view(buffer_.get(), out.pos);
}

}  // namespace fieldlog::agent
