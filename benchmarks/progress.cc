#include "benchmarks/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace fieldlog::bench {

constexpr int kBarWidth = 30;

ProgressBar::ProgressBar(absl::string_view title, uint64_t total, bool enabled)
    : title_(title), total_(std::max<uint64_t>(total, 1)), enabled_(enabled) {}

ProgressBar::~ProgressBar() {
  if (!finished_) Finish();
}

bool ProgressBar::StderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

void ProgressBar::Update(uint64_t done, absl::string_view note) {
  done_ = done;
  const absl::Time now = absl::Now();
  if (now - last_draw_ < absl::Milliseconds(100)) return;
  last_draw_ = now;
  Draw(note);
}

void ProgressBar::Finish(absl::string_view note) {
  if (finished_) return;
  finished_ = true;
  Draw(note);
  if (enabled_) std::fputs("\n", stderr);
}

void ProgressBar::Draw(absl::string_view note) {
  if (!enabled_) return;
  const double fraction = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
  const int filled = static_cast<int>(fraction * kBarWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kBarWidth, '.');
  // \r and "erase to end of line": the line is redrawn in place.
  std::fprintf(stderr, "\r\033[K%-8s [%s] %3.0f%%  %s", title_.c_str(), bar.c_str(),
               fraction * 100, std::string(note).c_str());
  std::fflush(stderr);
}

}  // namespace fieldlog::bench
