// The README's tour with real processes: fieldlog-server, the fieldlog CLI and
// the example app, including a kill -9 of the server.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

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

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    address_ = StartServerProcess(dir_.path(), &server_);
    ASSERT_FALSE(address_.empty());
    std::ifstream in(dir_.path() + "/admin_token");
    std::getline(in, admin_token_);
    ASSERT_FALSE(admin_token_.empty());
    ProcessResult created = Fieldlog({"apps", "create", "shop", "-o", "json"}, admin_token_);
    ASSERT_EQ(created.exit_code, 0) << created.err;
    nlohmann::json app = nlohmann::json::parse(created.out);
    ingest_key_ = app["ingest_key"];
    read_token_ = app["read_token"];
    EXPECT_EQ(app["app"], "shop");
    EXPECT_TRUE(ingest_key_.starts_with("fl_ik_"));
    EXPECT_TRUE(read_token_.starts_with("fl_rt_"));
  }

  ProcessResult Fieldlog(std::vector<std::string> args, const std::string& token = "",
                         const std::string& input = "") {
    args.insert(args.begin(), BinDir() + "/fieldlog");
    std::vector<std::string> env = {"FIELDLOG_SERVER=" + address_};
    if (!token.empty()) env.push_back("FIELDLOG_TOKEN=" + token);
    return RunProcess(args, input, env);
  }

  std::vector<nlohmann::json> JsonLines(const std::string& out) {
    std::vector<nlohmann::json> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
    return lines;
  }

  TempDir dir_;
  std::unique_ptr<ChildProcess> server_;
  std::string address_, admin_token_, ingest_key_, read_token_;
};

TEST_F(CliTest, SendThenReadByUserAndByDevice) {
  ProcessResult sent = Fieldlog({"send", "--key", ingest_key_, "--device", "phone-1", "--user",
                                 "alice@example.com", "--tag", "Checkout"},
                                "", "tapped pay\npayment sheet opened\n");
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_NE(sent.err.find("2 of 2 lines acknowledged"), std::string::npos) << sent.err;

  const std::string an_hour_ago = FormatRfc3339(NowUnixMicros() - 3600LL * 1'000'000);
  const std::string jsonl =
      R"({"level":"error","tag":"Payment","message":"PaymentTimeout after 10s","attributes":{"order":42,"retry":true,"provider":"stripe"}})"
      "\n"
      R"({"time":")" +
      an_hour_ago +
      R"(","message":"logged an hour ago"})"
      "\n";
  sent = Fieldlog({"send", "--key", ingest_key_, "--device", "laptop-7", "--user",
                   "alice@example.com", "--format", "jsonl"},
                  "", jsonl);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  ProcessResult by_user =
      Fieldlog({"logs", "--app", "shop", "--user", "alice@example.com", "-o", "json"}, read_token_);
  ASSERT_EQ(by_user.exit_code, 0) << by_user.err;
  std::vector<nlohmann::json> lines = JsonLines(by_user.out);
  ASSERT_EQ(lines.size(), 4u);
  // Oldest first: the line stamped an hour ago leads.
  EXPECT_EQ(lines[0]["message"], "logged an hour ago");
  EXPECT_EQ(lines[0]["device_time"], an_hour_ago);
  EXPECT_EQ(lines[1]["message"], "tapped pay");
  EXPECT_EQ(lines[1]["device_id"], "phone-1");
  EXPECT_EQ(lines[1]["tag"], "Checkout");
  EXPECT_EQ(lines[1]["seq"], 1);
  for (const char* field : {"app", "device_id", "user_id", "session_id", "seq", "time",
                            "device_time", "level", "tag", "message", "attributes"}) {
    EXPECT_TRUE(lines[0].contains(field)) << field;
  }
  const auto timeout = std::find_if(lines.begin(), lines.end(), [](const nlohmann::json& l) {
    return l["message"] == "PaymentTimeout after 10s";
  });
  ASSERT_NE(timeout, lines.end());
  EXPECT_EQ((*timeout)["level"], "error");
  EXPECT_EQ((*timeout)["attributes"]["order"], 42);
  EXPECT_EQ((*timeout)["attributes"]["retry"], true);
  EXPECT_EQ((*timeout)["attributes"]["provider"], "stripe");

  ProcessResult by_device =
      Fieldlog({"logs", "--app", "shop", "--device", "phone-1", "-o", "json"}, read_token_);
  EXPECT_EQ(JsonLines(by_device.out).size(), 2u);

  ProcessResult errors = Fieldlog({"logs", "--app", "shop", "--user", "alice@example.com",
                                   "--level", "warn", "--grep", "paymenttimeout"},
                                  read_token_);
  ASSERT_EQ(errors.exit_code, 0);
  EXPECT_NE(errors.out.find("ERROR Payment [laptop-7 alice@example.com] PaymentTimeout after 10s"),
            std::string::npos)
      << errors.out;
  EXPECT_EQ(errors.out.find("tapped pay"), std::string::npos);
  EXPECT_EQ(errors.out.find("\x1b["), std::string::npos) << "no colours in a pipe";

  ProcessResult devices = Fieldlog(
      {"devices", "--app", "shop", "--user", "alice@example.com", "-o", "json"}, read_token_);
  ASSERT_EQ(devices.exit_code, 0);
  std::vector<nlohmann::json> device_lines = JsonLines(devices.out);
  ASSERT_EQ(device_lines.size(), 2u);
  EXPECT_EQ(device_lines[0]["device_id"], "laptop-7");
  EXPECT_EQ(device_lines[1]["device_id"], "phone-1");
  EXPECT_EQ(device_lines[1]["lines"], 2);
}

TEST_F(CliTest, ExitCodesTellScriptsWhatWentWrong) {
  ProcessResult r = Fieldlog({"send", "--key", "fl_ik_wrong", "--device", "d"}, "", "x\n");
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("unknown or revoked ingest key"), std::string::npos) << r.err;

  r = Fieldlog({"send", "--key", read_token_, "--device", "d"}, "", "x\n");
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("cannot ingest"), std::string::npos) << r.err;

  r = Fieldlog({"logs", "--app", "shop", "--user", "alice"}, ingest_key_);
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("an ingest key cannot read logs"), std::string::npos);

  r = Fieldlog({"logs", "--app", "nope", "--user", "alice"}, admin_token_);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("no app 'nope'"), std::string::npos);

  r = Fieldlog({"logs", "--app", "shop"}, read_token_);
  EXPECT_EQ(r.exit_code, 2);
  r = Fieldlog({"logs", "--app", "shop", "--user", "a", "--since", "yesterday"}, read_token_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a duration"), std::string::npos);
  r = Fieldlog({"apps", "create", "Bad Name"}, admin_token_);
  EXPECT_EQ(r.exit_code, 2);
  r = Fieldlog({"apps", "create", "x"}, read_token_);
  EXPECT_EQ(r.exit_code, 4);

  r = Fieldlog({"send", "--key", ingest_key_, "--device", "d", "--format", "jsonl"}, "",
               "{\"message\":\"ok\"}\nnot json\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("stdin line 2: not a JSON object"), std::string::npos);
  EXPECT_NE(r.err.find("1 of 1 lines acknowledged"), std::string::npos);

  r = RunProcess({BinDir() + "/fieldlog", "--server", "127.0.0.1:1", "--token", "x", "logs",
                  "--app", "shop", "--user", "alice"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is fieldlog-server running"), std::string::npos) << r.err;
}

TEST_F(CliTest, AcknowledgedLinesSurviveKillDashNineOfTheServer) {
  std::string input;
  for (int i = 0; i < 5000; ++i) input += "line " + std::to_string(i) + "\n";
  ProcessResult sent =
      Fieldlog({"send", "--key", ingest_key_, "--device", "d1", "--user", "bob"}, "", input);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;

  const int status = server_->Kill(SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status));
  address_ = StartServerProcess(dir_.path(), &server_);
  ASSERT_FALSE(address_.empty());

  ProcessResult read = Fieldlog(
      {"logs", "--app", "shop", "--device", "d1", "--limit", "0", "-o", "json"}, read_token_);
  ASSERT_EQ(read.exit_code, 0) << read.err;
  std::vector<nlohmann::json> lines = JsonLines(read.out);
  ASSERT_EQ(lines.size(), 5000u);
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(lines[i]["message"], "line " + std::to_string(i));
    ASSERT_EQ(lines[i]["seq"], i + 1);
  }
  // A second send on the same device continues after the stored lines.
  sent = Fieldlog({"send", "--key", ingest_key_, "--device", "d1"}, "", "after restart\n");
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  read = Fieldlog({"logs", "--app", "shop", "--device", "d1", "-r", "--limit", "1", "-o", "json"},
                  read_token_);
  lines = JsonLines(read.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["seq"], 5001);
  EXPECT_EQ(lines[0]["message"], "after restart");
}

TEST_F(CliTest, TheExampleAppLinksTheAgentAndShips) {
  ProcessResult example =
      RunProcess({BinDir() + "/hello_fieldlog", address_, ingest_key_, "carol@example.com"});
  ASSERT_EQ(example.exit_code, 0) << example.err;
  EXPECT_NE(example.out.find("5 lines acknowledged"), std::string::npos);
  ProcessResult read =
      Fieldlog({"logs", "--app", "shop", "--user", "carol@example.com", "-o", "json"}, read_token_);
  std::vector<nlohmann::json> lines = JsonLines(read.out);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[4]["level"], "error");
  EXPECT_EQ(lines[4]["attributes"]["retryable"], true);
  ProcessResult devices =
      Fieldlog({"devices", "--app", "shop", "--user", "carol@example.com"}, read_token_);
  EXPECT_NE(devices.out.find("device.model=Pixel 8"), std::string::npos) << devices.out;
}

TEST_F(CliTest, HelpShowsCommandsExamplesAndExitCodes) {
  ProcessResult help = Fieldlog({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* text : {"apps", "send", "logs", "devices", "Exit codes", "Examples"}) {
    EXPECT_NE(help.out.find(text), std::string::npos) << text;
  }
  ProcessResult logs_help = Fieldlog({"logs", "--help"});
  EXPECT_NE(logs_help.out.find("--since"), std::string::npos);
  EXPECT_NE(logs_help.out.find("Examples"), std::string::npos);
}

TEST_F(CliTest, ExportThenEraseAUser) {
  ASSERT_EQ(Fieldlog({"send", "--key", ingest_key_, "--device", "phone", "--user", "alice"}, "",
                     "a1\na2\na3\n")
                .exit_code,
            0);
  ASSERT_EQ(
      Fieldlog({"send", "--key", ingest_key_, "--device", "phone", "--user", "bob"}, "", "b1\n")
          .exit_code,
      0);
  ProcessResult exported = Fieldlog({"export", "--app", "shop", "--user", "alice"}, read_token_);
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::vector<nlohmann::json> records = JsonLines(exported.out);
  ASSERT_EQ(records.size(), 4u);  // the device, then three lines
  EXPECT_EQ(records[0]["type"], "device");
  EXPECT_EQ(records[0]["device_id"], "phone");
  EXPECT_EQ(records[1]["type"], "line");
  EXPECT_EQ(records[3]["message"], "a3");

  ProcessResult refused =
      Fieldlog({"erase-user", "--app", "shop", "--user", "alice"}, admin_token_);
  EXPECT_EQ(refused.exit_code, 2) << "no --yes and no terminal: refuse";
  EXPECT_EQ(
      Fieldlog({"erase-user", "--app", "shop", "--user", "alice", "--yes"}, read_token_).exit_code,
      4);
  ProcessResult erased = Fieldlog(
      {"erase-user", "--app", "shop", "--user", "alice", "--yes", "-o", "json"}, admin_token_);
  ASSERT_EQ(erased.exit_code, 0) << erased.err;
  EXPECT_EQ(nlohmann::json::parse(erased.out)["lines"], 3);

  EXPECT_EQ(Fieldlog({"export", "--app", "shop", "--user", "alice"}, read_token_).exit_code, 3);
  ProcessResult bob =
      Fieldlog({"logs", "--app", "shop", "--device", "phone", "-o", "json"}, read_token_);
  std::vector<nlohmann::json> left = JsonLines(bob.out);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["message"], "b1");
}

TEST_F(CliTest, KeysRotateFromTheCommandLine) {
  ProcessResult created =
      Fieldlog({"keys", "create", "--app", "shop", "--kind", "ingest", "-o", "json"}, admin_token_);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const nlohmann::json key = nlohmann::json::parse(created.out);
  const std::string new_key = key["secret"];
  ASSERT_EQ(Fieldlog({"send", "--key", new_key, "--device", "d"}, "", "x\n").exit_code, 0);

  ProcessResult listed = Fieldlog({"keys", "list", "--app", "shop", "-o", "json"}, admin_token_);
  std::string old_id;
  for (const nlohmann::json& k : JsonLines(listed.out)) {
    EXPECT_EQ(listed.out.find(ingest_key_), std::string::npos) << "never a secret in a listing";
    if (k["kind"] == "ingest" && k["key_id"] != key["key_id"]) old_id = k["key_id"];
  }
  ASSERT_FALSE(old_id.empty());
  ASSERT_EQ(Fieldlog({"keys", "revoke", "--app", "shop", old_id}, admin_token_).exit_code, 0);
  EXPECT_EQ(Fieldlog({"send", "--key", ingest_key_, "--device", "d"}, "", "y\n").exit_code, 4);
  EXPECT_EQ(Fieldlog({"send", "--key", new_key, "--device", "d"}, "", "z\n").exit_code, 0);

  ProcessResult set =
      Fieldlog({"apps", "set", "shop", "--device-rate", "250", "--retention", "14d", "-o", "json"},
               admin_token_);
  ASSERT_EQ(set.exit_code, 0) << set.err;
  const nlohmann::json app = nlohmann::json::parse(set.out);
  EXPECT_EQ(app["device_lines_per_second"], 250);
  EXPECT_EQ(app["retention_days"], 14);
  EXPECT_EQ(Fieldlog({"apps", "set", "shop", "--retention", "36h"}, admin_token_).exit_code, 2);
}

TEST_F(CliTest, BackupWhileServingAndRestore) {
  ASSERT_EQ(Fieldlog({"send", "--key", ingest_key_, "--device", "d1"}, "", "kept\n").exit_code, 0);
  const std::string checkpoint = dir_.path() + "/backup-1";
  ProcessResult backup = Fieldlog({"backup", "--to", checkpoint}, admin_token_);
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  EXPECT_NE(backup.out.find("written to " + checkpoint), std::string::npos);
  EXPECT_EQ(Fieldlog({"backup", "--to", checkpoint}, admin_token_).exit_code, 2) << "exists";
  ASSERT_EQ(Fieldlog({"send", "--key", ingest_key_, "--device", "d1"}, "", "after\n").exit_code, 0);

  // Restore into a fresh data directory: the checkpoint becomes its db.
  TempDir restored;
  std::filesystem::rename(checkpoint, restored.path() + "/db");
  std::filesystem::copy_file(dir_.path() + "/admin_token", restored.path() + "/admin_token");
  std::unique_ptr<ChildProcess> second;
  const std::string address = StartServerProcess(restored.path(), &second);
  ASSERT_FALSE(address.empty());
  ProcessResult read =
      RunProcess({BinDir() + "/fieldlog", "--server", address, "--token", read_token_, "logs",
                  "--app", "shop", "--device", "d1", "-o", "json"});
  std::vector<nlohmann::json> lines = JsonLines(read.out);
  ASSERT_EQ(lines.size(), 1u) << read.err;
  EXPECT_EQ(lines[0]["message"], "kept");
}

TEST_F(CliTest, SupportCommandsAnswerWithWhatWasSent) {
  const std::string jsonl =
      R"({"level":"error","tag":"Checkout","message":"PaymentTimeout after 10s","attributes":{"app.version":"3.2.1"}})"
      "\n"
      R"({"level":"info","tag":"UI","message":"tap pay"})"
      "\n";
  ASSERT_EQ(Fieldlog({"send", "--key", ingest_key_, "--device", "phone", "--user",
                      "alice@example.com", "--format", "jsonl"},
                     "", jsonl)
                .exit_code,
            0);
  ASSERT_EQ(Fieldlog({"send", "--key", ingest_key_, "--device", "tablet", "--user",
                      "bob@example.com", "--level", "error", "--tag", "Checkout"},
                     "", "PaymentTimeout on tablet\n")
                .exit_code,
            0);

  // A typo in the e-mail: exit 3 and a suggestion.
  ProcessResult typo =
      Fieldlog({"logs", "--app", "shop", "--user", "alice@exampel.com"}, read_token_);
  EXPECT_EQ(typo.exit_code, 3);
  EXPECT_NE(typo.err.find("no user 'alice@exampel.com' in app shop; users starting with 'alice': "
                          "alice@example.com"),
            std::string::npos)
      << typo.err;

  ProcessResult by_attr =
      Fieldlog({"logs", "--app", "shop", "--user", "alice@example.com", "--attr",
                "app.version=3.2.1", "--regex", "Payment(Timeout)", "-o", "json"},
               read_token_);
  ASSERT_EQ(JsonLines(by_attr.out).size(), 1u) << by_attr.err;

  ProcessResult users = Fieldlog({"users", "--app", "shop", "ali", "-o", "json"}, read_token_);
  ASSERT_EQ(users.exit_code, 0);
  ASSERT_EQ(JsonLines(users.out).size(), 1u);
  EXPECT_EQ(JsonLines(users.out)[0]["user_id"], "alice@example.com");

  ProcessResult device =
      Fieldlog({"devices", "--app", "shop", "--device", "phone", "-o", "json"}, read_token_);
  ASSERT_EQ(device.exit_code, 0) << device.err;
  const nlohmann::json details = nlohmann::json::parse(device.out);
  EXPECT_EQ(details["lines"], 2);
  EXPECT_EQ(details["users"][0]["user_id"], "alice@example.com");

  ProcessResult affected = Fieldlog(
      {"affected", "--app", "shop", "--grep", "paymenttimeout", "--since", "1h", "-o", "json"},
      read_token_);
  ASSERT_EQ(affected.exit_code, 0) << affected.err;
  const nlohmann::json who = nlohmann::json::parse(affected.out);
  EXPECT_EQ(who["matching_lines"], 2);
  EXPECT_EQ(who["users"], 2);
  EXPECT_EQ(who["devices"], 2);

  ProcessResult stats =
      Fieldlog({"stats", "--app", "shop", "--since", "1h", "-o", "json"}, read_token_);
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const nlohmann::json counts = nlohmann::json::parse(stats.out);
  EXPECT_EQ(counts["levels"]["error"], 2);
  EXPECT_EQ(counts["levels"]["info"], 1);
  EXPECT_EQ(counts["tags"][0]["tag"], "Checkout");
  EXPECT_EQ(counts["tags"][0]["errors"], 2);
  ProcessResult readable = Fieldlog({"stats", "--app", "shop", "--since", "1h"}, read_token_);
  EXPECT_NE(readable.out.find("Checkout"), std::string::npos) << readable.out;

  ProcessResult audit = Fieldlog({"audit", "--app", "shop", "-o", "json"}, admin_token_);
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  std::set<std::string> actions;
  for (const nlohmann::json& e : JsonLines(audit.out)) actions.insert(e["action"]);
  for (const char* action : {"search", "devices", "users", "device", "affected", "stats"}) {
    EXPECT_TRUE(actions.count(action)) << action;
  }
  EXPECT_EQ(Fieldlog({"audit", "--app", "shop"}, read_token_).exit_code, 4);
}

TEST_F(CliTest, TailPrintsNewLinesAsTheyArrive) {
  ASSERT_EQ(
      Fieldlog({"send", "--key", ingest_key_, "--device", "d1", "--user", "carol"}, "", "before\n")
          .exit_code,
      0);
  const std::string out_path = dir_.path() + "/tail.out";
  ChildProcess tail({BinDir() + "/fieldlog", "--server", address_, "--token", read_token_, "tail",
                     "--app", "shop", "--user", "carol", "-o", "json"},
                    out_path);
  const auto read_out = [&] {
    std::ifstream in(out_path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  for (int i = 0; i < 100 && read_out().find("before") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_NE(read_out().find("before"), std::string::npos) << "the backlog comes first";
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_EQ(Fieldlog({"send", "--key", ingest_key_, "--device", "d1", "--user", "carol"}, "",
                     "live one\n")
                .exit_code,
            0);
  while (read_out().find("live one") == std::string::npos &&
         std::chrono::steady_clock::now() - sent < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(read_out().find("live one"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - sent, std::chrono::seconds(2));
  tail.Kill(SIGTERM);
}

TEST_F(CliTest, AConfigFileHoldsServerAndToken) {
  const std::string config = dir_.path() + "/config.json";
  std::ofstream(config) << R"({"server": ")" << address_ << R"(", "token": ")" << read_token_
                        << R"("})";
  ASSERT_EQ(Fieldlog({"send", "--key", ingest_key_, "--device", "d1", "--user", "dave"}, "", "hi\n")
                .exit_code,
            0);
  ProcessResult read =
      RunProcess({BinDir() + "/fieldlog", "logs", "--app", "shop", "--user", "dave", "-o", "json"},
                 "", {"FIELDLOG_CONFIG=" + config, "HOME=/nonexistent"});
  ASSERT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(JsonLines(read.out).size(), 1u);
  std::ofstream(config) << "not json";
  EXPECT_EQ(RunProcess({BinDir() + "/fieldlog", "logs", "--app", "shop", "--user", "dave"}, "",
                       {"FIELDLOG_CONFIG=" + config})
                .exit_code,
            2);
}

}  // namespace
}  // namespace fieldlog
