// KeepFreedMemoryForReuse: tells glibc's malloc to keep the memory the
// server frees for its next allocations instead of handing it back to the
// kernel at once.
//
// Left to its defaults, malloc gives a thread arena's freed top back with
// madvise(MADV_DONTNEED) as soon as 128 KiB of it is free. A search that
// streams a busy device's day builds a few MiB of pages and decoded blocks
// on a gRPC thread, frees them when they are sent, and the next search
// faults the same pages in again, each cleared by the kernel: measured on
// fieldlog's query-scale store, that was a third of the server's CPU for
// such a search. Here freed memory stays with the arena until 16 MiB of it
// is free, and allocations of up to 32 MiB (glibc's own ceiling for its
// sliding threshold) come from the arenas rather than from mmap.
//
// The cost is memory that looks resident while idle: at most the trim
// threshold per arena in use, and a server runs a handful.
#ifndef FIELDLOG_SERVER_MALLOC_TUNING_H_
#define FIELDLOG_SERVER_MALLOC_TUNING_H_

namespace fieldlog::server {

// Call once, early in main, before threads start.
void KeepFreedMemoryForReuse();

}  // namespace fieldlog::server

#endif  // FIELDLOG_SERVER_MALLOC_TUNING_H_
