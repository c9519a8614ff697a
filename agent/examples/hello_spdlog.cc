// hello_spdlog: an app that already logs with spdlog adds one line to ship
// its logs through the fieldlog agent.
//
//   hello_spdlog SERVER INGEST_KEY [USER]
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <string>

#include "fieldlog/agent.h"
#include "fieldlog/spdlog_sink.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s SERVER INGEST_KEY [USER]\n", argv[0]);
    return 2;
  }
  fieldlog::AgentOptions options;
  options.server = argv[1];
  options.ingest_key = argv[2];
  std::string error;
  std::unique_ptr<fieldlog::Agent> agent = fieldlog::Agent::Start(options, &error);
  if (agent == nullptr) {
    std::fprintf(stderr, "cannot start the agent: %s\n", error.c_str());
    return 1;
  }
  agent->SetUser(argc > 3 ? argv[3] : "erin@example.com");

  // The one line:
  spdlog::default_logger()->sinks().push_back(std::make_shared<fieldlog::SpdlogSink>(agent.get()));

  spdlog::info("cart has {} items", 3);
  spdlog::warn("slow response from {} after {} ms", "/api/pay", 4200);
  SPDLOG_ERROR("payment failed: {}", "timeout");

  const bool flushed = agent->Flush(std::chrono::seconds(10));
  const fieldlog::AgentStats stats = agent->stats();
  std::printf("device %s: %llu lines acknowledged\n", agent->device_id().c_str(),
              static_cast<unsigned long long>(stats.acknowledged));
  return flushed && stats.acknowledged == 3 ? 0 : 1;
}
