#include "common/metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace fieldlog {
namespace {

std::string RenderLabels(const std::vector<std::pair<std::string, std::string>>& labels) {
  if (labels.empty()) return "";
  std::vector<std::string> parts;
  for (const auto& [key, value] : labels) {
    const std::string escaped =
        absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
    parts.push_back(absl::StrCat(key, "=\"", escaped, "\""));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string FormatNumber(double v) { return absl::StrCat(v); }

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micro_.fetch_add(static_cast<uint64_t>(value * 1e6), std::memory_order_relaxed);
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

MetricsRegistry::Family& MetricsRegistry::FamilyLocked(absl::string_view name,
                                                       absl::string_view type,
                                                       absl::string_view help) {
  Family& family = families_[std::string(name)];
  if (family.type.empty()) {
    family.type = std::string(type);
    family.help = std::string(help);
  }
  return family;
}

Counter* MetricsRegistry::GetCounter(
    absl::string_view name, absl::string_view help,
    const std::vector<std::pair<std::string, std::string>>& labels) {
  absl::MutexLock lock(&mu_);
  Family& family = FamilyLocked(name, "counter", help);
  std::unique_ptr<Counter>& counter = family.counters[RenderLabels(labels)];
  if (counter == nullptr) counter = std::make_unique<Counter>();
  return counter.get();
}

Histogram* MetricsRegistry::GetHistogram(absl::string_view name, absl::string_view help,
                                         std::vector<double> bounds) {
  absl::MutexLock lock(&mu_);
  Family& family = FamilyLocked(name, "histogram", help);
  if (family.histogram == nullptr)
    family.histogram = std::make_unique<Histogram>(std::move(bounds));
  return family.histogram.get();
}

void MetricsRegistry::AddGauge(absl::string_view name, absl::string_view help,
                               std::function<double()> read) {
  absl::MutexLock lock(&mu_);
  FamilyLocked(name, "gauge", help).gauge = std::move(read);
}

std::string MetricsRegistry::RenderPrometheus() const {
  // Gauges are read before taking mu_: they call into other components,
  // which may in turn update metrics (and so need mu_).
  std::map<std::string, std::function<double()>> gauges;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, family] : families_) {
      if (family.gauge) gauges[name] = family.gauge;
    }
  }
  std::map<std::string, double> gauge_values;
  for (const auto& [name, read] : gauges) gauge_values[name] = read();

  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", family.help, "\n# TYPE ", name, " ", family.type,
                    "\n");
    for (const auto& [labels, counter] : family.counters) {
      absl::StrAppend(&out, name, labels, " ", counter->value(), "\n");
    }
    if (auto it = gauge_values.find(name); it != gauge_values.end()) {
      absl::StrAppend(&out, name, " ", FormatNumber(it->second), "\n");
    }
    if (const Histogram* h = family.histogram.get()) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= h->bounds_.size(); ++i) {
        cumulative += h->counts_[i].load(std::memory_order_relaxed);
        const std::string le = i < h->bounds_.size() ? FormatNumber(h->bounds_[i]) : "+Inf";
        absl::StrAppend(&out, name, "_bucket{le=\"", le, "\"} ", cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_sum ",
                      FormatNumber(static_cast<double>(h->sum_micro_.load()) / 1e6), "\n", name,
                      "_count ", h->count_.load(), "\n");
    }
  }
  return out;
}

}  // namespace fieldlog
