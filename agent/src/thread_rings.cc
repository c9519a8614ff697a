#include "agent/src/thread_rings.h"

#include <algorithm>
#include <utility>

namespace fieldlog::agent {
namespace {

std::atomic<uint64_t> next_uid{1};

// Every ring this thread created, one per agent, kept alive by the thread and
// by the agent; at thread exit the rings are marked abandoned so the agent
// drains and forgets them.
struct ThreadHolder {
  std::vector<std::pair<uint64_t, std::shared_ptr<ThreadRing>>> rings;
  ~ThreadHolder() {
    for (auto& [uid, ring] : rings) ring->abandoned.store(true, std::memory_order_release);
  }
};
thread_local ThreadHolder holder;

}  // namespace

ThreadRings::ThreadRings(size_t capacity_per_thread)
    : uid_(next_uid.fetch_add(1)), capacity_(capacity_per_thread) {}

ThreadRings::~ThreadRings() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& ring : rings_) ring->orphaned.store(true, std::memory_order_release);
}

ThreadRing* ThreadRings::Register() {
  // Forget rings of agents that are gone.
  std::erase_if(holder.rings, [](const auto& entry) {
    return entry.second->orphaned.load(std::memory_order_acquire);
  });
  ThreadRing* ring = nullptr;
  for (auto& [uid, r] : holder.rings) {
    if (uid == uid_) ring = r.get();
  }
  if (ring == nullptr) {
    auto created = std::make_shared<ThreadRing>(capacity_);
    ring = created.get();
    {
      std::lock_guard<std::mutex> lock(mu_);
      rings_.push_back(created);
    }
    holder.rings.emplace_back(uid_, std::move(created));
  }
  tls_last = {uid_, ring};
  return ring;
}

void ThreadRings::Collect(std::vector<std::shared_ptr<ThreadRing>>* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  out->assign(rings_.begin(), rings_.end());
}

void ThreadRings::Reap() {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(rings_, [this](const std::shared_ptr<ThreadRing>& ring) {
    if (!ring->abandoned.load(std::memory_order_acquire) || !ring->ring.Empty() ||
        ring->unreported_drops != 0) {
      return false;
    }
    retired_logged_ += ring->logged.load(std::memory_order_relaxed);
    retired_dropped_ += ring->dropped.load(std::memory_order_relaxed);
    return true;
  });
}

uint64_t ThreadRings::logged() const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t total = retired_logged_;
  for (const auto& ring : rings_) total += ring->logged.load(std::memory_order_relaxed);
  return total;
}

uint64_t ThreadRings::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t total = retired_dropped_;
  for (const auto& ring : rings_) total += ring->dropped.load(std::memory_order_relaxed);
  return total;
}

}  // namespace fieldlog::agent
