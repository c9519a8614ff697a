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

constexpr absl::string_view kNotABatch =
    "compressed_batch: the decompressed bytes are not a valid fieldlog.v1.Batch protobuf";

// The frame's content into `*plain` (allocated for it, not zeroed first: the
// batch views it until it is stored, so it cannot be a reused buffer).
absl::Status Decompress(int32_t codec, absl::string_view data, std::unique_ptr<char[]>* plain,
                        size_t* plain_size) {
  if (codec != v1::CompressedBatch::CODEC_ZSTD) {
    const std::string& name =
        v1::CompressedBatch::Codec_Name(static_cast<v1::CompressedBatch::Codec>(codec));
    return absl::InvalidArgumentError(absl::StrCat(
        "compressed_batch: codec ", codec, name.empty() ? "" : absl::StrCat(" (", name, ")"),
        " is not supported; this server reads CODEC_ZSTD (1)"));
  }
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
  *plain = std::make_unique_for_overwrite<char[]>(size);
  *plain_size = size;
  const size_t written =
      ZSTD_decompressDCtx(ThreadDCtx(), plain->get(), size, data.data(), data.size());
  if (ZSTD_isError(written)) {
    return absl::InvalidArgumentError(
        absl::StrCat("compressed_batch: zstd: ", ZSTD_getErrorName(written)));
  }
  if (written != size) {
    return absl::InvalidArgumentError(absl::StrCat("compressed_batch: the frame states ", size,
                                                   " bytes but holds ", written));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DecompressBatch(int32_t codec, absl::string_view data, OwnedWireBatch* out) {
  if (absl::Status s = Decompress(codec, data, &out->bytes, &out->size); !s.ok()) return s;
  out->batch.Clear();
  if (!MergeBatchFromWire(absl::string_view(out->bytes.get(), out->size), kWireDepthLimit,
                          &out->batch)) {
    return absl::InvalidArgumentError(kNotABatch);
  }
  return absl::OkStatus();
}

absl::Status DecompressBatch(const v1::CompressedBatch& compressed, v1::Batch* batch) {
  std::unique_ptr<char[]> plain;
  size_t size = 0;
  if (absl::Status s = Decompress(compressed.codec(), compressed.data(), &plain, &size); !s.ok()) {
    return s;
  }
  if (!batch->ParseFromArray(plain.get(), static_cast<int>(size))) {
    return absl::InvalidArgumentError(kNotABatch);
  }
  return absl::OkStatus();
}

}  // namespace fieldlog::collector
