#include "collector/rate_limiter.h"

#include <algorithm>

namespace fieldlog::collector {

absl::Duration RateLimiter::Refill(Bucket& bucket, double rate, double burst_seconds, double lines,
                                   absl::Time now) {
  const double capacity = rate * burst_seconds;
  if (bucket.fresh) {
    bucket.tokens = capacity;
    bucket.fresh = false;
  } else {
    bucket.tokens =
        std::min(capacity, bucket.tokens + rate * absl::ToDoubleSeconds(now - bucket.updated));
  }
  bucket.updated = now;
  // A batch larger than the bucket fits once the bucket is full.
  const double needed = std::min(lines, capacity);
  if (bucket.tokens >= needed) return absl::ZeroDuration();
  return absl::Seconds((needed - bucket.tokens) / rate);
}

absl::Duration RateLimiter::Admit(store::AppId app, absl::string_view device_id, double lines,
                                  const RateLimits& limits, absl::Time now) {
  const bool limit_app = limits.app_lines_per_second > 0;
  const bool limit_device = limits.device_lines_per_second > 0;
  if (!limit_app && !limit_device) return absl::ZeroDuration();

  absl::MutexLock lock(&mu_);
  absl::Duration wait = absl::ZeroDuration();
  Bucket* app_bucket = nullptr;
  Bucket* device_bucket = nullptr;
  if (limit_app) {
    app_bucket = &apps_[app];
    wait = std::max(
        wait, Refill(*app_bucket, limits.app_lines_per_second, limits.burst_seconds, lines, now));
  }
  if (limit_device) {
    if (devices_.size() >= kMaxDeviceBuckets) {
      // Forget buckets that have refilled completely: they hold no state.
      const double capacity = limits.device_lines_per_second * limits.burst_seconds;
      absl::erase_if(devices_, [&](const auto& entry) {
        const Bucket& b = entry.second;
        return b.tokens + limits.device_lines_per_second * absl::ToDoubleSeconds(now - b.updated) >=
               capacity;
      });
    }
    std::string key = store::DeviceKey(app, device_id);
    device_bucket = &devices_[key];
    wait = std::max(wait, Refill(*device_bucket, limits.device_lines_per_second,
                                 limits.burst_seconds, lines, now));
  }
  if (wait > absl::ZeroDuration()) return wait;
  if (app_bucket) app_bucket->tokens -= std::min(lines, app_bucket->tokens);
  if (device_bucket) device_bucket->tokens -= std::min(lines, device_bucket->tokens);
  return absl::ZeroDuration();
}

}  // namespace fieldlog::collector
