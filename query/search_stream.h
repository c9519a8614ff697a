// One gRPC Search call, streamed: the page's lines leave in chunks while the
// search is still reading the store, rather than once it has read them all.
//
// A page of more than one chunk is searched on a worker of the given pool:
// gRPC's reactor cannot write before the method handler has returned, and
// gRPC's callback threads must not spend long on the disk. A page of one
// chunk is searched on gRPC's thread, before the handler returns: there is
// nothing to stream, and no thread to wake.
//
// Each chunk holds kLinesPerChunk lines encoded straight from the blocks
// (line_encoder.h); the last one carries the cursor. A chunk is queued as
// soon as the next line starts a new one, so a page of one chunk (most pages)
// is one write, with the status. 500 lines a chunk (rows come from the search
// in runs of as many) streamed a busy device's day faster than 200 or 2,000.
//
// The audit trail comes first: no chunk is written before the read's audit
// record is durable, and none at all if it failed (QueryHandlers::
// SearchStreaming). A search that fails after chunks went out ends the stream
// with its error and no cursor: the client has a correct but incomplete page.
//
// Memory: a slow client makes chunks wait in a queue, at most a page (the
// request's limit, at most kMaxLimit lines, search.h), which is what a whole
// page took when pages were built before they were sent.
#ifndef FIELDLOG_QUERY_SEARCH_STREAM_H_
#define FIELDLOG_QUERY_SEARCH_STREAM_H_

#include <grpcpp/grpcpp.h>

#include "common/worker_pool.h"
#include "fieldlog/v1/query.pb.h"
#include "query/handlers.h"

namespace fieldlog::query {

// Lines per streamed SearchResponse.
inline constexpr size_t kLinesPerChunk = 500;

// Starts `request` on `workers` (or at once, for a page of one chunk); the
// reactor deletes itself once the call is done. `handlers` and `workers`
// must outlive the call.
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartSearchStream(QueryHandlers* handlers,
                                                              WorkerPool* workers, Caller caller,
                                                              v1::SearchRequest request);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_SEARCH_STREAM_H_
