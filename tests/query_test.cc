// End to end through the real agent library, gRPC on 127.0.0.1 and a real
// store: lines from many devices and users are found by user and by device,
// exactly, in time order, across pages and restarts.
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "fieldlog/agent.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::AppKeys;
using ::fieldlog::testing::ContextWith;
using ::fieldlog::testing::MakeEntry;
using ::fieldlog::testing::SearchAll;
using ::fieldlog::testing::SendBatch;
using ::fieldlog::testing::TempDir;
using ::fieldlog::testing::TestServer;

std::unique_ptr<Agent> StartAgent(const std::string& server, const std::string& key,
                                  const std::string& device) {
  AgentOptions options;
  options.server = server;
  options.ingest_key = key;
  options.device_id = device;
  options.batch_max_age = std::chrono::milliseconds(50);
  options.initial_backoff = std::chrono::milliseconds(20);
  std::string error;
  auto agent = Agent::Start(options, &error);
  EXPECT_NE(agent, nullptr) << error;
  return agent;
}

std::vector<v1::LogLine> Search(TestServer& server, const std::string& token,
                                v1::SearchRequest request, grpc::Status* status_out = nullptr) {
  std::vector<v1::LogLine> lines;
  grpc::Status status = SearchAll(*server.QueryStub(), token, std::move(request), &lines);
  if (status_out) {
    *status_out = status;
  } else {
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  return lines;
}

v1::SearchRequest ByUser(const std::string& user) {
  v1::SearchRequest request;
  request.set_app("shop");
  request.set_user_id(user);
  return request;
}

v1::SearchRequest ByDevice(const std::string& device) {
  v1::SearchRequest request;
  request.set_app("shop");
  request.set_device_id(device);
  return request;
}

bool InTimelineOrder(const std::vector<v1::LogLine>& lines) {
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto key = [](const v1::LogLine& l) {
      return std::tuple(l.time_unix_micros(), l.device_id(), l.seq());
    };
    if (!(key(lines[i - 1]) < key(lines[i]))) return false;
  }
  return true;
}

// The spine's acceptance test: 10,000 lines from 20 devices of 5 users.
TEST(QueryTest, TenThousandLinesFromTwentyDevicesAreFoundExactly) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  constexpr int kDevices = 20, kUsers = 5, kLinesPerDevice = 500;
  std::vector<std::unique_ptr<Agent>> agents;
  for (int d = 0; d < kDevices; ++d) {
    agents.push_back(StartAgent(server.address(), keys.ingest_key, "device-" + std::to_string(d)));
    agents.back()->SetUser("user" + std::to_string(d % kUsers) + "@example.com");
  }
  // Interleave the devices so the users' timelines really merge.
  for (int i = 0; i < kLinesPerDevice; ++i) {
    for (int d = 0; d < kDevices; ++d) {
      agents[d]->Log(i % 50 == 0 ? Level::kError : Level::kInfo, "Tag" + std::to_string(i % 7),
                     "device " + std::to_string(d) + " line " + std::to_string(i),
                     {{"i", i}, {"even", i % 2 == 0}});
    }
  }
  for (auto& agent : agents) {
    ASSERT_TRUE(agent->Flush(std::chrono::seconds(30)));
    EXPECT_EQ(agent->stats().acknowledged, static_cast<uint64_t>(kLinesPerDevice));
  }

  size_t total = 0;
  for (int d = 0; d < kDevices; ++d) {
    const std::string device = "device-" + std::to_string(d);
    std::vector<v1::LogLine> lines = Search(server, keys.read_token, ByDevice(device));
    ASSERT_EQ(lines.size(), static_cast<size_t>(kLinesPerDevice)) << device;
    EXPECT_TRUE(InTimelineOrder(lines));
    for (int i = 0; i < kLinesPerDevice; ++i) {
      EXPECT_EQ(lines[i].seq(), static_cast<uint64_t>(i + 1));
      EXPECT_EQ(lines[i].message(), "device " + std::to_string(d) + " line " + std::to_string(i));
      EXPECT_EQ(lines[i].device_id(), device);
      ASSERT_EQ(lines[i].attributes_size(), 2);
      EXPECT_EQ(lines[i].attributes(0).value().int_value(), i);
    }
    total += lines.size();
  }
  EXPECT_EQ(total, 10000u);

  for (int u = 0; u < kUsers; ++u) {
    const std::string user = "user" + std::to_string(u) + "@example.com";
    std::vector<v1::LogLine> lines = Search(server, keys.read_token, ByUser(user));
    ASSERT_EQ(lines.size(), static_cast<size_t>(kLinesPerDevice * kDevices / kUsers)) << user;
    EXPECT_TRUE(InTimelineOrder(lines));
    std::set<std::pair<std::string, uint64_t>> seen;
    for (const v1::LogLine& line : lines) {
      EXPECT_EQ(line.user_id(), user);
      const int d = std::stoi(line.device_id().substr(7));
      EXPECT_EQ(d % kUsers, u);
      EXPECT_TRUE(seen.emplace(line.device_id(), line.seq()).second) << "duplicate line";
    }

    v1::ListDevicesRequest list;
    list.set_app("shop");
    list.set_user_id(user);
    v1::ListDevicesResponse devices;
    ASSERT_TRUE(
        server.QueryStub()->ListDevices(ContextWith(keys.read_token).get(), list, &devices).ok());
    EXPECT_EQ(devices.devices_size(), kDevices / kUsers);
    for (const v1::DeviceSummary& d : devices.devices()) {
      EXPECT_EQ(d.lines(), static_cast<uint64_t>(kLinesPerDevice));
      EXPECT_GT(d.last_seen_unix_micros(), 0);
    }
  }
}

class SeededQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = server_.CreateApp("shop");
    other_ = server_.CreateApp("other");
    // 300 lines on two devices of alice, 10 ms apart, levels cycling.
    auto ingest = server_.IngestStub();
    for (const std::string device : {"phone", "tablet"}) {
      v1::Device d;
      d.set_device_id(device);
      v1::Batch batch;
      batch.set_batch_id(1);
      batch.set_user_id("alice");
      for (int i = 0; i < 150; ++i) {
        v1::Entry e = MakeEntry(
            i + 1, (i % 10 == 0 ? "Payment TIMEOUT at step " : "step ") + std::to_string(i),
            static_cast<v1::Level>(1 + i % 6), "Checkout",
            std::chrono::milliseconds(10 * (300 - 2 * i) + (device == "phone" ? 0 : 5)));
        *batch.add_entries() = e;
      }
      v1::Ack ack;
      ASSERT_TRUE(SendBatch(*ingest, keys_.ingest_key, d, batch, &ack).ok());
      ASSERT_EQ(ack.accepted(), 150u);
    }
  }

  TestServer server_;
  AppKeys keys_, other_;
};

TEST_F(SeededQueryTest, PagesNeitherRepeatNorSkipInEitherDirection) {
  const std::vector<v1::LogLine> all = Search(server_, keys_.read_token, ByUser("alice"));
  ASSERT_EQ(all.size(), 300u);
  ASSERT_TRUE(InTimelineOrder(all));
  for (bool newest_first : {false, true}) {
    v1::SearchRequest request = ByUser("alice");
    request.set_limit(37);
    request.set_newest_first(newest_first);
    std::vector<v1::LogLine> paged;
    int pages = 0;
    for (;; ++pages) {
      auto context = ContextWith(keys_.read_token);
      auto reader = server_.QueryStub()->Search(context.get(), request);
      v1::SearchResponse response;
      std::string cursor;
      size_t in_page = 0;
      while (reader->Read(&response)) {
        in_page += response.lines_size();
        for (const auto& l : response.lines()) paged.push_back(l);
        if (!response.next_cursor().empty()) cursor = response.next_cursor();
      }
      ASSERT_TRUE(reader->Finish().ok());
      EXPECT_LE(in_page, 37u);
      if (cursor.empty()) break;
      request.set_cursor(cursor);
    }
    EXPECT_EQ(pages, 8);  // 300 / 37 = 8 full pages and a last one
    if (newest_first) std::reverse(paged.begin(), paged.end());
    ASSERT_EQ(paged.size(), all.size());
    for (size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(paged[i].device_id(), all[i].device_id());
      EXPECT_EQ(paged[i].seq(), all[i].seq());
    }
  }
}

TEST_F(SeededQueryTest, PagingWhileNewLinesArriveNeverRepeatsOrSkips) {
  v1::SearchRequest request = ByDevice("phone");
  request.set_limit(40);
  std::vector<uint64_t> seen;
  auto ingest = server_.IngestStub();
  uint64_t next_seq = 151;
  for (int page = 0; page < 100; ++page) {
    auto context = ContextWith(keys_.read_token);
    auto reader = server_.QueryStub()->Search(context.get(), request);
    v1::SearchResponse response;
    std::string cursor;
    while (reader->Read(&response)) {
      for (const auto& l : response.lines()) seen.push_back(l.seq());
      if (!response.next_cursor().empty()) cursor = response.next_cursor();
    }
    ASSERT_TRUE(reader->Finish().ok());
    if (cursor.empty()) break;
    request.set_cursor(cursor);
    // New lines land between pages (newer than everything seen so far).
    if (next_seq < 200) {
      v1::Device d;
      d.set_device_id("phone");
      v1::Batch batch;
      batch.set_user_id("alice");
      for (int i = 0; i < 10; ++i)
        *batch.add_entries() =
            MakeEntry(next_seq++, "new", v1::LEVEL_INFO, "T", std::chrono::microseconds(0));
      v1::Ack ack;
      ASSERT_TRUE(SendBatch(*ingest, keys_.ingest_key, d, batch, &ack).ok());
    }
  }
  std::vector<uint64_t> expected;
  for (uint64_t s = 1; s < next_seq; ++s) expected.push_back(s);
  EXPECT_EQ(seen, expected);
}

TEST_F(SeededQueryTest, FiltersCombine) {
  v1::SearchRequest request = ByUser("alice");
  request.set_min_level(v1::LEVEL_ERROR);
  std::vector<v1::LogLine> errors = Search(server_, keys_.read_token, request);
  EXPECT_EQ(errors.size(), 100u);  // levels 5 and 6 of 6, on 300 lines
  for (const auto& l : errors) EXPECT_GE(l.level(), v1::LEVEL_ERROR);

  request = ByUser("alice");
  request.set_text("payment timeout");
  std::vector<v1::LogLine> timeouts = Search(server_, keys_.read_token, request);
  EXPECT_EQ(timeouts.size(), 30u);
  for (const auto& l : timeouts) EXPECT_NE(l.message().find("Payment TIMEOUT"), std::string::npos);

  request.set_min_level(v1::LEVEL_DEBUG);
  request.set_device_id("tablet");
  std::vector<v1::LogLine> both = Search(server_, keys_.read_token, request);
  // Every 10th line matches the text; of those, the ones at multiples of 30
  // are level TRACE and filtered out: 15 - 5 on the tablet.
  EXPECT_EQ(both.size(), 10u);
  for (const auto& l : both) EXPECT_EQ(l.device_id(), "tablet");

  // A time window holding the middle of the timeline.
  const std::vector<v1::LogLine> all = Search(server_, keys_.read_token, ByUser("alice"));
  request = ByUser("alice");
  request.set_from_unix_micros(all[100].time_unix_micros());
  request.set_to_unix_micros(all[200].time_unix_micros());
  std::vector<v1::LogLine> window = Search(server_, keys_.read_token, request);
  ASSERT_EQ(window.size(), 100u);
  EXPECT_EQ(window.front().seq(), all[100].seq());

  request = ByUser("nobody");
  EXPECT_TRUE(Search(server_, keys_.read_token, request).empty());
}

TEST_F(SeededQueryTest, ReadersSeeOnlyWhatTheyMay) {
  grpc::Status status;
  v1::SearchRequest request = ByUser("alice");
  Search(server_, other_.read_token, request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "this token reads app 'other' only");
  Search(server_, keys_.ingest_key, request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  Search(server_, "fl_rt_forged", request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  Search(server_, "", request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // The admin token reads every app.
  EXPECT_EQ(Search(server_, server_.admin_token(), request).size(), 300u);
  request.set_app("missing");
  Search(server_, server_.admin_token(), request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(SeededQueryTest, BadSearchesAreInvalidArguments) {
  grpc::Status status;
  v1::SearchRequest request;
  request.set_app("shop");
  Search(server_, keys_.read_token, request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request = ByUser("alice");
  request.set_limit(10001);
  Search(server_, keys_.read_token, request, &status);
  EXPECT_EQ(status.error_message(), "limit 10001 is above the maximum of 10000");
  request = ByUser("alice");
  request.set_cursor("garbage!");
  Search(server_, keys_.read_token, request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request = ByUser("alice");
  request.set_from_unix_micros(2000);
  request.set_to_unix_micros(1000);
  Search(server_, keys_.read_token, request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// The server reads SearchRequest bytes itself (Search is a raw method, see
// query/query_service.h): bytes that are no SearchRequest get
// INVALID_ARGUMENT saying so, and the next search on the server is answered
// as ever. Sent with gRPC's generic stub, as a broken client would.
grpc::Status RawSearch(const std::string& address, const std::string& token,
                       const std::string& bytes, size_t* responses) {
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::ClientContext> context = ContextWith(token);
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(context.get(), "/fieldlog.v1.QueryService/Search", &cq);
  // Each step waits for its own tag; `ok` false on a read means the stream
  // ended.
  const auto step = [&](intptr_t tag) {
    void* got = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&got, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(got), tag);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  grpc::Slice slice(bytes);
  call->WriteLast(grpc::ByteBuffer(&slice, 1), grpc::WriteOptions(), reinterpret_cast<void*>(2));
  step(2);
  *responses = 0;
  for (;;) {
    grpc::ByteBuffer response;
    call->Read(&response, reinterpret_cast<void*>(3));
    if (!step(3)) break;
    ++*responses;
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  step(4);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

TEST_F(SeededQueryTest, BytesThatAreNoSearchRequestAreRefusedAndNothingElseIs) {
  size_t responses = 0;
  grpc::Status status = RawSearch(server_.address(), keys_.read_token,
                                  std::string("\xff\xff\xff\x0a\x05sh", 8), &responses);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "the SearchRequest does not parse");
  EXPECT_EQ(responses, 0u);
  // The same path with good bytes: one page of alice's 300 lines.
  responses = 0;
  status = RawSearch(server_.address(), keys_.read_token, ByUser("alice").SerializeAsString(),
                     &responses);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(responses, 1u);
  EXPECT_EQ(Search(server_, keys_.read_token, ByUser("alice")).size(), 300u);
}

// A page larger than one chunk (query/search_stream.h) arrives as several
// SearchResponses of at most 500 lines, in order, the cursor in the last; a
// page of one chunk is one response. A client that cancels in the middle of
// a large page leaves the server answering the next search.
TEST(QueryTest, LargePagesStreamInChunksAndACancelledOneHarmsNothing) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  constexpr int kLines = 3000;
  std::unique_ptr<Agent> agent = StartAgent(server.address(), keys.ingest_key, "device-s");
  for (int i = 0; i < kLines; ++i) {
    agent->Log(Level::kInfo, "Flow", "line " + std::to_string(i));
  }
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(30)));
  auto stub = server.QueryStub();

  for (const uint32_t limit : {2500u, 400u}) {
    v1::SearchRequest request = ByDevice("device-s");
    request.set_limit(limit);
    auto context = ContextWith(keys.read_token);
    auto reader = stub->Search(context.get(), request);
    v1::SearchResponse response;
    std::vector<int> sizes;
    std::vector<uint64_t> seqs;
    std::string cursor;
    while (reader->Read(&response)) {
      sizes.push_back(response.lines_size());
      for (const v1::LogLine& line : response.lines()) seqs.push_back(line.seq());
      EXPECT_TRUE(cursor.empty()) << "the cursor comes in the last response only";
      cursor = response.next_cursor();
    }
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(sizes.size(), (limit + 499) / 500) << limit;
    for (int size : sizes) EXPECT_LE(size, 500);
    ASSERT_EQ(seqs.size(), limit);
    for (size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1);
    EXPECT_FALSE(cursor.empty());
  }

  // A large page (the path that searches on a worker) refuses a stranger
  // with a clear error and sends no line.
  {
    v1::SearchRequest request = ByDevice("device-s");
    request.set_limit(2500);
    auto context = ContextWith("fl_rt_not-a-token");
    auto reader = stub->Search(context.get(), request);
    v1::SearchResponse response;
    int responses = 0;
    while (reader->Read(&response)) ++responses;
    const grpc::Status status = reader->Finish();
    EXPECT_EQ(responses, 0);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  }

  // Cancelled after the first response of a 3,000-line page.
  {
    v1::SearchRequest request = ByDevice("device-s");
    request.set_limit(kLines);
    auto context = ContextWith(keys.read_token);
    auto reader = stub->Search(context.get(), request);
    v1::SearchResponse response;
    ASSERT_TRUE(reader->Read(&response));
    EXPECT_EQ(response.lines_size(), 500);
    context->TryCancel();
    while (reader->Read(&response)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  std::vector<v1::LogLine> all = Search(server, keys.read_token, ByDevice("device-s"));
  EXPECT_EQ(all.size(), static_cast<size_t>(kLines));
}

// Streamed pages under load: several clients at once, each asking for a
// 3,000-line page, some reading it all, some cancelling after the first
// chunk, some with a deadline that may expire mid-page. Every full read is
// complete and in order, every call ends, and the server still answers.
TEST(QueryTest, ConcurrentLargePagesAndCancellationsAllEndCleanly) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  constexpr int kLines = 3000;
  std::unique_ptr<Agent> agent = StartAgent(server.address(), keys.ingest_key, "device-c");
  for (int i = 0; i < kLines; ++i) agent->Log(Level::kInfo, "Flow", "line " + std::to_string(i));
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(30)));

  constexpr int kClients = 6, kCallsEach = 10;
  std::atomic<int> complete = 0, cancelled = 0, wrong = 0;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = server.QueryStub();
      for (int i = 0; i < kCallsEach; ++i) {
        v1::SearchRequest request = ByDevice("device-c");
        request.set_limit(kLines);
        auto context = ContextWith(keys.read_token);
        // 0: read all; 1: cancel after the first chunk; 2: a 2 ms deadline
        // (either may come too late to end the call early); 3: a deadline
        // already past, which must end it.
        const int mode = (c + i) % 4;
        if (mode == 2) {
          context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(2));
        } else if (mode == 3) {
          context->set_deadline(std::chrono::system_clock::now() - std::chrono::milliseconds(1));
        }
        auto reader = stub->Search(context.get(), request);
        v1::SearchResponse response;
        uint64_t next_seq = 1;
        bool in_order = true;
        while (reader->Read(&response)) {
          for (const v1::LogLine& line : response.lines()) in_order &= line.seq() == next_seq++;
          if (mode == 1) context->TryCancel();
        }
        const grpc::Status status = reader->Finish();
        if (!in_order) ++wrong;
        if (mode == 3 && status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) ++wrong;
        if (status.ok()) {
          if (next_seq != kLines + 1) ++wrong;
          ++complete;
        } else {
          ++cancelled;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(complete + cancelled, kClients * kCallsEach);
  EXPECT_GE(cancelled.load(), kClients * kCallsEach / 4) << "every expired call ended early";
  EXPECT_GE(complete.load(), kClients * kCallsEach / 4) << "every read-all call completes";
  std::vector<v1::LogLine> all = Search(server, keys.read_token, ByDevice("device-c"));
  EXPECT_EQ(all.size(), static_cast<size_t>(kLines));
}

TEST(QueryTest, AUserTimelineMergesDevicesWithSkewedClocks) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  auto ingest = server.IngestStub();
  // Real events alternate between the phone (clock two days slow) and the
  // laptop (clock right). Each batch is sent as the device would: stamped
  // with the device's own clock.
  const absl::Duration phone_skew = -absl::Hours(48);
  const absl::Time start = absl::Now() - absl::Minutes(10);
  for (int i = 0; i < 20; ++i) {
    const bool phone = i % 2 == 0;
    const absl::Duration skew = phone ? phone_skew : absl::ZeroDuration();
    v1::Device device;
    device.set_device_id(phone ? "phone" : "laptop");
    v1::Batch batch;
    batch.set_user_id("alice");
    batch.set_sent_at_unix_micros(absl::ToUnixMicros(absl::Now() + skew));
    v1::Entry* e = batch.add_entries();
    e->set_seq(i / 2 + 1);
    e->set_time_unix_micros(absl::ToUnixMicros(start + absl::Seconds(i) + skew));
    e->set_message("event " + std::to_string(i));
    v1::Ack ack;
    ASSERT_TRUE(SendBatch(*ingest, keys.ingest_key, device, batch, &ack).ok());
    ASSERT_EQ(ack.accepted(), 1u) << (ack.rejected_size() ? ack.rejected(0).reason() : "");
  }
  std::vector<v1::LogLine> lines = Search(server, keys.read_token, ByUser("alice"));
  ASSERT_EQ(lines.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(lines[i].message(), "event " + std::to_string(i));
    if (lines[i].device_id() == "phone") {
      EXPECT_NEAR(
          static_cast<double>(lines[i].time_unix_micros() - lines[i].device_time_unix_micros()),
          static_cast<double>(absl::ToInt64Microseconds(-phone_skew)), 2e6);
    }
  }
}

TEST(QueryTest, DataSurvivesAServerRestart) {
  TempDir dir;
  AppKeys keys;
  {
    TestServer server(dir.path());
    keys = server.CreateApp("shop");
    auto agent = StartAgent(server.address(), keys.ingest_key, "device-1");
    agent->SetUser("alice");
    for (int i = 0; i < 1000; ++i) agent->Log(Level::kInfo, "T", "line " + std::to_string(i));
    ASSERT_TRUE(agent->Flush(std::chrono::seconds(20)));
    agent->Shutdown(std::chrono::seconds(1));
    server.Stop();
  }
  TestServer server(dir.path());
  std::vector<v1::LogLine> lines = Search(server, keys.read_token, ByUser("alice"));
  ASSERT_EQ(lines.size(), 1000u);
  EXPECT_EQ(lines[999].message(), "line 999");
  // Keys and the admin token survive too, and new lines continue the seqs.
  auto agent = StartAgent(server.address(), keys.ingest_key, "device-1");
  agent->SetUser("alice");
  agent->Log(Level::kInfo, "T", "after restart");
  ASSERT_TRUE(agent->Flush(std::chrono::seconds(20)));
  lines = Search(server, keys.read_token, ByDevice("device-1"));
  ASSERT_EQ(lines.size(), 1001u);
  EXPECT_EQ(lines.back().seq(), 1001u);
  EXPECT_EQ(lines.back().message(), "after restart");
}

}  // namespace
}  // namespace fieldlog
