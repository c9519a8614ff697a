// Report: the figures of one fieldlog-bench run and the conditions it ran
// under, as JSON (for CI and dashboards) and as a readable table.
//
// Every figure has a dotted name ("ingest.lines_per_sec"), a value, a unit,
// which direction is better, and a gate class saying whether --compare fails
// on it by default: same-run ratios and sizes gate, absolute rates and times
// (which move with whatever else the shared machine is doing) only inform
// unless --gate all is given.
//
// JSON layout (format "fieldlog-bench/1"):
//   {"format": "fieldlog-bench/1",
//    "conditions": {"commit": ..., "cores": ..., "options": {...}, ...},
//    "figures": {"ingest.lines_per_sec": {"value": 1.2e6, "unit": "lines/s",
//                "better": "higher", "gate": "ratio"|"size"|"absolute",
//                "description": "..."}, ...}}
#ifndef FIELDLOG_BENCHMARKS_REPORT_H_
#define FIELDLOG_BENCHMARKS_REPORT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace fieldlog::bench {

inline constexpr absl::string_view kReportFormat = "fieldlog-bench/1";

enum class Better { kHigher, kLower };
enum class Gate {
  kRatio,     // a ratio of two figures measured in the same run
  kSize,      // bytes, counts: independent of machine load
  kAbsolute,  // rates and latencies: informative, noisy on shared machines
};

struct Figure {
  std::string name;
  double value = 0;
  std::string unit;
  Better better = Better::kHigher;
  Gate gate = Gate::kAbsolute;
  std::string description;
  // Per-figure tolerance for --compare (a fraction); nullopt: the default.
  std::optional<double> tolerance;
};

class Report {
 public:
  // Adds or replaces a figure; figures keep the order they were first set in.
  void Set(absl::string_view name, double value, absl::string_view unit, Better better, Gate gate,
           absl::string_view description);
  const Figure* Find(absl::string_view name) const;
  // Gives a figure its own --compare tolerance (a noisy ratio a wider one, a
  // deterministic size a narrower one); a report used as the baseline carries
  // it.
  void SetTolerance(absl::string_view name, double tolerance);
  const std::vector<Figure>& figures() const { return figures_; }

  nlohmann::ordered_json& conditions() { return conditions_; }
  const nlohmann::ordered_json& conditions() const { return conditions_; }

  nlohmann::ordered_json ToJson() const;
  // INVALID_ARGUMENT when `json` is not a fieldlog-bench report.
  static absl::StatusOr<Report> FromJson(const nlohmann::ordered_json& json);
  static absl::StatusOr<Report> ReadFile(const std::string& path);
  absl::Status WriteFile(const std::string& path) const;

  // The figures as an aligned table, one section per phase.
  std::string Table() const;

 private:
  nlohmann::ordered_json conditions_ = nlohmann::ordered_json::object();
  std::vector<Figure> figures_;
};

// A value with three significant digits and an SI suffix: 1.23 M, 45.6, 0.012.
std::string HumanNumber(double value);

absl::string_view GateName(Gate gate);

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_REPORT_H_
