// ProgressBar: one line on stderr, redrawn in place, while a phase runs —
// only when stderr is a terminal, so CI logs and pipes stay clean.
#ifndef FIELDLOG_BENCHMARKS_PROGRESS_H_
#define FIELDLOG_BENCHMARKS_PROGRESS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fieldlog::bench {

class ProgressBar {
 public:
  // `total` units make 100%; `enabled` false draws nothing.
  ProgressBar(absl::string_view title, uint64_t total, bool enabled);
  ~ProgressBar();

  // Redraws (at most 10 times a second) with `done` units and a short note.
  void Update(uint64_t done, absl::string_view note = "");
  // Draws the final state and moves to the next line.
  void Finish(absl::string_view note = "");

  // True when stderr is a terminal.
  static bool StderrIsTerminal();

 private:
  void Draw(absl::string_view note);

  std::string title_;
  uint64_t total_;
  uint64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  absl::Time last_draw_ = absl::InfinitePast();
};

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_PROGRESS_H_
