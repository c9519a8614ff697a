// ScaleFleet: the data set of the query-at-scale benchmark (issue 5): many
// devices of very different volume over a week, loghub-shaped text, and a
// few planted texts whose every occurrence is known.
//
// Everything derives from a ScaleSpec, so the fieldlog loader, the
// ClickHouse loader and the expected answers agree without exchanging data:
// device d's line j is the same in every pass and every process.
//
// Shape (defaults): 100,000 devices and ~50,000 users (1-3 consecutive
// devices each, benchmarks/fleet.h's ids), 10,000,000 lines over 7 days.
// `heavy_devices` devices (test rigs, kiosks) log `heavy_lines_per_day`
// lines a day, evenly; the other devices share the remaining lines with
// log-normal weights (median ~1/3 of the mean: most devices log a few dozen
// lines a week, some thousands), in sessions of 1-60 lines a few seconds
// apart at random moments of the week. A device's sessions are grouped into
// store blocks the way the collector's writer groups a trickling device's
// batches (a block grows until it holds kBlockTargetLines lines).
//
// Planted texts: one line in about `rare_every` says kRareToken; one in about
// `payment_every` says "PaymentTimeout" and as many "PaymentDeclined"
// (neither occurs in loghub), so affected-users answers can be checked.
#ifndef FIELDLOG_BENCHMARKS_QUERY_SCALE_DATA_H_
#define FIELDLOG_BENCHMARKS_QUERY_SCALE_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "benchmarks/corpus.h"
#include "benchmarks/fleet.h"

namespace fieldlog::bench {

inline constexpr int64_t kDayUs = int64_t{24} * 3600 * 1'000'000;
inline constexpr int64_t kHourUs = int64_t{3600} * 1'000'000;
// The store's writer extends a tail block until it holds this many lines
// (store/writer.h, kSmallBlockLines); loading in groups of at least this
// many gives the layout a trickling device ends up with.
inline constexpr size_t kBlockTargetLines = 256;

struct ScaleSpec {
  uint64_t seed = 1;
  int devices = 100000;
  uint64_t lines = 10'000'000;
  int heavy_devices = 50;
  int heavy_lines_per_day = 10000;
  int64_t start_us = 0;  // first instant of the week
  int64_t span_us = 7 * kDayUs;
  int rare_every = 50000;
  int payment_every = 5000;
};

enum class Planted : uint8_t { kNone = 0, kRare, kPaymentTimeout, kPaymentDeclined };

// When and what a device logs, without the text.
struct DeviceSchedule {
  std::vector<int64_t> times;     // strictly increasing
  std::vector<uint32_t> session;  // session number of each line
  std::vector<Planted> planted;
};

struct DeviceLines {
  DeviceSchedule schedule;
  std::vector<CorpusLine> lines;
  std::vector<std::string> session_ids;  // by session number
};

class ScaleFleet {
 public:
  explicit ScaleFleet(const ScaleSpec& spec);

  const ScaleSpec& spec() const { return spec_; }
  const Fleet& ids() const { return ids_; }
  int devices() const { return spec_.devices; }
  int users() const { return ids_.users(); }
  uint64_t total_lines() const { return total_; }
  uint32_t LineCount(int device) const { return counts_[device]; }
  bool IsHeavy(int device) const { return heavy_[device]; }
  const std::vector<int>& heavy_devices() const { return heavy_list_; }

  DeviceSchedule Schedule(int device) const;
  DeviceLines Lines(int device) const;

 private:
  ScaleSpec spec_;
  Fleet ids_;
  std::vector<uint32_t> counts_;
  std::vector<bool> heavy_;
  std::vector<int> heavy_list_;
  uint64_t total_ = 0;
};

// The message of a planted line.
std::string PlantedMessage(Planted kind, uint64_t salt);

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_QUERY_SCALE_DATA_H_
