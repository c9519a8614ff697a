// The documented bounds of the ingest contract (proto/fieldlog/v1/ingest.proto).
// One place, so the agent (which cuts what is too long), the collector (which
// rejects it), the docs and the tests agree.
#ifndef FIELDLOG_COMMON_LIMITS_H_
#define FIELDLOG_COMMON_LIMITS_H_

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"

namespace fieldlog {

inline constexpr size_t kMaxRequestBytes = 8 << 20;  // one gRPC message
inline constexpr size_t kMaxEntriesPerBatch = 10000;
inline constexpr size_t kMaxDeviceIdBytes = 128;
inline constexpr size_t kMaxUserIdBytes = 255;
inline constexpr size_t kMaxSessionIdBytes = 128;
inline constexpr size_t kMaxAgentBytes = 64;
inline constexpr size_t kMaxTagBytes = 128;
inline constexpr size_t kMaxMessageBytes = 16384;
inline constexpr size_t kMaxFileBytes = 512;
inline constexpr size_t kMaxFunctionBytes = 256;
inline constexpr size_t kMaxAttributes = 64;
inline constexpr size_t kMaxAttributeKeyBytes = 128;
inline constexpr size_t kMaxAttributeValueBytes = 4096;
inline constexpr uint64_t kMaxSeq = uint64_t{1} << 62;
// Accepted corrected times, relative to the server clock: a device may have
// been offline for weeks, but nothing is logged in the future.
inline constexpr absl::Duration kMaxEntryAge = absl::Hours(24 * 30);
inline constexpr absl::Duration kMaxEntryFuture = absl::Hours(1);

}  // namespace fieldlog

#endif  // FIELDLOG_COMMON_LIMITS_H_
