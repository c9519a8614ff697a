// Compare: a run's report against a stored baseline (benchmarks/baseline.json).
//
// For every figure of the baseline it prints the change and a verdict. A
// figure is a regression when it moved in the worse direction by more than
// its tolerance (the baseline figure's own "tolerance", else the default).
// Only gated figures fail the comparison: by default the same-run ratios and
// the sizes (Gate::kRatio, kSize), because absolute rates and latencies on a
// shared 2-core machine move with whatever else it is running; `gate_all`
// gates every figure. A gated figure missing from the run also fails (a
// renamed figure must not pass silently).
#ifndef FIELDLOG_BENCHMARKS_COMPARE_H_
#define FIELDLOG_BENCHMARKS_COMPARE_H_

#include <string>
#include <vector>

#include "benchmarks/report.h"

namespace fieldlog::bench {

struct CompareOptions {
  double tolerance = 0.25;
  bool gate_all = false;
};

struct Comparison {
  std::string table;                  // one line per baseline figure
  std::vector<std::string> failures;  // gated regressions and missing figures
  std::vector<std::string> warnings;  // e.g. different run conditions
  bool ok() const { return failures.empty(); }
};

Comparison Compare(const Report& baseline, const Report& current, const CompareOptions& options);

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_COMPARE_H_
