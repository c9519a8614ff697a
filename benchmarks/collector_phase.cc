#include "benchmarks/collector_phase.h"

#include <filesystem>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmarks/proc_stats.h"
#include "benchmarks/server_process.h"

namespace fieldlog::bench {

absl::StatusOr<CollectorRun> RunCollectorPhase(const std::vector<StreamPlan>& plans,
                                               const CollectorPhaseOptions& options) {
  std::error_code ignored;
  std::filesystem::remove_all(options.data_dir, ignored);
  std::vector<std::string> flags = {"--sync", options.sync};
  flags.insert(flags.end(), options.server_args.begin(), options.server_args.end());
  absl::StatusOr<std::unique_ptr<ServerUnderTest>> server =
      ServerUnderTest::Spawn(options.server_binary, options.data_dir, flags);
  if (!server.ok()) return server.status();
  absl::StatusOr<AppCredentials> app =
      (*server)->CreateApp(absl::StrCat("collector-", options.sync));
  if (!app.ok()) return app.status();

  StreamRunOptions streams = options.streams;
  streams.address = (*server)->address();
  streams.ingest_key = app->ingest_key;
  const std::optional<ProcessUsage> before = ReadProcessUsage((*server)->pid());
  absl::StatusOr<StreamRunResult> result = RunStreams(plans, streams);
  const std::optional<ProcessUsage> after = ReadProcessUsage((*server)->pid());
  const absl::Status stopped = (*server)->Stop();
  server->reset();
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat("--sync ", options.sync, ": ", result.status().message(),
                                     " (server log: ", options.data_dir, "/server.log)"));
  }
  if (!stopped.ok()) return stopped;
  std::filesystem::remove_all(options.data_dir, ignored);

  uint64_t planned = 0;
  for (const StreamPlan& plan : plans) planned += plan.entries;
  if (result->acked_entries != planned || result->rejected_entries != 0) {
    return absl::DataLossError(absl::StrCat("--sync ", options.sync, ": ", result->acked_entries,
                                            " of ", planned, " entries acknowledged, ",
                                            result->rejected_entries, " rejected"));
  }
  CollectorRun run;
  run.lines = result->acked_entries;
  run.wire_bytes = result->acked_bytes;
  run.elapsed = result->elapsed;
  run.client_cpu_seconds = result->client_cpu_seconds;
  if (before && after) {
    run.server_cpu_seconds = absl::ToDoubleSeconds(after->cpu - before->cpu);
    run.server_peak_rss_bytes = after->peak_rss_bytes;
  }
  return run;
}

}  // namespace fieldlog::bench
