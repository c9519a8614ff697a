// Live tail: follow a user or a device while the customer reproduces.
//
// TailHub is told by the store's Writer about every append (which device,
// which users) and wakes the tails that follow them; a ticker also wakes every
// tail once a second, so nothing waits on a missed notification. A woken tail
// reads, per device it follows, the blocks holding seqs above what it has
// sent, and sends the new matching lines in seq order.
//
// Tails go by arrival (seq), not by log time: a device that comes back online
// with hours-old lines shows them the moment they arrive, which is what a
// support person watching a reproduction expects.
#ifndef FIELDLOG_QUERY_TAIL_H_
#define FIELDLOG_QUERY_TAIL_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/worker_pool.h"
#include "fieldlog/v1/query.grpc.pb.h"
#include "query/row_filter.h"
#include "store/store.h"
#include "store/writer.h"

namespace fieldlog::query {

inline constexpr uint32_t kDefaultTailBacklog = 10;
inline constexpr uint32_t kMaxTailBacklog = 1000;

class TailHub {
 public:
  TailHub();
  ~TailHub();

  // `wake` is called (quickly, from any thread) when the followed device or
  // user may have new lines, and at least once a second. Returns an id for
  // Unsubscribe; after Unsubscribe returns, `wake` is not called again.
  uint64_t Subscribe(store::AppId app, absl::string_view device_id, absl::string_view user_id,
                     std::function<void()> wake);
  void Unsubscribe(uint64_t id);

  // For the Writer's observer.
  void Notify(const store::AppendEvent& event);

  size_t tails() const;

 private:
  struct Subscriber {
    std::string device_key;  // "" when following a user
    std::string user_key;    // "" when following a device
    std::function<void()> wake;
  };

  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread ticker_;
};

// What one tail has sent and how to find what comes next; the protocol side
// (gRPC stream or HTTP server-sent events) decides when to ask.
// Thread-compatible: one call at a time.
class TailFollower {
 public:
  // Validates the request (INVALID_ARGUMENT), learns where each followed
  // device's new lines start, and prepares the backlog.
  static absl::StatusOr<std::unique_ptr<TailFollower>> Start(store::Store* store,
                                                             const store::AppRecord& app,
                                                             const v1::TailRequest& request);

  // The newest matching lines stored before the tail began, oldest first.
  const v1::SearchResponse& backlog() const { return backlog_; }

  // Appends the matching lines stored since the last call, each device's in
  // seq order (at most kMaxLinesPerFetch a device; the rest comes next call).
  absl::Status CollectNewLines(v1::SearchResponse* out);

  const std::string& device_id() const { return device_id_; }
  const std::string& user_id() const { return user_id_; }

  static constexpr size_t kMaxLinesPerFetch = 2000;

 private:
  TailFollower(store::Store* store, const store::AppRecord& app) : store_(store), app_(app) {}
  absl::Status Init(const v1::TailRequest& request);
  absl::Status RefreshDevices(bool initial);

  store::Store* const store_;
  const store::AppRecord app_;
  std::string user_id_, device_id_;
  std::optional<RowFilter> filter_;
  v1::SearchResponse backlog_;
  // Per device followed: the highest seq already sent (or not to be sent).
  absl::flat_hash_map<std::string, uint64_t> known_;
  uint64_t refreshes_ = 0;
};

// Starts a Tail call (see QueryService::Tail). `app` is authorised already.
grpc::ServerWriteReactor<v1::SearchResponse>* StartTail(store::Store* store, TailHub* hub,
                                                        WorkerPool* workers,
                                                        const store::AppRecord& app,
                                                        const v1::TailRequest& request);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_TAIL_H_
