// InstallCrashTrace: when the server dies of a fatal signal (SIGSEGV,
// SIGBUS, SIGILL, SIGFPE, SIGABRT: an assertion, "pure virtual method
// called", a corrupt heap), the failing thread's stack goes to stderr, the
// server's log, before the process dies of the signal as it would have.
//
// The stack is unwound with glibc's backtrace(), which reads the unwind
// tables every library ships, so it reaches through libstdc++, gRPC and
// RocksDB frames built without frame pointers (Abseil's failure signal
// handler walks frame pointers and stops at the first such frame). Frames
// print as `binary(+offset)`; `addr2line -Cfe build/bin/fieldlog-server
// <offset>` names them. Not for SIGTERM/SIGINT: those drain the server.
#ifndef FIELDLOG_SERVER_CRASH_TRACE_H_
#define FIELDLOG_SERVER_CRASH_TRACE_H_

namespace fieldlog::server {

// Call once, early in main, before threads start.
void InstallCrashTrace();

}  // namespace fieldlog::server

#endif  // FIELDLOG_SERVER_CRASH_TRACE_H_
