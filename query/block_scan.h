// ScanBlocks: reads many blocks of one app and hands each, decoded, to a
// visitor, spread over several threads. App-wide questions (affected users,
// stats of the whole app) read every block that meets their time range; on
// the 2-core machines fieldlog runs on, decompressing and decoding those
// blocks is nearly all of their time, and it parallelises block by block.
//
// Each worker reads through its own store::Reader (a Reader is not
// thread-safe); the calling thread is worker 0 and uses `reader`, the one the
// caller listed the blocks with. The other workers' snapshots are taken a
// moment later, so they may see a block a little larger than its listed meta
// (a tail block grows in place; callers filter rows by time anyway) or not at
// all (deleted meanwhile by retention or erasure: skipped).
#ifndef FIELDLOG_QUERY_BLOCK_SCAN_H_
#define FIELDLOG_QUERY_BLOCK_SCAN_H_

#include <cstddef>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "store/block.h"
#include "store/keys.h"
#include "store/reader.h"
#include "store/store.h"

namespace fieldlog::query {

// Below this many blocks a scan stays on the calling thread: starting a
// thread costs more than a few blocks' decoding.
inline constexpr size_t kMinBlocksPerWorker = 32;

// How many workers an app-wide scan uses by default: one per core, at most 8.
size_t DefaultScanWorkers();

// Calls visit(worker, device_id, block) for every block of `blocks`, with
// worker in [0, workers). Calls with the same worker never overlap; calls with
// different workers run concurrently. Blocks of one device, listed together,
// mostly go to the same worker but not always. Stops at the first read error
// and returns it. Blocks are opened with `read_options` (which rows' messages
// to rebuild: see store::BlockReadOptions).
absl::Status ScanBlocks(const store::Store& store, store::Reader& reader, store::AppId app,
                        const std::vector<store::AppBlockRef>& blocks, size_t workers,
                        const std::function<void(size_t worker, absl::string_view device_id,
                                                 const store::BlockReader& block)>& visit,
                        const store::BlockReadOptions& read_options = {});

// Lists the app's blocks that may hold lines in [from_us, to_us) and whose
// meta `keep` accepts (store::Reader::ForEachAppBlock: through the blocks'
// time index for a range of up to six hours, a walk over every meta of the
// app for longer ones), and visits each as ScanBlocks does. A null `keep`
// keeps every block, and through the index lists them by key alone without
// reading their metas (store::BlockListing::kKeys): blocks gone
// since the index named them are skipped. Listing does not
// come first: the calling thread lists, handing out claims of blocks as it
// goes, and the other workers read them meanwhile; the lister then reads
// what is left. Readers' snapshots are as in ScanBlocks (the lister's is
// worker 0's).
absl::Status ScanAppBlocks(const store::Store& store, store::AppId app, int64_t from_us,
                           int64_t to_us,
                           const std::function<bool(const store::BlockMeta& meta)>& keep,
                           size_t workers,
                           const std::function<void(size_t worker, absl::string_view device_id,
                                                    const store::BlockReader& block)>& visit,
                           const store::BlockReadOptions& read_options = {});

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_BLOCK_SCAN_H_
