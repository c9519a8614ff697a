#include "agent/src/batch_compressor.h"

#include <zstd.h>

namespace fieldlog::agent {

void BatchCompressor::Free::operator()(ZSTD_CCtx* cctx) const { ZSTD_freeCCtx(cctx); }

BatchCompressor::BatchCompressor(int level) : cctx_(ZSTD_createCCtx()), level_(level) {}

BatchCompressor::~BatchCompressor() = default;

std::optional<std::string_view> BatchCompressor::Compress(std::string_view header,
                                                          std::string_view entries) {
  ZSTD_CCtx* cctx = cctx_.get();
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
