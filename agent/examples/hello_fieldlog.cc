// hello_fieldlog: what an app does with the fieldlog agent, in one file.
//
//   hello_fieldlog SERVER INGEST_KEY [USER]
//
// Logs a short checkout session for USER (default alice@example.com), waits
// until the collector has acknowledged every line, and prints the device id to
// look the lines up with `fieldlog logs --device`.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fieldlog/agent.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s SERVER INGEST_KEY [USER]\n", argv[0]);
    return 2;
  }
  fieldlog::AgentOptions options;
  options.server = argv[1];
  options.ingest_key = argv[2];
  options.device_attributes = {{"device.model", "Pixel 8"},
                               {"os.name", "Android"},
                               {"os.version", "14"},
                               {"app.version", "3.2.1"}};
  std::string error;
  std::unique_ptr<fieldlog::Agent> agent = fieldlog::Agent::Start(options, &error);
  if (agent == nullptr) {
    std::fprintf(stderr, "cannot start the agent: %s\n", error.c_str());
    return 1;
  }

  agent->SetUser(argc > 3 ? argv[3] : "alice@example.com");
  FIELDLOG_INFO(*agent, "App", "app started");
  FIELDLOG_DEBUG(*agent, "Cart", "cart restored", {"items", 3}, {"total", 42.5});
  FIELDLOG_INFO(*agent, "Checkout", "payment sheet opened", {"provider", "stripe"});
  FIELDLOG_WARN(*agent, "Network", "slow response from /api/pay", {"latency_ms", 4200});
  FIELDLOG_ERROR(*agent, "Checkout", "PaymentTimeout: no answer from provider after 10s",
                 {"retryable", true});

  if (!agent->Flush(std::chrono::seconds(10))) {
    std::fprintf(stderr, "not every line was acknowledged: %s\n",
                 agent->stats().last_error.c_str());
    return 1;
  }
  const fieldlog::AgentStats stats = agent->stats();
  std::printf("device %s: %llu lines acknowledged\n", agent->device_id().c_str(),
              static_cast<unsigned long long>(stats.acknowledged));
  return stats.acknowledged == stats.logged ? 0 : 1;
}
