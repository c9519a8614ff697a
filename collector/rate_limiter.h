// RateLimiter: token buckets per app and per device, in log lines per second.
//
// A batch of n lines takes n tokens from its app's bucket and its device's
// bucket, or from neither: if either lacks them, the batch is refused and the
// caller learns how long until it would fit, which goes back to the client as
// the retry delay (RESOURCE_EXHAUSTED). Buckets hold `burst` seconds of their
// rate, so a device that was quiet may send a backlog at once; a device that
// floods is held to its rate without slowing any other device.
//
// Thread-safe. Idle device buckets are forgotten when there are too many.
#ifndef FIELDLOG_COLLECTOR_RATE_LIMITER_H_
#define FIELDLOG_COLLECTOR_RATE_LIMITER_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/keys.h"

namespace fieldlog::collector {

struct RateLimits {
  // Lines per second; 0 means unlimited.
  double app_lines_per_second = 0;
  double device_lines_per_second = 0;
  // Bucket size, in seconds of the rate.
  double burst_seconds = 10;
};

class RateLimiter {
 public:
  static constexpr size_t kMaxDeviceBuckets = 100000;

  // Zero when the batch is admitted (tokens taken); otherwise how long until
  // it would be (nothing taken).
  absl::Duration Admit(store::AppId app, absl::string_view device_id, double lines,
                       const RateLimits& limits, absl::Time now);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
    bool fresh = true;
  };
  // Refills `bucket` up to `rate * burst`; returns how long until it holds
  // `lines` (0 if it does).
  static absl::Duration Refill(Bucket& bucket, double rate, double burst_seconds, double lines,
                               absl::Time now);

  absl::Mutex mu_;
  absl::flat_hash_map<store::AppId, Bucket> apps_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Bucket> devices_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fieldlog::collector

#endif  // FIELDLOG_COLLECTOR_RATE_LIMITER_H_
