#include "collector/compressed_batch.h"

#include <zstd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/limits.h"

namespace fieldlog::collector {
namespace {

struct DCtxDeleter {
  void operator()(ZSTD_DCtx* dctx) const { ZSTD_freeDCtx(dctx); }
};

// A decompression context per thread: creating one costs a few hundred
// kilobytes of allocation, more than decompressing a batch.
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx(ZSTD_createDCtx());
  return dctx.get();
}

}  // namespace

absl::Status DecompressBatch(const v1::CompressedBatch& compressed, v1::Batch* batch) {
  if (compressed.codec() != v1::CompressedBatch::CODEC_ZSTD) {
    const std::string& name = v1::CompressedBatch::Codec_Name(compressed.codec());
    return absl::InvalidArgumentError(absl::StrCat(
        "compressed_batch: codec ", static_cast<int>(compressed.codec()),
        name.empty() ? "" : absl::StrCat(" (", name, ")"),
        " is not supported; this server reads CODEC_ZSTD (1)"));
  }
  const std::string& data = compressed.data();
  const unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) {
    return absl::InvalidArgumentError(
        absl::StrCat("compressed_batch: the ", data.size(), " bytes of data are not a zstd frame"));
  }
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return absl::InvalidArgumentError(
        "compressed_batch: the zstd frame does not state its content size (compress it in "
        "one call, or pledge the size when streaming)");
  }
  if (size > kMaxRequestBytes) {
    return absl::InvalidArgumentError(absl::StrCat("compressed_batch: the batch is ", size,
                                                   " bytes decompressed; the limit is ",
                                                   kMaxRequestBytes));
  }
  // Reused: a batch's decompressed bytes are only parsed from (the parsed
  // batch copies what it keeps), and a fresh buffer of a few hundred KiB per
  // batch made glibc consolidate its free lists over and over.
  thread_local std::string plain;
  plain.resize(size);
  const size_t written =
      ZSTD_decompressDCtx(ThreadDCtx(), plain.data(), plain.size(), data.data(), data.size());
  if (ZSTD_isError(written)) {
    return absl::InvalidArgumentError(
        absl::StrCat("compressed_batch: zstd: ", ZSTD_getErrorName(written)));
  }
  if (written != size) {
    return absl::InvalidArgumentError(absl::StrCat("compressed_batch: the frame states ", size,
                                                   " bytes but holds ", written));
  }
  if (!batch->ParseFromString(plain)) {
    return absl::InvalidArgumentError(
        "compressed_batch: the decompressed bytes are not a valid fieldlog.v1.Batch protobuf");
  }
  return absl::OkStatus();
}

}  // namespace fieldlog::collector
