// Interoperability (ctest label "interop"): the real OpenTelemetry JS SDK
// (@opentelemetry/sdk-logs with @opentelemetry/exporter-logs-otlp-grpc, pinned
// in tests/interop/otlp/package-lock.json and installed from npm into the
// build directory by the OtlpInteropNpmInstall fixture) sends logs to a real
// fieldlog-server process; `fieldlog logs` reads them back by device and by
// user, field by field. The SDK also sends its first batch a second time, as
// its exporter does on a retry: every record must be there exactly once.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/time_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::BinDir;
using ::fieldlog::testing::ChildProcess;
using ::fieldlog::testing::ProcessResult;
using ::fieldlog::testing::RunProcess;
using ::fieldlog::testing::StartServerProcess;
using ::fieldlog::testing::TempDir;
using nlohmann::json;

std::vector<json> JsonLines(const std::string& out) {
  std::vector<json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) lines.push_back(json::parse(line));
  return lines;
}

class OtlpInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(sdk_dir_ + "/node_modules/@opentelemetry/sdk-logs"))
        << "the OpenTelemetry JS SDK is not installed in " << sdk_dir_
        << ": run the test through ctest (its fixture installs it) or "
           "tests/interop/otlp/install.sh "
        << sdk_dir_;
    address_ = StartServerProcess(data_.path(), &server_);
    ASSERT_FALSE(address_.empty());
    std::ifstream in(data_.path() + "/admin_token");
    std::string admin_token;
    std::getline(in, admin_token);
    ProcessResult created = Fieldlog({"apps", "create", "shop", "-o", "json"}, admin_token);
    ASSERT_EQ(created.exit_code, 0) << created.err;
    const json app = json::parse(created.out);
    ingest_key_ = app["ingest_key"];
    read_token_ = app["read_token"];
  }

  ProcessResult Fieldlog(std::vector<std::string> args, const std::string& token) {
    args.insert(args.begin(), BinDir() + "/fieldlog");
    return RunProcess(args, "", {"FIELDLOG_SERVER=" + address_, "FIELDLOG_TOKEN=" + token});
  }

  // Runs send_logs.mjs for `scenario` with the credential header `headers`
  // (OTEL_EXPORTER_OTLP_HEADERS syntax) and returns its summary.
  json SendWithTheSdk(const std::string& scenario, const std::string& headers) {
    ProcessResult sent = RunProcess(
        {"/usr/bin/env", "node", sdk_dir_ + "/send_logs.mjs"}, "",
        {"FIELDLOG_OTLP_URL=http://" + address_, "FIELDLOG_SCENARIO=" + scenario,
         absl::StrCat("FIELDLOG_BASE_MS=", base_ms_), "OTEL_EXPORTER_OTLP_HEADERS=" + headers},
        std::chrono::seconds(60));
    EXPECT_EQ(sent.exit_code, 0) << sent.out << sent.err;
    std::vector<json> summary = JsonLines(sent.out);
    EXPECT_EQ(summary.size(), 1u) << sent.out << sent.err;
    return summary.empty() ? json() : summary.back();
  }

  std::vector<json> Logs(const std::string& flag, const std::string& who) {
    ProcessResult logs = Fieldlog({"logs", "--app", "shop", flag, who, "-o", "json"}, read_token_);
    EXPECT_EQ(logs.exit_code, 0) << logs.err;
    return JsonLines(logs.out);
  }

  std::string Time(int64_t offset_ms) const { return FormatRfc3339((base_ms_ + offset_ms) * 1000); }

  const std::string sdk_dir_ = FIELDLOG_OTLP_INTEROP_DIR;
  TempDir data_;
  std::unique_ptr<ChildProcess> server_;
  std::string address_, ingest_key_, read_token_;
  // The records' timestamps: a minute ago, in whole milliseconds (the JS SDK's
  // resolution).
  const int64_t base_ms_ = absl::ToUnixMillis(absl::Now()) - 60'000;
};

TEST_F(OtlpInteropTest, TheOpenTelemetryJsSdkShipsLogsThatFieldlogReadsBack) {
  const int64_t started_us = NowUnixMicros();
  // The credential both ways docs/otlp.md gives: a bearer token, URL-encoded
  // as OTEL_EXPORTER_OTLP_HEADERS wants, and fieldlog's own header.
  const json phone = SendWithTheSdk("phone", "authorization=Bearer%20" + ingest_key_);
  EXPECT_EQ(phone["failures"].size(), 0u) << phone.dump();
  EXPECT_EQ(phone["exports"], 2) << "one batch, then the same batch again";
  EXPECT_EQ(phone["records"], 12) << phone.dump();
  const json tablet = SendWithTheSdk("tablet", "x-fieldlog-key=" + ingest_key_);
  EXPECT_EQ(tablet["failures"].size(), 0u) << tablet.dump();
  const int64_t finished_us = NowUnixMicros();

  // By device: each record once, in time order, every field as sent.
  const std::vector<json> lines = Logs("--device", "install-js-1");
  ASSERT_EQ(lines.size(), 6u) << "six records, the repeated batch stored once";
  for (const json& line : lines) {
    EXPECT_EQ(line["app"], "shop");
    EXPECT_EQ(line["device_id"], "install-js-1");
    EXPECT_EQ(line["user_id"], "anna@example.com");
    EXPECT_EQ(line["attributes"]["app.version"], "4.5.6") << line.dump();
    EXPECT_EQ(line["time"], line["device_time"]) << "OTLP times are not corrected";
  }
  std::set<uint64_t> seqs;
  for (const json& line : lines) seqs.insert(line["seq"].get<uint64_t>());
  EXPECT_EQ(seqs.size(), 6u);

  EXPECT_EQ(lines[0]["device_time"], Time(0));
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["tag"], "checkout");
  EXPECT_EQ(lines[0]["session_id"], "session-js-1");
  EXPECT_EQ(lines[0]["message"], "Warenkorb geöffnet — 3 Artikel ✓ 日本語");
  EXPECT_EQ(lines[0]["attributes"]["screen"], "cart");
  EXPECT_EQ(lines[0]["attributes"]["items"], 3);
  EXPECT_EQ(lines[0]["attributes"]["total"], 59.9);
  EXPECT_EQ(lines[0]["attributes"]["logged_in"], true);
  EXPECT_EQ(lines[0]["attributes"].size(), 5u) << lines[0].dump();

  EXPECT_EQ(lines[1]["device_time"], Time(1));
  EXPECT_EQ(lines[1]["level"], "warn");
  EXPECT_EQ(lines[1]["message"], "slow network");
  EXPECT_EQ(lines[1]["attributes"]["latency_ms"], 2300);

  EXPECT_EQ(lines[2]["device_time"], Time(2));
  EXPECT_EQ(lines[2]["level"], "error");
  EXPECT_EQ(lines[2]["message"], "Zahlung fehlgeschlagen: Karte abgelehnt 💳");
  EXPECT_EQ(lines[2]["file"], "src/pay.ts");
  EXPECT_EQ(lines[2]["line"], 88);
  EXPECT_EQ(lines[2]["function"], "submitPayment");
  EXPECT_EQ(lines[2]["attributes"].size(), 1u) << "the code.* attributes became columns";

  EXPECT_EQ(lines[3]["device_time"], Time(3));
  EXPECT_EQ(lines[3]["level"], "debug");
  EXPECT_EQ(lines[3]["message"], R"({"event":"tap","target":"Pay"})") << "a map body, as JSON";

  EXPECT_EQ(lines[4]["device_time"], Time(4));
  EXPECT_EQ(lines[4]["level"], "fatal");
  EXPECT_EQ(lines[4]["message"], "app will close");
  EXPECT_EQ(lines[4]["session_id"], "session-js-2") << "the record's session.id wins";

  EXPECT_EQ(lines[5]["device_time"], Time(5));
  EXPECT_EQ(lines[5]["level"], "info");
  EXPECT_EQ(lines[5]["tag"], "network");
  EXPECT_EQ(lines[5]["message"], "retrying request");
  EXPECT_EQ(lines[5]["attributes"]["otel.severity_number"], 10) << "INFO2 is kept exactly";
  EXPECT_EQ(lines[5]["attributes"]["otel.severity_text"], "notice");

  // By user: both of Anna's devices, merged in time order.
  const std::vector<json> anna = Logs("--user", "anna@example.com");
  ASSERT_EQ(anna.size(), 8u);
  EXPECT_EQ(anna[6]["device_id"], "tablet-js-2");
  EXPECT_EQ(anna[6]["message"], "tablet says hi");
  EXPECT_EQ(anna[6]["device_time"], Time(10));
  EXPECT_EQ(anna[6]["level"], "info");
  EXPECT_EQ(anna[6]["session_id"], "");
  EXPECT_EQ(anna[7]["device_id"], "tablet-js-2");
  EXPECT_EQ(anna[7]["message"], "stamped by the SDK");
  EXPECT_EQ(anna[7]["level"], "trace");
  // The SDK stamped it while the test ran (at millisecond resolution).
  absl::StatusOr<int64_t> stamped = ParseRfc3339(anna[7]["device_time"].get<std::string>());
  ASSERT_TRUE(stamped.ok()) << stamped.status();
  EXPECT_GE(*stamped, started_us - 1000);
  EXPECT_LE(*stamped, finished_us);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(anna[i], lines[i]) << i;
}

}  // namespace
}  // namespace fieldlog
