#include "server/malloc_tuning.h"

#include <malloc.h>

namespace fieldlog::server {

void KeepFreedMemoryForReuse() {
  constexpr int kTrimThreshold = 16 << 20;
  constexpr int kMmapThreshold = 32 << 20;
  // Setting either turns off glibc's sliding mmap threshold, so both are set.
  // Each call only fails for an out-of-range value, which these are not.
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
}

}  // namespace fieldlog::server
