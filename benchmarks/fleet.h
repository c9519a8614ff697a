// Fleet: the simulated devices and users of a benchmark run, and what each
// device logs.
//
// Everything derives from a FleetSpec (seed, device count, lines per device,
// time span), so the bench workers, the same-run ceiling, the parse-and-ack
// reference and the ClickHouse peer all generate the same entries without
// exchanging them: device 17's line 1234 is the same in every process.
//
// Users own one to three devices each (consecutive device indexes). Lines are
// loghub-shaped (benchmarks/corpus.h) with their numbers refilled; their
// device times are spread evenly over `span_us` starting at `start_us`, as if a
// day of a device's logs were replayed. One line in about `rare_every`
// carries kRareToken, the needle of the rare-text search.
#ifndef FIELDLOG_BENCHMARKS_FLEET_H_
#define FIELDLOG_BENCHMARKS_FLEET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "fieldlog/v1/common.pb.h"
#include "fieldlog/v1/ingest.pb.h"

namespace fieldlog::bench {

// The needle of the rare-text search: in no loghub line, so every match is an
// injected one and the expected count is known.
inline constexpr absl::string_view kRareToken = "fl-rare-7f3a";

struct FleetSpec {
  uint64_t seed = 1;
  int devices = 1000;
  int lines_per_device = 2000;
  int64_t start_us = 0;  // device time of each device's first line
  int64_t span_us = int64_t{23} * 3600 * 1'000'000;
  int rare_every = 50000;

  uint64_t total_lines() const {
    return static_cast<uint64_t>(devices) * static_cast<uint64_t>(lines_per_device);
  }
};

// splitmix64: a stable hash (absl::Hash is salted per process, and the
// processes of a run must agree).
uint64_t Mix(uint64_t x);

// One generated line. Views point into the GeneratedLines that made it.
struct LineView {
  v1::Level level;
  absl::string_view tag;
  absl::string_view message;
  int64_t time_us;  // the device's clock
};

// `line` as the agent would send it, with sequence number `seq`.
void FillEntry(const LineView& line, uint64_t seq, v1::Entry* entry);

// One device's lines, in order, in one arena (a few hundred thousand lines
// fit in tens of MB without a string per line).
class GeneratedLines {
 public:
  size_t size() const { return refs_.size(); }
  LineView operator[](size_t i) const;
  // Bytes of tag + message, summed.
  size_t text_bytes() const { return text_bytes_; }

 private:
  friend class Fleet;
  struct Ref {
    uint32_t tag_offset;
    uint16_t tag_size;
    uint8_t level;
    uint32_t message_offset;
    uint32_t message_size;
    int64_t time_us;
  };
  std::string arena_;
  std::vector<Ref> refs_;
  size_t text_bytes_ = 0;
};

class Fleet {
 public:
  explicit Fleet(const FleetSpec& spec);

  const FleetSpec& spec() const { return spec_; }
  int devices() const { return spec_.devices; }
  int users() const { return static_cast<int>(user_first_device_.size()); }
  uint64_t total_lines() const { return spec_.total_lines(); }

  // A UUID-shaped id, stable for (seed, device).
  std::string DeviceId(int device) const;
  // An e-mail-shaped id, stable for (seed, user).
  std::string UserId(int user) const;
  int UserOf(int device) const { return device_user_[device]; }
  // The user's devices: [first, first + count).
  int FirstDeviceOf(int user) const { return user_first_device_[user]; }
  int DeviceCountOf(int user) const;

  // All lines of a device, in seq order.
  GeneratedLines Lines(int device) const;

  // How many lines of the whole fleet carry kRareToken.
  uint64_t RareLineCount() const;

 private:
  bool IsRare(int device, int line) const;

  FleetSpec spec_;
  std::vector<int> device_user_;
  std::vector<int> user_first_device_;
};

}  // namespace fieldlog::bench

#endif  // FIELDLOG_BENCHMARKS_FLEET_H_
