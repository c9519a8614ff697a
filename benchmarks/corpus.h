// Realistic log lines for benchmarks, generated from the loghub samples in
// benchmarks/data/loghub (Android, HealthApp and macOS logs from real devices).
#ifndef FIELDLOG_BENCHMARKS_CORPUS_H_
#define FIELDLOG_BENCHMARKS_CORPUS_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "fieldlog/v1/common.pb.h"

namespace fieldlog::bench {

struct CorpusLine {
  v1::Level level = v1::LEVEL_INFO;
  std::string tag;
  std::string message;
};

// Every line of the three samples, parsed into level, tag and message.
const std::vector<CorpusLine>& LoghubLines();

// Produces an endless stream of lines shaped like the corpus: a random
// corpus line whose numbers (ids, durations, counters) are replaced by fresh
// random numbers of the same length, so data does not repeat verbatim.
class LineGenerator {
 public:
  explicit LineGenerator(uint64_t seed) : random_(seed) {}
  CorpusLine Next();

 private:
  std::mt19937_64 random_;
};

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_CORPUS_H_
