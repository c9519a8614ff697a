// Time buckets: which parts of a block's time span hold lines, and the one
// test every query uses to skip a block by time.
//
// A block holds one device's lines in seq order; a device that logs a few
// sessions a day leaves blocks whose [min_time, max_time] spans days while
// its lines sit in a few short stretches. Pruning on [min, max] alone made an
// hour's app-wide question decompress every such block (issue 5). So
// BlockMeta.time_buckets cuts the span [min, max] into 64 equal buckets and
// sets bit b when a line falls in bucket b; a block meets a time range only
// when a bucket the range touches holds a line. A meta without the field (0:
// written before it existed) counts as every bucket set, which is exactly the
// old [min, max] test.
//
// Bucket b of a block covers [min + b * width, min + (b + 1) * width) with
// width = (max - min) / 64 + 1 (integer division), so bucket 63 ends past
// max and every time in [min, max] lands in exactly one bucket. All in
// unsigned arithmetic: any int64 min and max are fine.
#ifndef FIELDLOG_STORE_TIME_BUCKETS_H_
#define FIELDLOG_STORE_TIME_BUCKETS_H_

#include <cstdint>
#include <span>

#include "store/records.pb.h"

namespace fieldlog::store {

inline constexpr int kTimeBuckets = 64;

// The bucket of `time_us`, which must lie in [min_us, max_us].
int TimeBucketOf(int64_t min_us, int64_t max_us, int64_t time_us);

// The mask of the buckets that `times_us` (each in [min_us, max_us]) fall in.
uint64_t TimeBucketsHeld(int64_t min_us, int64_t max_us, std::span<const int64_t> times_us);

// The buckets of [min_us, max_us] that the range [from_us, to_us) touches,
// as a mask (0 when the range misses [min_us, max_us] altogether).
uint64_t TimeBucketsTouched(int64_t min_us, int64_t max_us, int64_t from_us, int64_t to_us);

// True when the block may hold a line with a time in [from_us, to_us): its
// [min, max] meets the range and, when the meta has buckets, one of the
// buckets the range touches holds a line. Never false for a block that holds
// such a line.
bool BlockMetaMeetsRange(const BlockMeta& meta, int64_t from_us, int64_t to_us);

// The same test on a meta's three fields (time_buckets 0: written before
// buckets existed), for callers that read them without parsing the meta.
bool BlockTimesMeetRange(int64_t min_us, int64_t max_us, uint64_t time_buckets, int64_t from_us,
                         int64_t to_us);

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_TIME_BUCKETS_H_
