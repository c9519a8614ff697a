// The CI smoke runs of fieldlog-bench and agent_bench --offline.
// fieldlog-bench: a tiny fleet through the real binary (server, bench
// workers, agents, parse-and-ack reference, key-per-line ceiling,
// compaction, queries) must finish, exit 0 and write a valid report carrying
// the figures CI and dashboards read, and --compare must exit as documented.
// agent_bench --offline must report eviction and a bounded spool at the cap.
// They assert that figures exist and are measured, never how fast anything
// was: timing on shared 2-core machines is the benchmark's business, not the
// test suite's.
#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::BinDir;
using ::fieldlog::testing::ProcessResult;
using ::fieldlog::testing::RunProcess;
using ::fieldlog::testing::TempDir;

std::string Bench() { return BinDir() + "/fieldlog-bench"; }

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

void WriteJson(const std::string& path, const nlohmann::json& json) {
  std::ofstream(path) << json.dump(2);
}

constexpr int kLinesPerDevice = 1500;

class BenchSmokeTest : public ::testing::Test {
 protected:
  // One small run serves every test of the suite.
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    report_path_ = new std::string(dir_->path() + "/report.json");
    // 18,000 lines: enough for the server's CPU to span several clock ticks
    // (/proc counts 10 ms ticks; at 300 lines a device the ingest's CPU could
    // read as zero).
    result_ = new ProcessResult(
        RunProcess({Bench(), "--devices", "12", "--lines-per-device",
                    std::to_string(kLinesPerDevice), "--steady-lines", "60", "--workers", "2",
                    "--query-repeats", "3", "--progress", "never", "--json", *report_path_},
                   "", {}, std::chrono::seconds(180)));
  }
  static void TearDownTestSuite() {
    delete result_;
    delete report_path_;
    delete dir_;
  }

  static TempDir* dir_;
  static std::string* report_path_;
  static ProcessResult* result_;
};

TempDir* BenchSmokeTest::dir_ = nullptr;
std::string* BenchSmokeTest::report_path_ = nullptr;
ProcessResult* BenchSmokeTest::result_ = nullptr;

TEST_F(BenchSmokeTest, RunsEveryPhaseAndPrintsTheTable) {
  ASSERT_EQ(result_->exit_code, 0) << result_->out << result_->err;
  for (const char* section :
       {"reference.", "ceiling.", "collector.", "ingest.", "storage.", "query."}) {
    EXPECT_NE(result_->out.find(section), std::string::npos) << section << "\n" << result_->out;
  }
  // No progress bar when asked for none (and ctest's output is no terminal).
  EXPECT_EQ(result_->err.find("\r"), std::string::npos);
}

TEST_F(BenchSmokeTest, JsonCarriesTheNamedFiguresWithUnitsAndConditions) {
  ASSERT_EQ(result_->exit_code, 0) << result_->err;
  const nlohmann::json report = ReadJson(*report_path_);
  ASSERT_TRUE(report.is_object()) << "not JSON: " << *report_path_;
  EXPECT_EQ(report.value("format", ""), "fieldlog-bench/1");

  const nlohmann::json& conditions = report["conditions"];
  EXPECT_TRUE(conditions["commit"].is_string());
  EXPECT_GE(conditions.value("cores", 0), 1);
  EXPECT_EQ(conditions["options"].value("devices", 0), 12);
  EXPECT_EQ(conditions["options"].value("lines_per_device", 0), kLinesPerDevice);
  EXPECT_TRUE(conditions["problems"].empty()) << conditions["problems"].dump();

  const nlohmann::json& figures = report["figures"];
  for (const char* name :
       {"ingest.lines_per_sec", "ingest.ratio_to_key_per_line", "ingest.ratio_to_parse_ack",
        "ingest.server_cpu_us_per_line", "storage.bytes_per_line", "query.user_page_p99_ms",
        "query.device_day_lines_per_sec", "ingest.ack_latency_p99_ms", "ingest.server_peak_rss_mb",
        "reference.parse_ack_entries_per_sec", "ceiling.key_per_line_lines_per_sec",
        "collector.none.lines_per_sec", "collector.batch.mb_per_sec",
        "collector.interval.ratio_to_key_per_line", "collector.interval.ratio_to_parse_ack",
        "collector.interval.wire_mb_per_sec"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(figures.contains(name));
    const nlohmann::json& f = figures[name];
    ASSERT_TRUE(f["value"].is_number());
    // Measured, whatever the speed: a zero would mean a phase did not run.
    EXPECT_GT(f["value"].get<double>(), 0);
    EXPECT_TRUE(std::isfinite(f["value"].get<double>()));
    EXPECT_FALSE(f.value("unit", "").empty());
    EXPECT_TRUE(f["better"] == "higher" || f["better"] == "lower");
  }
  EXPECT_EQ(figures["ingest.ratio_to_key_per_line"]["gate"], "ratio");
  EXPECT_EQ(figures["storage.bytes_per_line"]["gate"], "size");
  EXPECT_EQ(figures["ingest.lines_per_sec"]["gate"], "absolute");
  // The collector phase ran once per sync policy, in the order asked for.
  EXPECT_EQ(conditions["options"]["collector_sync"],
            nlohmann::json::array({"none", "batch", "interval"}));
}

TEST_F(BenchSmokeTest, CompareExitsNonZeroOnlyPastTheToleranceOfGatedFigures) {
  ASSERT_EQ(result_->exit_code, 0) << result_->err;
  const std::string& run = *report_path_;
  ProcessResult same = RunProcess({Bench(), "--from-json", run, "--compare", run});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_NE(same.out.find("no gated regression"), std::string::npos) << same.out;

  // A baseline whose same-run ratio was twice as good: this run regressed.
  nlohmann::json better = ReadJson(run);
  better["figures"]["ingest.ratio_to_key_per_line"]["value"] =
      better["figures"]["ingest.ratio_to_key_per_line"]["value"].get<double>() * 2;
  const std::string better_path = dir_->path() + "/better-ratio.json";
  WriteJson(better_path, better);
  ProcessResult regressed = RunProcess({Bench(), "--from-json", run, "--compare", better_path});
  EXPECT_EQ(regressed.exit_code, 1) << regressed.out << regressed.err;
  EXPECT_NE(regressed.out.find("REGRESSION: ingest.ratio_to_key_per_line"), std::string::npos)
      << regressed.out;
  // The baseline figure's own tolerance wins over the default...
  better["figures"]["ingest.ratio_to_key_per_line"]["tolerance"] = 0.6;
  const std::string tolerant_path = dir_->path() + "/better-ratio-tolerant.json";
  WriteJson(tolerant_path, better);
  ProcessResult tolerant = RunProcess({Bench(), "--from-json", run, "--compare", tolerant_path});
  EXPECT_EQ(tolerant.exit_code, 0) << tolerant.out;

  // ...and --tolerance sets the default for figures without one: a size
  // that doubled fails at 25% and passes at 150%.
  nlohmann::json smaller = ReadJson(run);
  nlohmann::json& size = smaller["figures"]["ceiling.key_per_line_bytes_per_line"];
  ASSERT_FALSE(size.contains("tolerance"));
  size["value"] = size["value"].get<double>() / 2;
  const std::string smaller_path = dir_->path() + "/smaller.json";
  WriteJson(smaller_path, smaller);
  EXPECT_EQ(RunProcess({Bench(), "--from-json", run, "--compare", smaller_path}).exit_code, 1);
  EXPECT_EQ(
      RunProcess({Bench(), "--from-json", run, "--compare", smaller_path, "--tolerance", "1.5"})
          .exit_code,
      0);

  // An absolute rate ten times higher in the baseline only informs...
  nlohmann::json faster = ReadJson(run);
  faster["figures"]["ingest.lines_per_sec"]["value"] =
      faster["figures"]["ingest.lines_per_sec"]["value"].get<double>() * 10;
  const std::string faster_path = dir_->path() + "/faster.json";
  WriteJson(faster_path, faster);
  EXPECT_EQ(RunProcess({Bench(), "--from-json", run, "--compare", faster_path}).exit_code, 0);
  // ...unless every figure gates.
  EXPECT_EQ(RunProcess({Bench(), "--from-json", run, "--compare", faster_path, "--gate", "all"})
                .exit_code,
            1);
}

// agent_bench --offline, shortened: an agent without a collector below and
// at its 8 MiB spool cap. It prints one JSON object per cap; at the cap the
// spool evicted, dropped nothing from the queue, stayed under the cap, and
// its GAP-only files were folded (about ten files, not one per eviction).
TEST(AgentBenchSmokeTest, OfflineRunReportsEvictionAndABoundedSpool) {
  const ProcessResult run = RunProcess({BinDir() + "/agent_bench", "--offline", "100000"}, "", {},
                                       std::chrono::seconds(240));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::vector<nlohmann::json> reports;
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("offline")) reports.push_back(j["offline"]);
  }
  ASSERT_EQ(reports.size(), 2u) << run.out;
  const nlohmann::json& below = reports[0];
  const nlohmann::json& at_cap = reports[1];
  EXPECT_EQ(below["spool_cap_mib"], 256);
  EXPECT_EQ(below["evicted"], 0) << "120,000 lines fit 256 MiB";
  EXPECT_GT(below["cpu_ns_per_line"].get<double>(), 0);
  EXPECT_EQ(at_cap["spool_cap_mib"], 8);
  EXPECT_GT(at_cap["evicted"].get<uint64_t>(), 0u);
  EXPECT_EQ(at_cap["dropped"], 0);
  EXPECT_LE(at_cap["spool_mib"].get<double>(), 8.0);
  EXPECT_LE(at_cap["spool_files"].get<uint64_t>(), 12u);
}

TEST(BenchFlagsTest, BadFlagsAndFilesExitTwo) {
  EXPECT_EQ(RunProcess({Bench(), "--devices", "0"}).exit_code, 2);
  EXPECT_EQ(RunProcess({Bench(), "--no-such-flag"}).exit_code, 2);
  EXPECT_EQ(RunProcess({Bench(), "--from-json", "/nonexistent.json"}).exit_code, 2);
  TempDir dir;
  const std::string garbage = dir.path() + "/garbage.json";
  std::ofstream(garbage) << "{\"format\": \"something else\"}";
  EXPECT_EQ(RunProcess({Bench(), "--from-json", garbage}).exit_code, 2);
}

}  // namespace
}  // namespace fieldlog
