// The query service's features against a real server with a seeded store:
// every filter, live tail, users and devices, stats and "affected" checked
// against brute-force counts over what was sent, issues, the audit trail, and
// isolation between apps.
#include <map>
#include <random>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "re2/re2.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::AppKeys;
using ::fieldlog::testing::ContextWith;
using ::fieldlog::testing::SearchAll;
using ::fieldlog::testing::SendBatch;
using ::fieldlog::testing::TestServer;

// What was sent, to count the truth by brute force.
struct SentLine {
  std::string device, user, session, tag, message;
  v1::Level level;
  int64_t time_us;
  uint64_t seq;
  std::string version;  // attribute "app.version"
};

class QueryFeaturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = server_.CreateApp("shop");
    other_ = server_.CreateApp("other");
    std::mt19937_64 random(7);
    const std::vector<std::string> tags = {"Checkout", "Network", "UI", "Auth"};
    const std::vector<std::string> messages = {
        "PaymentTimeout after %d ms", "tap on button %d",        "GET /api/cart took %d ms",
        "login ok for session %d",    "PaymentDeclined code %d", "crash in view %d"};
    const int64_t now = absl::ToUnixMicros(absl::Now());
    auto ingest = server_.IngestStub();
    for (int d = 0; d < 12; ++d) {
      const std::string device = "device-" + std::to_string(d);
      const std::string user = "user" + std::to_string(d % 5) + "@example.com";
      const std::string session = "session-" + std::to_string(d % 3);
      v1::Device wire_device;
      wire_device.set_device_id(device);
      v1::Batch batch;
      batch.set_user_id(user);
      batch.set_session_id(session);
      for (int i = 0; i < 200; ++i) {
        SentLine line;
        line.device = device;
        line.user = user;
        line.session = session;
        line.tag = tags[random() % tags.size()];
        const std::string& shape = messages[random() % messages.size()];
        line.message = shape.substr(0, shape.find("%d")) + std::to_string(random() % 1000) +
                       shape.substr(shape.find("%d") + 2);
        line.level = static_cast<v1::Level>(1 + random() % 6);
        line.time_us = now - int64_t{3600} * 1000000 * 3 + int64_t{i * 12 + d} * 1000000;
        line.seq = static_cast<uint64_t>(i + 1);
        line.version = random() % 2 ? "3.2.1" : "3.1.0";
        v1::Entry* e = batch.add_entries();
        e->set_seq(line.seq);
        e->set_time_unix_micros(line.time_us);
        e->set_level(line.level);
        e->set_tag(line.tag);
        e->set_message(line.message);
        v1::Attribute* a = e->add_attributes();
        a->set_key("app.version");
        a->mutable_value()->set_string_value(line.version);
        sent_.push_back(line);
      }
      v1::Ack ack;
      ASSERT_TRUE(SendBatch(*ingest, keys_.ingest_key, wire_device, batch, &ack).ok());
      ASSERT_EQ(ack.accepted(), 200u);
    }
  }

  std::vector<v1::LogLine> Search(v1::SearchRequest request, grpc::Status* status = nullptr) {
    std::vector<v1::LogLine> lines;
    grpc::Status s = SearchAll(*server_.QueryStub(), keys_.read_token, request, &lines);
    if (status)
      *status = s;
    else
      EXPECT_TRUE(s.ok()) << s.error_message();
    return lines;
  }

  size_t Count(const std::function<bool(const SentLine&)>& predicate) {
    return std::count_if(sent_.begin(), sent_.end(), predicate);
  }

  TestServer server_;
  AppKeys keys_, other_;
  std::vector<SentLine> sent_;
};

TEST_F(QueryFeaturesTest, EveryFilterMatchesABruteForceCount) {
  const RE2 declined_or_timeout("Payment(Declined|Timeout)");
  struct Case {
    std::string name;
    std::function<void(v1::SearchRequest*)> set;
    std::function<bool(const SentLine&)> want;
  };
  const std::vector<Case> cases = {
      {"tag", [](v1::SearchRequest* r) { r->add_tags("Checkout"); },
       [](const SentLine& l) { return l.tag == "Checkout"; }},
      {"two tags",
       [](v1::SearchRequest* r) {
         r->add_tags("UI");
         r->add_tags("Auth");
       },
       [](const SentLine& l) { return l.tag == "UI" || l.tag == "Auth"; }},
      {"regex", [](v1::SearchRequest* r) { r->set_regex("Payment(Declined|Timeout)"); },
       [&](const SentLine& l) { return RE2::PartialMatch(l.message, declined_or_timeout); }},
      {"case-insensitive regex", [](v1::SearchRequest* r) { r->set_regex("(?i)^CRASH"); },
       [](const SentLine& l) { return l.message.rfind("crash", 0) == 0; }},
      {"attribute",
       [](v1::SearchRequest* r) {
         v1::AttributeFilter* a = r->add_attributes();
         a->set_key("app.version");
         a->set_value("3.2.1");
       },
       [](const SentLine& l) { return l.version == "3.2.1"; }},
      {"session", [](v1::SearchRequest* r) { r->set_session_id("session-1"); },
       [](const SentLine& l) { return l.session == "session-1"; }},
      {"everything at once",
       [](v1::SearchRequest* r) {
         r->set_min_level(v1::LEVEL_WARN);
         r->add_tags("Checkout");
         r->set_text("payment");
         v1::AttributeFilter* a = r->add_attributes();
         a->set_key("app.version");
         a->set_value("3.1.0");
       },
       [](const SentLine& l) {
         return l.level >= v1::LEVEL_WARN && l.tag == "Checkout" &&
                l.message.find("Payment") != std::string::npos && l.version == "3.1.0";
       }},
  };
  for (const Case& c : cases) {
    ASSERT_GT(Count(c.want), 10u) << c.name << ": the data must exercise the filter";
    for (const std::string user : {"user1@example.com", "user3@example.com"}) {
      v1::SearchRequest request;
      request.set_app("shop");
      request.set_user_id(user);
      c.set(&request);
      const size_t want = Count([&](const SentLine& l) { return l.user == user && c.want(l); });
      EXPECT_EQ(Search(request).size(), want) << c.name << " for " << user;
    }
    v1::SearchRequest request;
    request.set_app("shop");
    request.set_device_id("device-4");
    c.set(&request);
    EXPECT_EQ(Search(request).size(),
              Count([&](const SentLine& l) { return l.device == "device-4" && c.want(l); }))
        << c.name << " on device-4";
  }

  v1::SearchRequest bad;
  bad.set_app("shop");
  bad.set_user_id("user1@example.com");
  bad.set_regex("Payment(");
  grpc::Status status;
  Search(bad, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("is not valid RE2"), std::string::npos);
}

TEST_F(QueryFeaturesTest, AffectedMatchesABruteForceCount) {
  auto query = server_.QueryStub();
  for (const std::string text : {"paymenttimeout", "crash in view"}) {
    v1::AffectedRequest request;
    request.set_app("shop");
    request.set_text(text);
    request.set_from_unix_micros(absl::ToUnixMicros(absl::Now() - absl::Hours(4)));
    request.set_limit(1000);
    v1::AffectedResponse response;
    ASSERT_TRUE(query->Affected(ContextWith(keys_.read_token).get(), request, &response).ok());
    std::map<std::string, uint64_t> users, devices;
    std::map<std::string, std::set<std::string>> user_devices;
    for (const SentLine& l : sent_) {
      std::string lower = l.message;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      if (lower.find(text) == std::string::npos) continue;
      ++users[l.user];
      ++devices[l.device];
      user_devices[l.user].insert(l.device);
    }
    uint64_t total = 0;
    for (const auto& [u, n] : users) total += n;
    EXPECT_EQ(response.matching_lines(), total) << text;
    EXPECT_EQ(response.total_users(), users.size());
    EXPECT_EQ(response.total_devices(), devices.size());
    EXPECT_EQ(response.scanned_lines(), sent_.size());
    for (const v1::AffectedUser& u : response.users()) {
      EXPECT_EQ(u.lines(), users[u.user_id()]) << u.user_id();
      EXPECT_EQ(u.devices(), user_devices[u.user_id()].size()) << u.user_id();
    }
    for (const v1::AffectedDevice& d : response.devices()) {
      EXPECT_EQ(d.lines(), devices[d.device_id()]) << d.device_id();
    }
    // Most lines first.
    for (int i = 1; i < response.users_size(); ++i) {
      EXPECT_GE(response.users(i - 1).lines(), response.users(i).lines());
    }
  }
  v1::AffectedRequest empty;
  empty.set_app("shop");
  v1::AffectedResponse response;
  EXPECT_EQ(query->Affected(ContextWith(keys_.read_token).get(), empty, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(QueryFeaturesTest, StatsMatchABruteForceCount) {
  v1::StatsRequest request;
  request.set_app("shop");
  const int64_t now = absl::ToUnixMicros(absl::Now());
  request.set_from_unix_micros(now - int64_t{3600} * 1'000'000 * 2);
  request.set_to_unix_micros(now);
  request.set_interval_micros(int64_t{600} * 1'000'000);
  request.set_top_tags(10);
  v1::StatsResponse stats;
  ASSERT_TRUE(
      server_.QueryStub()->Stats(ContextWith(keys_.read_token).get(), request, &stats).ok());
  ASSERT_EQ(stats.buckets_size(), 12);
  const int64_t from = request.from_unix_micros(), to = request.to_unix_micros();
  const int64_t previous = from - (to - from);
  for (int level = v1::LEVEL_TRACE; level <= v1::LEVEL_FATAL; ++level) {
    EXPECT_EQ(stats.level_totals(level), Count([&](const SentLine& l) {
                return l.level == level && l.time_us >= from && l.time_us < to;
              }));
    EXPECT_EQ(stats.previous_level_totals(level), Count([&](const SentLine& l) {
                return l.level == level && l.time_us >= previous && l.time_us < from;
              }));
  }
  for (int b = 0; b < stats.buckets_size(); ++b) {
    const int64_t start = from + b * request.interval_micros();
    uint64_t errors = stats.buckets(b).level_counts(v1::LEVEL_ERROR);
    EXPECT_EQ(errors, Count([&](const SentLine& l) {
                return l.level == v1::LEVEL_ERROR && l.time_us >= start &&
                       l.time_us < start + request.interval_micros();
              }))
        << "bucket " << b;
  }
  ASSERT_EQ(stats.tags_size(), 4);
  for (const v1::TagStats& t : stats.tags()) {
    EXPECT_EQ(t.lines(), Count([&](const SentLine& l) {
                return l.tag == t.tag() && l.time_us >= from && l.time_us < to;
              }));
    EXPECT_EQ(t.previous_errors(), Count([&](const SentLine& l) {
                return l.tag == t.tag() && l.level >= v1::LEVEL_ERROR && l.time_us >= previous &&
                       l.time_us < from;
              }));
  }
  // Narrowed to one user.
  request.set_user_id("user2@example.com");
  ASSERT_TRUE(
      server_.QueryStub()->Stats(ContextWith(keys_.read_token).get(), request, &stats).ok());
  uint64_t total = 0;
  for (uint64_t c : stats.level_totals()) total += c;
  EXPECT_EQ(total, Count([&](const SentLine& l) {
              return l.user == "user2@example.com" && l.time_us >= from && l.time_us < to;
            }));
}

TEST_F(QueryFeaturesTest, UsersByPrefixAndDevicesWithTheirUsers) {
  auto query = server_.QueryStub();
  v1::FindUsersRequest find;
  find.set_app("shop");
  find.set_prefix("user");
  v1::FindUsersResponse users;
  ASSERT_TRUE(query->FindUsers(ContextWith(keys_.read_token).get(), find, &users).ok());
  ASSERT_EQ(users.users_size(), 5);
  EXPECT_EQ(users.users(0).user_id(), "user0@example.com");
  EXPECT_EQ(users.users(0).devices(), 3u);  // devices 0, 5, 10
  EXPECT_EQ(users.users(0).lines(), 600u);
  find.set_prefix("user3");
  ASSERT_TRUE(query->FindUsers(ContextWith(keys_.read_token).get(), find, &users).ok());
  ASSERT_EQ(users.users_size(), 1);
  find.set_prefix("nobody");
  ASSERT_TRUE(query->FindUsers(ContextWith(keys_.read_token).get(), find, &users).ok());
  EXPECT_EQ(users.users_size(), 0);

  // device-7 was user2's; then user4 logged on it too.
  v1::Device device;
  device.set_device_id("device-7");
  v1::Batch batch;
  batch.set_user_id("user4@example.com");
  *batch.add_entries() = testing::MakeEntry(201, "handed over");
  v1::Ack ack;
  ASSERT_TRUE(SendBatch(*server_.IngestStub(), keys_.ingest_key, device, batch, &ack).ok());
  v1::GetDeviceRequest get;
  get.set_app("shop");
  get.set_device_id("device-7");
  v1::DeviceDetails details;
  ASSERT_TRUE(query->GetDevice(ContextWith(keys_.read_token).get(), get, &details).ok());
  EXPECT_EQ(details.lines(), 201u);
  EXPECT_EQ(details.watermark(), 201u);
  EXPECT_EQ(details.last_user_id(), "user4@example.com");
  ASSERT_EQ(details.users_size(), 2);
  EXPECT_EQ(details.users(0).user_id(), "user2@example.com");
  EXPECT_EQ(details.users(0).lines(), 200u);
  EXPECT_EQ(details.users(1).user_id(), "user4@example.com");
  get.set_device_id("nope");
  EXPECT_EQ(query->GetDevice(ContextWith(keys_.read_token).get(), get, &details).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(QueryFeaturesTest, TailShowsTheBacklogThenNewLinesWithinASecond) {
  auto query = server_.QueryStub();
  auto context = ContextWith(keys_.read_token);
  v1::TailRequest request;
  request.mutable_filter()->set_app("shop");
  request.mutable_filter()->set_user_id("user1@example.com");
  request.mutable_filter()->set_min_level(v1::LEVEL_WARN);
  request.set_backlog(5);
  auto reader = query->Tail(context.get(), request);
  v1::SearchResponse response;
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_EQ(response.lines_size(), 5);
  for (const v1::LogLine& line : response.lines()) {
    EXPECT_EQ(line.user_id(), "user1@example.com");
    EXPECT_GE(line.level(), v1::LEVEL_WARN);
  }
  EXPECT_LE(response.lines(0).time_unix_micros(), response.lines(4).time_unix_micros());

  // New lines: one below the level (filtered out), one that matches, on
  // another of her devices.
  v1::Device device;
  device.set_device_id("device-6");
  v1::Batch batch;
  batch.set_user_id("user1@example.com");
  *batch.add_entries() = testing::MakeEntry(201, "quiet", v1::LEVEL_DEBUG);
  *batch.add_entries() = testing::MakeEntry(202, "the retry failed too", v1::LEVEL_ERROR);
  const absl::Time sent = absl::Now();
  v1::Ack ack;
  ASSERT_TRUE(SendBatch(*server_.IngestStub(), keys_.ingest_key, device, batch, &ack).ok());
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_LT(absl::Now() - sent, absl::Seconds(1)) << "delivered within a second";
  ASSERT_EQ(response.lines_size(), 1);
  EXPECT_EQ(response.lines(0).message(), "the retry failed too");
  EXPECT_EQ(response.lines(0).device_id(), "device-6");
  context->TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(QueryFeaturesTest, IssuesComeWithTheLinesBeforeThem) {
  v1::Device device;
  device.set_device_id("device-3");
  v1::Batch batch;
  batch.set_user_id("user3@example.com");
  *batch.add_entries() =
      testing::MakeEntry(201, "tapped pay", v1::LEVEL_INFO, "UI", std::chrono::seconds(3));
  v1::Entry issue = testing::MakeEntry(202, "I tapped pay and nothing happened", v1::LEVEL_INFO,
                                       "Checkout is broken", std::chrono::seconds(2));
  issue.set_kind(v1::ENTRY_KIND_ISSUE);
  *batch.add_entries() = issue;
  v1::Entry feedback =
      testing::MakeEntry(203, "love the new cart", v1::LEVEL_INFO, "", std::chrono::seconds(1));
  feedback.set_kind(v1::ENTRY_KIND_FEEDBACK);
  *batch.add_entries() = feedback;
  v1::Ack ack;
  ASSERT_TRUE(SendBatch(*server_.IngestStub(), keys_.ingest_key, device, batch, &ack).ok());

  v1::ListIssuesRequest request;
  request.set_app("shop");
  request.set_context_lines(3);
  v1::ListIssuesResponse response;
  ASSERT_TRUE(server_.QueryStub()
                  ->ListIssues(ContextWith(keys_.read_token).get(), request, &response)
                  .ok());
  ASSERT_EQ(response.issues_size(), 2);
  EXPECT_EQ(response.issues(0).kind(), v1::ENTRY_KIND_FEEDBACK);  // newest first
  const v1::Issue& found = response.issues(1);
  EXPECT_EQ(found.kind(), v1::ENTRY_KIND_ISSUE);
  EXPECT_EQ(found.title(), "Checkout is broken");
  EXPECT_EQ(found.text(), "I tapped pay and nothing happened");
  EXPECT_EQ(found.user_id(), "user3@example.com");
  EXPECT_EQ(found.seq(), 202u);
  ASSERT_EQ(found.context_size(), 4);  // three lines before, and the issue itself
  EXPECT_EQ(found.context(2).message(), "tapped pay");
  EXPECT_EQ(found.context(3).seq(), 202u);

  request.set_user_id("user1@example.com");
  ASSERT_TRUE(server_.QueryStub()
                  ->ListIssues(ContextWith(keys_.read_token).get(), request, &response)
                  .ok());
  EXPECT_EQ(response.issues_size(), 0);
}

TEST_F(QueryFeaturesTest, EveryReadIsAudited) {
  v1::SearchRequest search;
  search.set_app("shop");
  search.set_user_id("user4@example.com");
  search.set_text("payment");
  Search(search);
  v1::ListDevicesRequest devices;
  devices.set_app("shop");
  devices.set_user_id("user4@example.com");
  v1::ListDevicesResponse listed;
  ASSERT_TRUE(
      server_.QueryStub()->ListDevices(ContextWith(keys_.read_token).get(), devices, &listed).ok());

  v1::ListAuditRequest request;
  request.set_app("shop");
  v1::ListAuditResponse audit;
  ASSERT_TRUE(server_.AdminStub()
                  ->ListAudit(ContextWith(server_.admin_token()).get(), request, &audit)
                  .ok());
  ASSERT_EQ(audit.entries_size(), 2);
  EXPECT_EQ(audit.entries(0).action(), "search");
  EXPECT_EQ(audit.entries(0).user_id(), "user4@example.com");
  EXPECT_NE(audit.entries(0).details().find("text=payment"), std::string::npos);
  EXPECT_EQ(audit.entries(0).credential_kind(), "read");
  EXPECT_EQ(audit.entries(0).key_id().size(), 12u);
  EXPECT_NE(audit.entries(0).peer().find("127.0.0.1"), std::string::npos);
  EXPECT_EQ(audit.entries(1).action(), "devices");
  // Only the admin reads the trail.
  EXPECT_EQ(server_.AdminStub()
                ->ListAudit(ContextWith(keys_.read_token).get(), request, &audit)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(QueryFeaturesTest, AReadTokenOfOneAppReadsNothingOfAnother) {
  auto query = server_.QueryStub();
  const std::string wrong = other_.read_token;
  v1::StatsRequest stats_request;
  stats_request.set_app("shop");
  v1::StatsResponse stats;
  EXPECT_EQ(query->Stats(ContextWith(wrong).get(), stats_request, &stats).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::AffectedRequest affected_request;
  affected_request.set_app("shop");
  affected_request.set_text("x");
  v1::AffectedResponse affected;
  EXPECT_EQ(query->Affected(ContextWith(wrong).get(), affected_request, &affected).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::FindUsersRequest find;
  find.set_app("shop");
  find.set_prefix("u");
  v1::FindUsersResponse users;
  EXPECT_EQ(query->FindUsers(ContextWith(wrong).get(), find, &users).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::GetDeviceRequest get;
  get.set_app("shop");
  get.set_device_id("device-1");
  v1::DeviceDetails details;
  EXPECT_EQ(query->GetDevice(ContextWith(wrong).get(), get, &details).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ListIssuesRequest issues_request;
  issues_request.set_app("shop");
  v1::ListIssuesResponse issues;
  EXPECT_EQ(query->ListIssues(ContextWith(wrong).get(), issues_request, &issues).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::TailRequest tail;
  tail.mutable_filter()->set_app("shop");
  tail.mutable_filter()->set_device_id("device-1");
  auto context = ContextWith(wrong);
  auto reader = query->Tail(context.get(), tail);
  v1::SearchResponse response;
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // And reading app "other" with its own token sees none of shop's users.
  find.set_app("other");
  ASSERT_TRUE(query->FindUsers(ContextWith(wrong).get(), find, &users).ok());
  EXPECT_EQ(users.users_size(), 0);
}

}  // namespace
}  // namespace fieldlog
