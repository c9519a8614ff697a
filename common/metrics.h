// Metrics: counters, gauges and histograms, rendered in the Prometheus text
// exposition format for the server's /metrics endpoint.
//
// Metrics are created once (at startup, or on first use of a label value)
// and updated lock-free with atomics on hot paths. A family is a metric name
// with its help text; each label set is one series.
//
// Thread-safe.
#ifndef FIELDLOG_COMMON_METRICS_H_
#define FIELDLOG_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace fieldlog {

class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Histogram {
 public:
  // `bounds`: upper bounds of the buckets, increasing (an +Inf bucket is
  // implied).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  void ObserveDuration(absl::Duration d) { Observe(absl::ToDoubleSeconds(d)); }

 private:
  friend class MetricsRegistry;
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micro_{0};  // sum in millionths, kept as an integer
};

class MetricsRegistry {
 public:
  // `labels` like {{"reason", "invalid_utf8"}}. The same name and labels give
  // the same series.
  Counter* GetCounter(absl::string_view name, absl::string_view help,
                      const std::vector<std::pair<std::string, std::string>>& labels = {});
  Histogram* GetHistogram(absl::string_view name, absl::string_view help,
                          std::vector<double> bounds);
  // A gauge read when /metrics is rendered (without the registry's lock held,
  // so `read` may take other locks).
  void AddGauge(absl::string_view name, absl::string_view help, std::function<double()> read);

  std::string RenderPrometheus() const;

 private:
  struct Family {
    std::string type;  // counter, gauge, histogram
    std::string help;
    std::map<std::string, std::unique_ptr<Counter>> counters;  // by rendered labels
    std::unique_ptr<Histogram> histogram;
    std::function<double()> gauge;
  };
  Family& FamilyLocked(absl::string_view name, absl::string_view type, absl::string_view help)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
};

// Latency buckets from 100 µs to 10 s, in seconds.
std::vector<double> LatencyBuckets();

}  // namespace fieldlog

#endif  // FIELDLOG_COMMON_METRICS_H_
