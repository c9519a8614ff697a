#include "benchmarks/histogram.h"

#include <algorithm>
#include <cmath>

namespace fieldlog::bench {
namespace {

constexpr double kGrowth = 1.02;
// 1.02^1200 ≈ 2e10 µs, about 6 hours; longer samples land in the last bucket.
constexpr int kBuckets = 1200;

}  // namespace

Histogram::Histogram() : buckets_(kBuckets, 0) {}

int Histogram::BucketOf(double micros) {
  if (!(micros > 1)) return 0;
  const int bucket = static_cast<int>(std::log(micros) / std::log(kGrowth));
  return std::clamp(bucket, 0, kBuckets - 1);
}

double Histogram::BucketLow(int bucket) { return std::pow(kGrowth, bucket); }

void Histogram::Add(double micros, uint64_t count) {
  buckets_[BucketOf(micros)] += count;
  count_ += count;
  sum_ += micros * static_cast<double>(count);
  max_ = std::max(max_, micros);
}

void Histogram::Merge(const Histogram& other) {
  for (int i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

double Histogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  const double rank = q * static_cast<double>(count_);
  double seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    if (buckets_[i] == 0) continue;
    const double next = seen + static_cast<double>(buckets_[i]);
    if (next >= rank) {
      const double low = i == 0 ? 0 : BucketLow(i);
      const double high = BucketLow(i + 1);
      const double within = (rank - seen) / static_cast<double>(buckets_[i]);
      return std::min(max_, low + (high - low) * within);
    }
    seen = next;
  }
  return max_;
}

nlohmann::json Histogram::ToJson() const {
  nlohmann::json buckets = nlohmann::json::array();
  for (int i = 0; i < kBuckets; ++i) {
    if (buckets_[i] != 0) buckets.push_back({i, buckets_[i]});
  }
  return {{"buckets", buckets}, {"sum", sum_}, {"max", max_}};
}

Histogram Histogram::FromJson(const nlohmann::json& json) {
  Histogram h;
  if (!json.is_object()) return h;
  for (const auto& b : json.value("buckets", nlohmann::json::array())) {
    if (!b.is_array() || b.size() != 2) continue;
    const int i = b[0].get<int>();
    const uint64_t n = b[1].get<uint64_t>();
    if (i < 0 || i >= kBuckets) continue;
    h.buckets_[i] += n;
    h.count_ += n;
  }
  h.sum_ = json.value("sum", 0.0);
  h.max_ = json.value("max", 0.0);
  return h;
}

}  // namespace fieldlog::bench
