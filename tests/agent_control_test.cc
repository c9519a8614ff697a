// The agent against a fake collector (tests/testing/agent_fake_collector.h):
// throttling with grpc-retry-pushback-ms, Control messages (upload level,
// debug for a while, flush now), gzip, TLS with a custom CA, the seq base of
// a fixed device id, SendIssue/SendFeedback links, consent states, session
// and device attributes, redaction and the PII scrubber.
#include <filesystem>
#include <thread>

#include "absl/time/clock.h"
#include "fieldlog/agent.h"
#include "gtest/gtest.h"
#include "tests/testing/agent_fake_collector.h"
#include "tests/testing/agent_tls.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::FakeCollector;
using ::fieldlog::testing::ReceivedEntry;
using ::fieldlog::testing::TempDir;

AgentOptions Options(const std::string& server, const std::string& storage_dir) {
  AgentOptions options;
  options.server = server;
  options.ingest_key = "fl_ik_test";
  options.storage_dir = storage_dir;
  options.batch_max_age = std::chrono::milliseconds(20);
  options.flush_interval = std::chrono::milliseconds(20);
  options.initial_backoff = std::chrono::milliseconds(10);
  options.max_backoff = std::chrono::milliseconds(50);
  options.spool_fsync = false;
  return options;
}

std::unique_ptr<Agent> StartAgent(const AgentOptions& options) {
  std::string error;
  auto agent = Agent::Start(options, &error);
  EXPECT_NE(agent, nullptr) << error;
  return agent;
}

std::vector<std::string> Messages(const std::vector<ReceivedEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.entry.message());
  return out;
}

TEST(AgentControlTest, AThrottlingServerIsObeyedNotHammered) {
  FakeCollector fake;
  fake.Throttle(1, grpc::StatusCode::RESOURCE_EXHAUSTED, 400);
  TempDir dir;
  auto agent = StartAgent(Options(fake.address(), dir.path()));
  agent->Log(Level::kInfo, "T", "after the wait");
  ASSERT_TRUE(fake.WaitForEntries(1, std::chrono::seconds(10)));
  std::vector<std::chrono::steady_clock::time_point> starts = fake.stream_starts();
  ASSERT_GE(starts.size(), 2u);
  const auto waited = starts[1] - starts[0];
  EXPECT_GE(waited, std::chrono::milliseconds(400)) << "the backoff alone would be 10 ms";
  EXPECT_LE(waited, std::chrono::milliseconds(400 * 5 / 4 + 300)) << "pushback plus jitter";
  EXPECT_EQ(agent->stats().throttled, 1u);

  // UNAVAILABLE with a delay is throttling too.
  fake.Throttle(1, grpc::StatusCode::UNAVAILABLE, 300);
  agent->SetDeviceAttribute({"app.version", "2.0"});  // renews the stream
  for (int i = 0; i < 500 && fake.stream_starts().size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  agent->Log(Level::kInfo, "T", "second");
  ASSERT_TRUE(fake.WaitForEntries(2, std::chrono::seconds(10)));
  starts = fake.stream_starts();
  ASSERT_GE(starts.size(), 4u);
  EXPECT_GE(starts[3] - starts[2], std::chrono::milliseconds(300));
  EXPECT_EQ(agent->stats().throttled, 2u);
  EXPECT_EQ(Messages(fake.entries()), (std::vector<std::string>{"after the wait", "second"}));
  // The renewed hello carries the new device fact.
  const v1::Hello last = fake.hellos().back();
  ASSERT_EQ(last.device().attributes_size(), 1);
  EXPECT_EQ(last.device().attributes(0).value().string_value(), "2.0");
}

TEST(AgentControlTest, TheServerSetsTheUploadLevelTurnsOnDebugAndFlushes) {
  FakeCollector fake;
  v1::Control warn_only;
  warn_only.set_min_upload_level(v1::LEVEL_WARN);
  fake.SetWelcomeControl(warn_only);
  TempDir dir;
  AgentOptions options = Options(fake.address(), dir.path());
  options.min_level = Level::kInfo;
  auto agent = StartAgent(options);
  agent->Log(Level::kInfo, "T", "info, kept on the device only");
  agent->Log(Level::kWarn, "T", "warn 1");
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  EXPECT_EQ(Messages(fake.entries()), (std::vector<std::string>{"warn 1"}));
  EXPECT_EQ(agent->stats().not_uploaded, 1u);
  EXPECT_FALSE(agent->Enabled(Level::kDebug));

  // "Upload debug for this device for an hour".
  v1::Control debug = warn_only;
  debug.set_debug_until_unix_micros(absl::ToUnixMicros(absl::Now() + absl::Hours(1)));
  fake.SendControl(debug);
  for (int i = 0; i < 200 && !agent->Enabled(Level::kDebug); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(agent->Enabled(Level::kDebug)) << "capture follows the server's debug window";
  agent->Log(Level::kDebug, "T", "debug while asked");
  agent->Log(Level::kTrace, "T", "trace, never");
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  EXPECT_EQ(Messages(fake.entries()), (std::vector<std::string>{"warn 1", "debug while asked"}));

  // The window ends by itself.
  debug.set_debug_until_unix_micros(absl::ToUnixMicros(absl::Now() + absl::Milliseconds(300)));
  fake.SendControl(debug);
  std::this_thread::sleep_for(std::chrono::milliseconds(900));
  EXPECT_FALSE(agent->Enabled(Level::kDebug)) << "the debug window expired";

  // Flush now: a batch that would wait a minute goes at once.
  agent.reset();
  options.batch_max_age = std::chrono::seconds(60);
  fake.SetWelcomeControl(v1::Control());
  agent = StartAgent(options);
  agent->Log(Level::kError, "T", "waiting for its batch to age");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const size_t before = fake.entries().size();
  EXPECT_EQ(Messages(fake.entries()).back(), "debug while asked");
  v1::Control flush;
  flush.set_flush_now(true);
  fake.SendControl(flush);
  ASSERT_TRUE(fake.WaitForEntries(before + 1, std::chrono::seconds(5)));
  EXPECT_EQ(Messages(fake.entries()).back(), "waiting for its batch to age");
}

TEST(AgentControlTest, BatchesAreZstdCompressedByDefault) {
  FakeCollector fake;
  TempDir dir;
  auto agent = StartAgent(Options(fake.address(), dir.path()));
  std::vector<std::string> logged;
  for (int i = 0; i < 300; ++i) {
    logged.push_back("payment request " + std::to_string(i) + " sent to gateway eu-west-1");
    agent->Log(Level::kInfo, "Checkout", logged.back());
  }
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10))) << agent->stats().last_error;
  EXPECT_EQ(Messages(fake.entries()), logged);
  const FakeCollector::BatchForms forms = fake.batch_forms();
  EXPECT_EQ(forms.plain, 0);
  EXPECT_GE(forms.zstd, 1);
  // Log lines this alike shrink several times.
  EXPECT_LT(forms.zstd_frame_bytes * 4, forms.zstd_batch_bytes)
      << forms.zstd_frame_bytes << " of " << forms.zstd_batch_bytes;
}

TEST(AgentControlTest, ACollectorWithoutZstdGetsPlainBatchesAndLosesNothing) {
  // A collector older than compressed_batch would refuse every zstd batch:
  // its Welcome lists no codec, so the agent sends plain batches (gzipped by
  // gRPC) and every line arrives.
  FakeCollector old_collector;
  old_collector.AdvertiseZstd(false);
  TempDir dir;
  auto agent = StartAgent(Options(old_collector.address(), dir.path()));
  std::vector<std::string> logged;
  for (int i = 0; i < 100; ++i) {
    logged.push_back("line " + std::to_string(i));
    agent->Log(Level::kInfo, "T", logged.back());
  }
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10))) << agent->stats().last_error;
  EXPECT_EQ(Messages(old_collector.entries()), logged);
  EXPECT_GE(old_collector.batch_forms().plain, 1);
  EXPECT_EQ(old_collector.batch_forms().zstd, 0);
  EXPECT_EQ(agent->stats().rejected, 0u);
}

TEST(AgentControlTest, GzipOrNoCompressionOnRequest) {
  // A server that refuses gzip tells whether the agent gzipped.
  FakeCollector no_gzip(nullptr, /*accept_gzip=*/false);
  TempDir dir;
  AgentOptions gzip = Options(no_gzip.address(), dir.path());
  gzip.compression = Compression::kGzip;
  auto agent = StartAgent(gzip);
  agent->Log(Level::kInfo, "T", "compressed");
  EXPECT_FALSE(agent->Flush(std::chrono::milliseconds(500)));
  EXPECT_TRUE(no_gzip.entries().empty());
  EXPECT_EQ(agent->stats().last_status_code, static_cast<int>(grpc::StatusCode::UNIMPLEMENTED))
      << agent->stats().last_error;
  agent.reset();
  AgentOptions plain = Options(no_gzip.address(), dir.path());
  plain.compression = Compression::kNone;
  agent = StartAgent(plain);
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10))) << agent->stats().last_error;
  EXPECT_EQ(Messages(no_gzip.entries()), (std::vector<std::string>{"compressed"}));
  EXPECT_EQ(no_gzip.batch_forms().plain, 1);
  EXPECT_EQ(no_gzip.batch_forms().zstd, 0);
}

TEST(AgentControlTest, TlsWithACustomCa) {
  const testing::TestCertificate cert = testing::MakeSelfSignedCertificate();
  const FakeCollector::Tls tls{cert.cert_pem, cert.key_pem};
  FakeCollector fake(&tls);
  TempDir dir;
  AgentOptions options = Options(fake.address(), dir.path());
  options.tls = true;
  // Without our CA the server is not trusted: nothing goes.
  auto untrusted = StartAgent(options);
  untrusted->Log(Level::kInfo, "T", "never over an untrusted connection");
  EXPECT_FALSE(untrusted->Flush(std::chrono::milliseconds(800)));
  untrusted.reset();
  EXPECT_TRUE(fake.entries().empty());

  options.tls_ca_pem = cert.cert_pem;
  auto agent = StartAgent(options);
  agent->Log(Level::kInfo, "T", "over TLS");
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10))) << agent->stats().last_error;
  // Both lines: the first one waited in the spool.
  EXPECT_EQ(Messages(fake.entries()),
            (std::vector<std::string>{"never over an untrusted connection", "over TLS"}));
}

TEST(AgentControlTest, AFixedDeviceIdWithANewSpoolContinuesAfterTheServersWatermark) {
  FakeCollector fake;
  fake.SetWatermark(1000);
  TempDir dir;
  AgentOptions options = Options(fake.address(), dir.path());
  options.device_id = "kiosk-7";
  auto agent = StartAgent(options);
  agent->Log(Level::kInfo, "T", "first of this install");
  // Before the collector is reached, a fixed id's new spool cannot know its
  // seqs yet: no link.
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  const std::string link = agent->SendIssue("Pay button does nothing", "I tapped it twice");
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  const auto entries = fake.entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].entry.seq(), 1001u);
  EXPECT_EQ(entries[1].entry.seq(), 1002u);
  EXPECT_EQ(entries[1].entry.kind(), v1::ENTRY_KIND_ISSUE);
  EXPECT_EQ(link, "https://console.fieldlog.dev/i/kiosk-7/1002");
  EXPECT_EQ(entries[1].entry.message(), "Pay button does nothing\n\nI tapped it twice");
  // The base is kept: a restart goes on from there.
  agent.reset();
  agent = StartAgent(options);
  agent->Log(Level::kInfo, "T", "after restart");
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  EXPECT_EQ(fake.entries().back().entry.seq(), 1003u);
}

TEST(AgentControlTest, SendIssueAndFeedbackReturnLinksToTheirEntries) {
  FakeCollector fake;
  TempDir dir;
  AgentOptions options = Options(fake.address(), dir.path());
  options.console_url = "https://support.example.com";
  auto agent = StartAgent(options);
  agent->SetUser("carol@example.com");
  agent->Log(Level::kInfo, "T", "before the issue");
  const std::string issue = agent->SendIssue("Crash on pay", "");
  const std::string feedback = agent->SendFeedback("Love the new cart");
  ASSERT_TRUE(fake.WaitForEntries(3, std::chrono::seconds(10))) << "sent at once";
  const auto entries = fake.entries();
  EXPECT_EQ(issue, "https://support.example.com/i/" + agent->device_id() + "/" +
                       std::to_string(entries[1].entry.seq()));
  EXPECT_EQ(feedback, "https://support.example.com/i/" + agent->device_id() + "/" +
                          std::to_string(entries[2].entry.seq()));
  EXPECT_EQ(entries[1].entry.kind(), v1::ENTRY_KIND_ISSUE);
  EXPECT_EQ(entries[1].user_id, "carol@example.com");
  EXPECT_EQ(entries[2].entry.kind(), v1::ENTRY_KIND_FEEDBACK);
  EXPECT_EQ(entries[2].entry.message(), "Love the new cart");
}

TEST(AgentControlTest, ConsentPendingKeepsGrantedUploadsDeniedWipes) {
  FakeCollector fake;
  TempDir dir;
  AgentOptions options = Options(fake.address(), dir.path());
  options.default_consent = Consent::kPending;
  auto agent = StartAgent(options);
  agent->Log(Level::kInfo, "T", "kept while pending");
  EXPECT_FALSE(agent->Flush(std::chrono::milliseconds(300)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(fake.stream_starts().empty()) << "nothing is uploaded while pending";
  EXPECT_EQ(agent->stats().spooled, 1u);

  agent->SetConsent(Consent::kGranted);
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  EXPECT_EQ(Messages(fake.entries()), (std::vector<std::string>{"kept while pending"}));

  // Denied: the spool is wiped and nothing new is kept, across restarts.
  agent->SetConsent(Consent::kPending);
  agent->Log(Level::kInfo, "T", "spooled, then wiped");
  agent->Flush(std::chrono::milliseconds(0));
  agent->SetConsent(Consent::kDenied);
  agent->Log(Level::kError, "T", "never kept");
  EXPECT_FALSE(agent->Enabled(Level::kFatal));
  agent.reset();
  agent = StartAgent(options);
  EXPECT_EQ(agent->consent(), Consent::kDenied) << "consent is remembered";
  agent->SetConsent(Consent::kGranted);
  agent->Log(Level::kInfo, "T", "after granting again");
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  EXPECT_EQ(Messages(fake.entries()),
            (std::vector<std::string>{"kept while pending", "after granting again"}));
  // Seqs still only go up.
  const auto entries = fake.entries();
  EXPECT_LT(entries[0].entry.seq(), entries[1].entry.seq());
}

TEST(AgentControlTest, RedactionScrubbingAndSessionAttributes) {
  FakeCollector fake;
  TempDir dir;
  AgentOptions options = Options(fake.address(), dir.path());
  options.scrub_pii = true;
  options.session_attributes = {{"app.version", "3.2.1"}, {"cold_start", true}};
  options.redact = [](RedactableEntry& e) {
    if (e.tag == "Secret") e.drop = true;
    for (KeyValue& kv : e.attributes) {
      if (kv.key == "token") kv.value = std::string("[redacted]");
    }
  };
  auto agent = StartAgent(options);
  agent->Log(Level::kInfo, "Login", "login by alice@example.com with 4111-1111-1111-1111",
             {{"token", "abc123"}, {"email", "bob@example.org"}});
  agent->Log(Level::kInfo, "Secret", "never leaves the device");
  agent->SetSessionAttribute({"screen", "checkout"});
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(10)));
  const auto entries = fake.entries();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].entry.message(), "session attributes");
  EXPECT_EQ(entries[0].entry.attributes_size(), 2);
  EXPECT_EQ(entries[1].entry.message(), "login by [email] with [card]");
  EXPECT_EQ(entries[1].entry.attributes(0).value().string_value(), "[redacted]");
  EXPECT_EQ(entries[1].entry.attributes(1).value().string_value(), "[email]");
  EXPECT_EQ(entries[2].entry.message(), "session attributes");
  EXPECT_EQ(entries[2].entry.attributes_size(), 3);
  EXPECT_EQ(entries[2].entry.attributes(2).value().string_value(), "checkout");
}

}  // namespace
}  // namespace fieldlog
