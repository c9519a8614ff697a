#include "query/tail.h"

#include <algorithm>
#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/time_util.h"
#include "query/row_filter.h"
#include "query/search.h"
#include "store/reader.h"

namespace fieldlog::query {
namespace {

// Chunks waiting for a slow client before the tail stops reading more.
constexpr size_t kMaxQueuedChunks = 4;

std::string DeviceSubscription(store::AppId app, absl::string_view device_id) {
  return absl::StrCat("d", store::DeviceKey(app, device_id));
}
std::string UserSubscription(store::AppId app, absl::string_view user_id) {
  return absl::StrCat("u", store::UserPrefix(app, user_id));
}

}  // namespace

// ---------------------------------------------------------------------------
// TailHub

TailHub::TailHub() {
  ticker_ = std::thread([this] {
    absl::MutexLock lock(&mu_);
    for (;;) {
      const auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Seconds(1))) return;
      for (auto& [id, subscriber] : subscribers_) subscriber.wake();
    }
  });
}

TailHub::~TailHub() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  ticker_.join();
}

uint64_t TailHub::Subscribe(store::AppId app, absl::string_view device_id,
                            absl::string_view user_id, std::function<void()> wake) {
  Subscriber subscriber;
  if (!device_id.empty()) subscriber.device_key = DeviceSubscription(app, device_id);
  if (device_id.empty()) subscriber.user_key = UserSubscription(app, user_id);
  subscriber.wake = std::move(wake);
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  subscribers_.emplace(id, std::move(subscriber));
  return id;
}

void TailHub::Unsubscribe(uint64_t id) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(id);
}

void TailHub::Notify(const store::AppendEvent& event) {
  const std::string device_key = DeviceSubscription(event.app, event.device_id);
  std::vector<std::string> user_keys;
  for (absl::string_view user : event.user_ids) {
    user_keys.push_back(UserSubscription(event.app, user));
  }
  absl::MutexLock lock(&mu_);
  // Few tails are open at a time (support staff watching reproductions), so
  // a scan is cheaper than keeping an index up to date.
  for (auto& [id, subscriber] : subscribers_) {
    if ((!subscriber.device_key.empty() && subscriber.device_key == device_key) ||
        (!subscriber.user_key.empty() &&
         std::find(user_keys.begin(), user_keys.end(), subscriber.user_key) != user_keys.end())) {
      subscriber.wake();
    }
  }
}

size_t TailHub::tails() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

// ---------------------------------------------------------------------------
// TailFollower

absl::StatusOr<std::unique_ptr<TailFollower>> TailFollower::Start(store::Store* store,
                                                                  const store::AppRecord& app,
                                                                  const v1::TailRequest& request) {
  std::unique_ptr<TailFollower> follower(new TailFollower(store, app));
  if (absl::Status s = follower->Init(request); !s.ok()) return s;
  return follower;
}

absl::Status TailFollower::Init(const v1::TailRequest& request) {
  const v1::SearchRequest& filter = request.filter();
  user_id_ = filter.user_id();
  device_id_ = filter.device_id();
  if (user_id_.empty() && device_id_.empty()) {
    return absl::InvalidArgumentError("name a user_id or a device_id to follow");
  }
  if (request.backlog() > kMaxTailBacklog) {
    return absl::InvalidArgumentError(
        absl::StrCat("backlog is at most ", kMaxTailBacklog, " lines"));
  }
  absl::StatusOr<LineFilters> filters = FiltersFromRequest(filter);
  if (!filters.ok()) return filters.status();
  absl::StatusOr<RowFilter> row_filter = RowFilter::Make(*filters);
  if (!row_filter.ok()) return row_filter.status();
  filter_.emplace(*std::move(row_filter));

  // What counts as new: everything above each device's watermark now.
  if (absl::Status s = RefreshDevices(/*initial=*/true); !s.ok()) return s;

  // The backlog: the newest matching lines already stored, oldest first.
  const uint32_t backlog = request.backlog() == 0 ? kDefaultTailBacklog : request.backlog();
  SearchSpec spec;
  spec.app = app_;
  spec.device_id = device_id_;
  spec.filters = *filters;
  const int64_t now = NowUnixMicros();
  spec.to_us = now + int64_t{3600} * 1'000'000;
  spec.from_us = now - int64_t{24} * 3600 * 1'000'000;
  spec.limit = backlog;
  spec.newest_first = true;
  absl::StatusOr<SearchResult> result = Search(*store_, spec);
  if (!result.ok()) return result.status();
  for (auto it = result->lines.rbegin(); it != result->lines.rend(); ++it) {
    auto known = known_.find(it->device_id());
    if (known != known_.end() && it->seq() > known->second) continue;  // comes live
    *backlog_.add_lines() = std::move(*it);
  }
  return absl::OkStatus();
}

absl::Status TailFollower::RefreshDevices(bool initial) {
  store::Reader reader(*store_);
  std::vector<std::string> devices;
  if (!device_id_.empty()) {
    devices.push_back(device_id_);
  } else {
    absl::StatusOr<std::vector<store::UserDevice>> listed =
        reader.ListUserDevices(app_.app_id(), user_id_);
    if (!listed.ok()) return listed.status();
    for (store::UserDevice& d : *listed) devices.push_back(std::move(d.device_id));
  }
  for (const std::string& device : devices) {
    if (known_.contains(device)) continue;
    uint64_t watermark = 0;
    if (initial) {
      absl::StatusOr<std::optional<store::DeviceRecord>> record =
          reader.GetDevice(app_.app_id(), device);
      if (!record.ok()) return record.status();
      if (*record && !(*record)->stored().empty()) {
        watermark = (*record)->stored().rbegin()->last();
      }
    }
    known_[device] = watermark;  // a device seen later is new from its first line
  }
  return absl::OkStatus();
}

absl::Status TailFollower::CollectNewLines(v1::SearchResponse* chunk) {
  // A user may start using another device: look for new ones now and then.
  if (!device_id_.empty() || known_.empty() || ++refreshes_ % 5 == 0) {
    if (absl::Status s = RefreshDevices(/*initial=*/false); !s.ok()) return s;
  }
  store::Reader reader(*store_);
  for (auto& [device, known] : known_) {
    absl::StatusOr<std::vector<store::BlockRef>> blocks =
        reader.ListBlocksAfter(app_.app_id(), device, known);
    if (!blocks.ok()) return blocks.status();
    std::vector<std::pair<uint64_t, v1::LogLine>> lines;
    uint64_t newest = known;
    for (const store::BlockRef& ref : *blocks) {
      newest = std::max(newest, ref.meta.last_seq());
      if (!filter_->BlockMayMatch(ref.meta)) continue;
      absl::StatusOr<store::BlockReader> block =
          reader.ReadBlock(app_.app_id(), device, ref.first_seq);
      if (!block.ok()) return block.status();
      for (size_t row = 0; row < block->size(); ++row) {
        if (block->seq(row) <= known || !filter_->Matches(*block, row)) continue;
        FillLogLine(*block, row, app_.name(), device,
                    &lines.emplace_back(block->seq(row), v1::LogLine()).second);
      }
    }
    std::sort(lines.begin(), lines.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    if (lines.size() > TailFollower::kMaxLinesPerFetch) {
      lines.resize(TailFollower::kMaxLinesPerFetch);
      newest = lines.back().first;  // the rest comes next time
    }
    for (auto& [seq, line] : lines) *chunk->add_lines() = std::move(line);
    known = newest;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// TailReactor

namespace {

// One Tail call. Created with new, deleted by itself in OnDone (gRPC's
// callback API); it finishes only when no fetch task and no hub callback can
// reach it any more.
class TailReactor final : public grpc::ServerWriteReactor<v1::SearchResponse> {
 public:
  TailReactor(store::Store* store, TailHub* hub, WorkerPool* workers, const store::AppRecord& app,
              const v1::TailRequest& request)
      : store_(store), hub_(hub), workers_(workers), app_(app) {
    absl::Status status = Start(request);
    if (!status.ok()) {
      absl::MutexLock lock(&mu_);
      end_status_ = ToGrpcStatus(status);
      cancelled_ = true;
      MaybeFinishLocked();
    }
  }

  void OnWriteDone(bool ok) override {
    bool wake = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        cancelled_ = true;
      } else {
        chunks_.pop_front();
        WriteNextLocked();
        // The queue has room again: catch up on what waited.
        wake = chunks_.size() < kMaxQueuedChunks && held_back_;
      }
      MaybeFinishLocked();
    }
    if (!ok) Unsubscribe();
    if (wake) Wake();
  }

  void OnCancel() override {
    Unsubscribe();
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    MaybeFinishLocked();
  }

  void OnDone() override {
    // Finish may have come from a fetch task, which calls it holding mu_;
    // gRPC can run OnDone on another thread at once. Wait for that thread to
    // let go of mu_ before it is deleted with us.
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  absl::Status Start(const v1::TailRequest& request) {
    absl::StatusOr<std::unique_ptr<TailFollower>> follower =
        TailFollower::Start(store_, app_, request);
    if (!follower.ok()) return follower.status();
    follower_ = *std::move(follower);
    {
      absl::MutexLock lock(&mu_);
      chunks_.push_back(follower_->backlog());  // also tells the client the tail is live
      WriteNextLocked();
    }
    const uint64_t id = hub_->Subscribe(app_.app_id(), follower_->device_id(), follower_->user_id(),
                                        [this] { Wake(); });
    absl::MutexLock lock(&mu_);
    subscription_ = id;
    subscribed_ = true;
    return absl::OkStatus();
  }

  void Wake() {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    if (fetching_) {
      wake_again_ = true;
      return;
    }
    fetching_ = true;
    workers_->Submit([this] { Fetch(); });
  }

  // On a worker: sends what arrived since the last fetch.
  void Fetch() {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        held_back_ = chunks_.size() >= kMaxQueuedChunks;
        if (cancelled_ || held_back_) {
          fetching_ = false;
          MaybeFinishLocked();
          return;
        }
        wake_again_ = false;
      }
      v1::SearchResponse chunk;
      absl::Status status = follower_->CollectNewLines(&chunk);
      absl::MutexLock lock(&mu_);
      if (!status.ok()) {
        end_status_ = ToGrpcStatus(status);
        cancelled_ = true;
      } else if (chunk.lines_size() > 0) {
        chunks_.push_back(std::move(chunk));
        WriteNextLocked();
      }
      if (!wake_again_ || cancelled_) {
        fetching_ = false;
        MaybeFinishLocked();
        return;
      }
    }
  }

  void Unsubscribe() {
    // Never under mu_: the hub calls Wake (which takes mu_) under its own lock.
    uint64_t id = 0;
    {
      absl::MutexLock lock(&mu_);
      if (!subscribed_) return;
      subscribed_ = false;
      id = subscription_;
    }
    hub_->Unsubscribe(id);
    absl::MutexLock lock(&mu_);
    MaybeFinishLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!writing_ && !chunks_.empty() && !finished_ && !cancelled_) {
      writing_ = true;
      StartWrite(&chunks_.front());
    }
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!cancelled_ || finished_ || fetching_ || writing_ || subscribed_) return;
    finished_ = true;
    Finish(end_status_);
  }

  store::Store* const store_;
  TailHub* const hub_;
  WorkerPool* const workers_;
  const store::AppRecord app_;
  // Set in Start; then used by Fetch only, and one Fetch runs at a time.
  std::unique_ptr<TailFollower> follower_;

  absl::Mutex mu_;
  std::deque<v1::SearchResponse> chunks_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_again_ ABSL_GUARDED_BY(mu_) = false;
  bool held_back_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool subscribed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t subscription_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_) = grpc::Status::OK;
};

}  // namespace

grpc::ServerWriteReactor<v1::SearchResponse>* StartTail(store::Store* store, TailHub* hub,
                                                        WorkerPool* workers,
                                                        const store::AppRecord& app,
                                                        const v1::TailRequest& request) {
  return new TailReactor(store, hub, workers, app, request);
}

}  // namespace fieldlog::query
