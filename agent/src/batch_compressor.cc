#include "agent/src/batch_compressor.h"

#include <zstd.h>

namespace fieldlog::agent {

void BatchCompressor::Free::operator()(ZSTD_CCtx* cctx) const { ZSTD_freeCCtx(cctx); }

BatchCompressor::BatchCompressor(int level) : cctx_(ZSTD_createCCtx()), level_(level) {}

BatchCompressor::~BatchCompressor() = default;

bool BatchCompressor::Compress(std::string_view header, std::string_view entries,
                               std::string* frame) {
  ZSTD_CCtx* cctx = cctx_.get();
  if (cctx == nullptr) return false;
  const size_t total = header.size() + entries.size();
  // The pledged size goes into the frame header: the collector sizes its
  // buffer from it and refuses frames without it.
  if (ZSTD_isError(ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level_)) ||
      ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cctx, total))) {
    return false;
  }
  frame->resize(ZSTD_compressBound(total));
  ZSTD_outBuffer out{frame->data(), frame->size(), 0};
  ZSTD_inBuffer head{header.data(), header.size(), 0};
  while (head.pos < head.size) {
    if (ZSTD_isError(ZSTD_compressStream2(cctx, &out, &head, ZSTD_e_continue))) return false;
  }
  ZSTD_inBuffer body{entries.data(), entries.size(), 0};
  for (;;) {
    const size_t left = ZSTD_compressStream2(cctx, &out, &body, ZSTD_e_end);
    if (ZSTD_isError(left)) return false;
    if (left == 0) break;
    // compressBound leaves room for the whole frame; more output space is
    // never needed, but an exhausted buffer must not loop forever.
    if (out.pos == out.size) return false;
  }
  frame->resize(out.pos);
  return true;
}

}  // namespace fieldlog::agent
