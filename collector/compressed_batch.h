// DecompressBatch: turns an IngestRequest's CompressedBatch back into the
// Batch it carries, or says precisely why it cannot.
//
// The data comes from the network, so nothing in it is trusted: the frame
// must state its decompressed size, that size must be within a request's
// limit (kMaxRequestBytes) before any memory is reserved for it, and the
// bytes must decompress to exactly that size and parse as a Batch. A small
// frame that claims or expands to gigabytes (a decompression bomb) is refused
// without allocating them.
#ifndef FIELDLOG_COLLECTOR_COMPRESSED_BATCH_H_
#define FIELDLOG_COLLECTOR_COMPRESSED_BATCH_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "collector/wire_batch.h"
#include "fieldlog/v1/ingest.pb.h"

namespace fieldlog::collector {

// OK and `*out` the batch in the `data` of a CompressedBatch whose codec is
// `codec` (its decompressed bytes, and the batch decoded from them), or
// InvalidArgument with what was wrong (the caller adds where: which request
// of which stream).
absl::Status DecompressBatch(int32_t codec, absl::string_view data, OwnedWireBatch* out);

// The same, parsed into a message (for clients of the API that want one:
// tests, the agent's fake collector).
absl::Status DecompressBatch(const v1::CompressedBatch& compressed, v1::Batch* batch);

}  // namespace fieldlog::collector

#endif  // FIELDLOG_COLLECTOR_COMPRESSED_BATCH_H_
