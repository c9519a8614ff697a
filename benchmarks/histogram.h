// Histogram: latency samples in logarithmic buckets (about 2% wide), small
// enough to ship from a bench worker to the coordinator as JSON and merge,
// precise enough for p50 / p99 / p99.9 of ack and query latencies.
//
// Values are microseconds, from 1 µs to about 6 hours; outside that range they
// are clamped. Thread-compatible.
#ifndef FIELDLOG_BENCHMARKS_HISTOGRAM_H_
#define FIELDLOG_BENCHMARKS_HISTOGRAM_H_

#include <cstdint>
#include <vector>

#include "nlohmann/json.hpp"

namespace fieldlog::bench {

class Histogram {
 public:
  Histogram();

  void Add(double micros, uint64_t count = 1);
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  double max() const { return max_; }
  double mean() const { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }
  // The value below which a fraction `q` (0..1) of samples lie, interpolated
  // within its bucket; 0 when empty.
  double Quantile(double q) const;

  // {"buckets": [[index, count], ...], "sum": ..., "max": ...}
  nlohmann::json ToJson() const;
  static Histogram FromJson(const nlohmann::json& json);

 private:
  static int BucketOf(double micros);
  static double BucketLow(int bucket);

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  double sum_ = 0;
  double max_ = 0;
};

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_HISTOGRAM_H_
