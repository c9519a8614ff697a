// BatchCompressor: compresses a serialized Batch into the zstd frame that
// IngestRequest.compressed_batch carries (proto/fieldlog/v1/ingest.proto).
//
// The frame states its content size, as the collector requires, and is built
// from the batch's header and entries without first joining them. One
// compressor keeps its output buffer between batches (a fresh buffer of a
// batch's size is fresh pages the kernel must fault in and clear); it is not
// thread-safe: the agent's sender thread owns it.
//
// zstd contexts are shared by the compressors of the process: each batch
// borrows one from a pool and gives it back. Creating a context costs more
// than compressing a batch, and one is up to 2 MiB (level 5, 256 KiB
// batches) that each batch clears in part. An app runs one agent and reuses
// one context as before; a process that runs many (a gateway relaying
// devices, fieldlog-bench's simulated fleet) keeps one per batch being
// compressed at that moment, recently used and still in the caches, instead
// of one per agent. The pool frees its idle contexts when the last
// compressor of the process is destroyed.
#ifndef FIELDLOG_AGENT_SRC_BATCH_COMPRESSOR_H_
#define FIELDLOG_AGENT_SRC_BATCH_COMPRESSOR_H_

#include <memory>
#include <optional>
#include <string_view>

struct ZSTD_CCtx_s;

namespace fieldlog::agent {

class BatchCompressor {
 public:
  // zstd level 5: on 512-line batches of loghub-shaped lines (agent_bench's
  // BM_BatchCompression, docs/agent.md) the first level that takes fewer
  // bytes than gRPC's gzip, at a third of its CPU. Levels 1-4 are 3-7 times
  // cheaper still but send 2-10% more bytes; a phone's data plan wins.
  static constexpr int kDefaultLevel = 5;

  explicit BatchCompressor(int level = kDefaultLevel);
  ~BatchCompressor();
  BatchCompressor(const BatchCompressor&) = delete;
  BatchCompressor& operator=(const BatchCompressor&) = delete;

  // The zstd frame of `header` followed by `entries` (see wire::BatchHeader
  // and wire::AppendBatchEntry), in the compressor's buffer: valid until the
  // next call. nullopt only if zstd fails (out of memory): the caller then
  // sends the batch uncompressed.
  std::optional<std::string_view> Compress(std::string_view header, std::string_view entries);

  // zstd contexts the process's pool holds idle now (for tests).
  static size_t IdleContexts();

 private:
  const int level_;
  // Room for the largest frame so far (zstd's bound for the largest batch),
  // not cleared on growth.
  std::unique_ptr<char[]> buffer_;
  size_t buffer_size_ = 0;
};

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_BATCH_COMPRESSOR_H_
