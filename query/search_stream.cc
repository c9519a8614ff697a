#include "query/search_stream.h"

#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "query/line_encoder.h"
#include "query/search.h"

namespace fieldlog::query {
namespace {

// A slice that takes `bytes` over instead of copying them: a chunk is a few
// hundred KiB. gRPC calls the destroy function once it has sent them.
grpc::Slice SliceOwning(std::string bytes) {
  auto owned = std::make_unique<std::string>(std::move(bytes));
  char* data = owned->data();
  const size_t size = owned->size();
  return grpc::Slice(
      data, size,
      [](void* string) { std::unique_ptr<std::string> adopted(static_cast<std::string*>(string)); },
      owned.release());
}

// Created with new by StartSearchStream, deleted by itself in OnDone (gRPC's
// callback API). It finishes only once the search has ended and the audit
// record's fate is known, so neither can reach it after OnDone.
class SearchStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  SearchStream(QueryHandlers* handlers, Caller caller, v1::SearchRequest request)
      : handlers_(*handlers), caller_(std::move(caller)), request_(std::move(request)) {}

  // The whole search, queueing chunks as they fill; with `read_ahead`, its
  // next block is read there meanwhile (StreamOptions).
  void Run(WorkerPool* read_ahead) {
    std::string chunk;
    size_t lines_in_chunk = 0;
    std::string next_cursor;
    const absl::Status status = handlers_.SearchStreaming(
        caller_, request_,
        [&](const store::BlockReader& block, size_t row, absl::string_view app,
            absl::string_view device_id) {
          if (lines_in_chunk == kLinesPerChunk) {
            // The next chunk starts with room for about as much as this one
            // took, so its bytes are not copied again and again as it grows.
            const size_t size = chunk.size();
            Queue(std::exchange(chunk, std::string()));
            chunk.reserve(size + size / 8);
            lines_in_chunk = 0;
          }
          AppendLogLineField(block, row, app, device_id, &chunk);
          ++lines_in_chunk;
        },
        StreamOptions{.run = kLinesPerChunk, .read_ahead = read_ahead},
        [this](absl::Status audited) { Audited(std::move(audited)); }, &next_cursor);
    if (status.ok()) {
      AppendNextCursorField(next_cursor, &chunk);
      Queue(std::move(chunk));
    }
    SyncAuditHere();
    absl::MutexLock lock(&mu_);
    searching_ = false;
    search_status_ = status;
    WriteNextLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok) {
      chunks_.pop_front();
    } else {
      client_gone_ = true;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    client_gone_ = true;
    WriteNextLocked();
  }

  void OnDone() override {
    // Finish may have come from the worker or the audit's callback, which
    // call it holding mu_; gRPC can run OnDone on another thread at once.
    // Wait for that thread to let go of mu_ before it is deleted with us.
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  void Queue(std::string chunk) {
    grpc::Slice slice = SliceOwning(std::move(chunk));
    SyncAuditHere();
    absl::MutexLock lock(&mu_);
    if (client_gone_) return;
    chunks_.emplace_back(&slice, 1);
    WriteNextLocked();
  }

  // Lines are ready to go and wait for their audit record: sync it on this
  // thread rather than wait for the group committer's to get a core (on a
  // busy machine that took 3 ms one time in ten, the fsync itself 0.3).
  // Holds no lock: Audited may run in here.
  void SyncAuditHere() {
    {
      absl::MutexLock lock(&mu_);
      if (audit_known_) return;
    }
    handlers_.store()->SyncNow();
  }

  void Audited(absl::Status status) {
    absl::MutexLock lock(&mu_);
    audit_known_ = true;
    audit_status_ = std::move(status);
    WriteNextLocked();
  }

  // Starts the next write, or the end of the call, when its turn has come.
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || writing_) return;
    const bool settled = !searching_ && audit_known_;  // nothing will reach us any more
    if (client_gone_ || (audit_known_ && !audit_status_.ok())) {
      // Nothing more goes out: not to a client that left, and nothing of a
      // read the audit trail missed.
      if (settled) {
        finished_ = true;
        Finish(client_gone_ ? grpc::Status(grpc::StatusCode::CANCELLED, "client went away")
                            : ToGrpcStatus(audit_status_));
      }
      return;
    }
    if (!audit_known_) return;  // lines wait for their audit record
    if (chunks_.empty()) {
      if (!searching_) {
        finished_ = true;
        Finish(ToGrpcStatus(search_status_));
      }
      return;
    }
    writing_ = true;
    if (chunks_.size() == 1 && !searching_ && search_status_.ok()) {
      // The last chunk goes out with the status in one write: a page of one
      // chunk (most) costs the server one round of callbacks, not two.
      finished_ = true;
      StartWriteAndFinish(&chunks_.front(), grpc::WriteOptions(), grpc::Status::OK);
    } else {
      StartWrite(&chunks_.front());
    }
  }

  QueryHandlers& handlers_;
  const Caller caller_;
  const v1::SearchRequest request_;

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> chunks_ ABSL_GUARDED_BY(mu_);  // front: being written
  bool searching_ ABSL_GUARDED_BY(mu_) = true;
  absl::Status search_status_ ABSL_GUARDED_BY(mu_);
  bool audit_known_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status audit_status_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool client_gone_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* StartSearchStream(QueryHandlers* handlers,
                                                              WorkerPool* workers, Caller caller,
                                                              v1::SearchRequest request) {
  const uint32_t limit = request.limit() == 0 ? kDefaultLimit : request.limit();
  auto* stream = new SearchStream(handlers, std::move(caller), std::move(request));
  if (limit <= kLinesPerChunk) {
    // A page of one chunk has nothing to stream: it is searched right here,
    // and gRPC writes it once the handler returns. Handing it to a worker
    // would cost more than streaming could save (waking a thread took about
    // 0.2 ms of a 1.5 ms page of 500 lines on the 2-core test machines).
    stream->Run(/*read_ahead=*/nullptr);
  } else {
    // A long page reads its next block on another worker while this one
    // sends: a busy device's day of 10,000 lines took 5.6-6.1 ms at the
    // median instead of 6.0-6.6 (query-scale, five alternating runs each),
    // and 4.9-5.1 instead of 5.1-5.2 once the first block had the second
    // read beside it (three runs each).
    workers->Submit([stream, workers] { stream->Run(workers); });
  }
  return stream;
}

}  // namespace fieldlog::query
