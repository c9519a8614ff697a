// An app for the agent's crash tests (tests/agent_crash_test.cc), run as a
// real process so that it can be killed with SIGKILL or crash for real.
//
//   agent_crash_helper SERVER KEY STORAGE_DIR stream N   log N lines ("line i") at a steady
//                                                         pace, printing "spooled K" as they
//                                                         reach the spool; then wait to be killed
//   agent_crash_helper SERVER KEY STORAGE_DIR crash N    crash handler on: log N lines, then
//                                                         SIGSEGV at once (no flush)
//   agent_crash_helper SERVER KEY STORAGE_DIR resume     start, flush, print the device id and
//                                                         exit 0 when everything is acknowledged
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "fieldlog/agent.h"

int main(int argc, char** argv) {
  if (argc < 5) return 2;
  const std::string mode = argv[4];
  fieldlog::AgentOptions options;
  options.server = argv[1];
  options.ingest_key = argv[2];
  options.storage_dir = argv[3];
  options.flush_interval = std::chrono::milliseconds(50);
  options.batch_max_age = std::chrono::milliseconds(50);
  options.initial_backoff = std::chrono::milliseconds(20);
  options.max_backoff = std::chrono::milliseconds(200);
  options.crash_handler = mode == "crash";
  std::string error;
  auto agent = fieldlog::Agent::Start(options, &error);
  if (agent == nullptr) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::printf("device %s session %s\n", agent->device_id().c_str(), agent->session_id().c_str());
  std::fflush(stdout);
  if (mode == "stream") {
    const int n = std::atoi(argv[5]);
    for (int i = 0; i < n; ++i) {
      agent->Log(fieldlog::Level::kInfo, "Crash", "line " + std::to_string(i), {{"i", i}});
      if (i % 500 == 499) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        std::printf("spooled %llu\n", static_cast<unsigned long long>(agent->stats().spooled));
        std::fflush(stdout);
      }
    }
    for (int i = 0; i < 6000; ++i) {
      std::printf("spooled %llu\n", static_cast<unsigned long long>(agent->stats().spooled));
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
  }
  if (mode == "crash") {
    const int n = std::atoi(argv[5]);
    for (int i = 0; i < n; ++i) {
      agent->Log(fieldlog::Level::kInfo, "Crash", "line " + std::to_string(i), {{"i", i}});
    }
    ::raise(SIGSEGV);
    return 3;
  }
  if (mode == "resume") {
    const bool ok = agent->Flush(std::chrono::seconds(30));
    std::printf("flushed %d acknowledged %llu\n", ok ? 1 : 0,
                static_cast<unsigned long long>(agent->stats().acknowledged));
    return ok ? 0 : 1;
  }
  return 2;
}
