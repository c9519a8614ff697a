#include "benchmarks/compare.h"

#include <cmath>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fieldlog::bench {
namespace {

// Conditions that change what the figures mean; a difference is worth a
// warning (the comparison still runs).
constexpr const char* kShapeOptions[] = {"devices", "lines_per_device", "concurrent_devices",
                                         "workers", "sync"};

bool Gated(const Figure& f, const CompareOptions& options) {
  return options.gate_all || f.gate == Gate::kRatio || f.gate == Gate::kSize;
}

}  // namespace

Comparison Compare(const Report& baseline, const Report& current, const CompareOptions& options) {
  Comparison result;
  const auto& base_options = baseline.conditions().value("options", nlohmann::ordered_json{});
  const auto& run_options = current.conditions().value("options", nlohmann::ordered_json{});
  for (const char* key : kShapeOptions) {
    if (base_options.contains(key) && run_options.contains(key) &&
        base_options[key] != run_options[key]) {
      result.warnings.push_back(absl::StrCat("option ", key, " differs: baseline ",
                                             base_options[key].dump(), ", this run ",
                                             run_options[key].dump()));
    }
  }

  size_t width = 6;
  for (const Figure& f : baseline.figures()) width = std::max(width, f.name.size());
  std::ostringstream table;
  table << absl::StrFormat("  %-*s %10s %10s %8s  %s\n", static_cast<int>(width), "figure",
                           "baseline", "this run", "change", "verdict");
  for (const Figure& base : baseline.figures()) {
    const bool gated = Gated(base, options);
    const double tolerance = base.tolerance.value_or(options.tolerance);
    const Figure* now = current.Find(base.name);
    if (now == nullptr || !std::isfinite(now->value)) {
      table << absl::StrFormat("  %-*s %10s %10s %8s  %s\n", static_cast<int>(width), base.name,
                               HumanNumber(base.value), "-", "", gated ? "MISSING" : "missing");
      if (gated) result.failures.push_back(absl::StrCat(base.name, " is missing from this run"));
      continue;
    }
    std::string change = "";
    std::string verdict = "ok";
    if (std::isfinite(base.value) && base.value != 0) {
      const double relative = (now->value - base.value) / std::fabs(base.value);
      change = absl::StrFormat("%+.1f%%", relative * 100);
      const double worse = base.better == Better::kHigher ? -relative : relative;
      if (worse > tolerance) {
        verdict = gated ? "REGRESSION" : "worse (not gated)";
        if (gated) {
          result.failures.push_back(absl::StrFormat(
              "%s: %s %s -> %s %s (%s, tolerance %.0f%%)", base.name, HumanNumber(base.value),
              base.unit, HumanNumber(now->value), now->unit, change, tolerance * 100));
        }
      } else if (-worse > tolerance) {
        verdict = "better";
      }
    }
    table << absl::StrFormat("  %-*s %10s %10s %8s  %s%s\n", static_cast<int>(width), base.name,
                             HumanNumber(base.value), HumanNumber(now->value), change, verdict,
                             gated ? "" : " [info]");
  }
  result.table = table.str();
  return result;
}

}  // namespace fieldlog::bench
