#include "store/time_buckets.h"

namespace fieldlog::store {
namespace {

uint64_t Width(int64_t min_us, int64_t max_us) {
  return (static_cast<uint64_t>(max_us) - static_cast<uint64_t>(min_us)) / kTimeBuckets + 1;
}

}  // namespace

int TimeBucketOf(int64_t min_us, int64_t max_us, int64_t time_us) {
  const uint64_t offset = static_cast<uint64_t>(time_us) - static_cast<uint64_t>(min_us);
  return static_cast<int>(offset / Width(min_us, max_us));
}

uint64_t TimeBucketsHeld(int64_t min_us, int64_t max_us, std::span<const int64_t> times_us) {
  const uint64_t width = Width(min_us, max_us);
  uint64_t held = 0;
  for (const int64_t t : times_us) {
    held |= uint64_t{1} << ((static_cast<uint64_t>(t) - static_cast<uint64_t>(min_us)) / width);
  }
  return held;
}

uint64_t TimeBucketsTouched(int64_t min_us, int64_t max_us, int64_t from_us, int64_t to_us) {
  if (from_us >= to_us || max_us < from_us || min_us >= to_us) return 0;
  // The part of the range inside [min, max], inclusive at both ends.
  const int64_t first = from_us > min_us ? from_us : min_us;
  const int64_t last = to_us - 1 < max_us ? to_us - 1 : max_us;
  const int b0 = TimeBucketOf(min_us, max_us, first);
  const int b1 = TimeBucketOf(min_us, max_us, last);
  const uint64_t up_to_b1 = b1 >= kTimeBuckets - 1 ? ~uint64_t{0} : (uint64_t{1} << (b1 + 1)) - 1;
  return up_to_b1 & ~((uint64_t{1} << b0) - 1);
}

bool BlockTimesMeetRange(int64_t min_us, int64_t max_us, uint64_t time_buckets, int64_t from_us,
                         int64_t to_us) {
  const uint64_t touched = TimeBucketsTouched(min_us, max_us, from_us, to_us);
  if (touched == 0) return false;
  // 0: a meta written before buckets existed, every bucket possibly used.
  const uint64_t held = time_buckets == 0 ? ~uint64_t{0} : time_buckets;
  return (touched & held) != 0;
}

bool BlockMetaMeetsRange(const BlockMeta& meta, int64_t from_us, int64_t to_us) {
  return BlockTimesMeetRange(meta.min_time_unix_micros(), meta.max_time_unix_micros(),
                             meta.time_buckets(), from_us, to_us);
}

}  // namespace fieldlog::store
