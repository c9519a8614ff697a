// OTLP/gRPC logs over real gRPC on 127.0.0.1 with a real store: what an
// export stores, read back field by field through the query service; retries
// stored once (also across a restart and under concurrency); partial success;
// malformed, unauthenticated and throttled exports get the status the OTLP
// specification prescribes.
#include <grpcpp/generic/generic_stub.h>

#include <atomic>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/otlp_dedupe.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::collector::otlp::kOtlpSeqBase;
using ::fieldlog::testing::AppKeys;
using ::fieldlog::testing::ContextWith;
using ::fieldlog::testing::SearchAll;
using ::fieldlog::testing::TempDir;
using ::fieldlog::testing::TestServer;
using opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse;
using opentelemetry::proto::collector::logs::v1::LogsService;
using opentelemetry::proto::common::v1::KeyValue;
using opentelemetry::proto::logs::v1::LogRecord;
using opentelemetry::proto::logs::v1::ResourceLogs;

constexpr char kExportMethod[] = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

uint64_t NowNanos() { return static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())); }

KeyValue* Put(google::protobuf::RepeatedPtrField<KeyValue>* attributes, const std::string& key,
              const std::string& value) {
  KeyValue* kv = attributes->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
  return kv;
}

// A resource for `device_id` with one scope ("checkout"), appended to `request`.
ResourceLogs* AddResource(ExportLogsServiceRequest* request, const std::string& device_id,
                          const std::string& user_id = "alice@example.com") {
  ResourceLogs* resource = request->add_resource_logs();
  auto* attributes = resource->mutable_resource()->mutable_attributes();
  if (!device_id.empty()) Put(attributes, "app.installation.id", device_id);
  if (!user_id.empty()) Put(attributes, "user.id", user_id);
  resource->add_scope_logs()->mutable_scope()->set_name("checkout");
  return resource;
}

LogRecord* AddRecord(ResourceLogs* resource, const std::string& body, uint64_t time_ns,
                     int severity = 9) {
  LogRecord* record = resource->mutable_scope_logs(0)->add_log_records();
  record->set_time_unix_nano(time_ns);
  record->set_observed_time_unix_nano(time_ns);
  record->set_severity_number(
      static_cast<opentelemetry::proto::logs::v1::SeverityNumber>(severity));
  record->mutable_body()->set_string_value(body);
  return record;
}

class OtlpTest : public ::testing::Test {
 protected:
  OtlpTest() : OtlpTest(server::ServerOptions()) {}
  explicit OtlpTest(server::ServerOptions options)
      : server_(std::make_unique<TestServer>(std::move(options))),
        keys_(server_->CreateApp("shop")) {}

  grpc::Status Export(const ExportLogsServiceRequest& request, ExportLogsServiceResponse* response,
                      const std::string& key) {
    auto stub = LogsService::NewStub(server_->channel());
    return stub->Export(ContextWith(key).get(), request, response);
  }
  // Exports with the app's ingest key and expects full success.
  void ExportOk(const ExportLogsServiceRequest& request) {
    ExportLogsServiceResponse response;
    grpc::Status status = Export(request, &response, keys_.ingest_key);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_FALSE(response.has_partial_success()) << response.partial_success().error_message();
  }

  std::vector<v1::LogLine> Lines(const std::string& device_id, const std::string& user_id = "") {
    v1::SearchRequest request;
    request.set_app("shop");
    request.set_device_id(device_id);
    request.set_user_id(user_id);
    request.set_limit(10000);
    std::vector<v1::LogLine> lines;
    grpc::Status status = SearchAll(*server_->QueryStub(), keys_.read_token, request, &lines);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return lines;
  }

  v1::DeviceDetails Device(const std::string& device_id) {
    v1::GetDeviceRequest request;
    request.set_app("shop");
    request.set_device_id(device_id);
    v1::DeviceDetails details;
    grpc::Status status =
        server_->QueryStub()->GetDevice(ContextWith(keys_.read_token).get(), request, &details);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return details;
  }

  static const v1::Attribute* Find(const v1::LogLine& line, const std::string& key) {
    for (const v1::Attribute& a : line.attributes()) {
      if (a.key() == key) return &a;
    }
    return nullptr;
  }

  std::unique_ptr<TestServer> server_;
  AppKeys keys_;
};

TEST_F(OtlpTest, StoresEachFieldWhereSupportReadsIt) {
  const uint64_t t = NowNanos() - 2'000'000'000;  // two seconds ago
  ExportLogsServiceRequest request;
  ResourceLogs* resource = AddResource(&request, "install-1");
  auto* resource_attributes = resource->mutable_resource()->mutable_attributes();
  Put(resource_attributes, "session.id", "session-9");
  Put(resource_attributes, "service.version", "3.2.1");
  Put(resource_attributes, "device.model.name", "Pixel 8");
  LogRecord* record = AddRecord(resource, "Zahlung fehlgeschlagen: Käse € 😀", t + 789, 17);
  record->set_severity_text("ERROR");
  auto* attributes = record->mutable_attributes();
  Put(attributes, "screen", "pay");
  KeyValue* retries = attributes->Add();
  retries->set_key("retries");
  retries->mutable_value()->set_int_value(3);
  KeyValue* amount = attributes->Add();
  amount->set_key("amount");
  amount->mutable_value()->set_double_value(19.99);
  KeyValue* cold = attributes->Add();
  cold->set_key("cold_start");
  cold->mutable_value()->set_bool_value(false);
  Put(attributes, "code.file.path", "src/pay.ts");
  KeyValue* line_number = attributes->Add();
  line_number->set_key("code.line.number");
  line_number->mutable_value()->set_int_value(88);
  Put(attributes, "code.function.name", "submitPayment");
  // Only the observed time: it becomes the line's time.
  LogRecord* observed = AddRecord(resource, "observed only", 0, 5);
  observed->set_observed_time_unix_nano(t + 1'000'000);
  ExportOk(request);

  const std::vector<v1::LogLine> lines = Lines("install-1");
  ASSERT_EQ(lines.size(), 2u);
  const v1::LogLine& line = lines[0];
  EXPECT_EQ(line.app(), "shop");
  EXPECT_EQ(line.device_id(), "install-1");
  EXPECT_EQ(line.user_id(), "alice@example.com");
  EXPECT_EQ(line.session_id(), "session-9");
  EXPECT_EQ(line.seq(), kOtlpSeqBase + 1);
  EXPECT_EQ(line.device_time_unix_micros(), static_cast<int64_t>((t + 789) / 1000));
  EXPECT_EQ(line.time_unix_micros(), line.device_time_unix_micros()) << "no clock correction";
  EXPECT_EQ(line.level(), v1::LEVEL_ERROR);
  EXPECT_EQ(line.tag(), "checkout");
  EXPECT_EQ(line.message(), "Zahlung fehlgeschlagen: Käse € 😀");
  EXPECT_EQ(line.file(), "src/pay.ts");
  EXPECT_EQ(line.line(), 88u);
  EXPECT_EQ(line.function(), "submitPayment");
  EXPECT_EQ(line.kind(), v1::ENTRY_KIND_LOG);
  ASSERT_EQ(line.attributes_size(), 5) << "4 of the record's, and app.version";
  EXPECT_EQ(line.attributes(0).key(), "screen");
  EXPECT_EQ(line.attributes(0).value().string_value(), "pay");
  EXPECT_EQ(line.attributes(1).value().int_value(), 3);
  EXPECT_EQ(line.attributes(2).value().double_value(), 19.99);
  EXPECT_EQ(line.attributes(3).value().kind_case(), v1::Value::kBoolValue);
  EXPECT_FALSE(line.attributes(3).value().bool_value());
  EXPECT_EQ(line.attributes(4).key(), "app.version");
  EXPECT_EQ(line.attributes(4).value().string_value(), "3.2.1");

  EXPECT_EQ(lines[1].message(), "observed only");
  EXPECT_EQ(lines[1].level(), v1::LEVEL_DEBUG);
  EXPECT_EQ(lines[1].device_time_unix_micros(), static_cast<int64_t>((t + 1'000'000) / 1000));
  EXPECT_EQ(lines[1].seq(), kOtlpSeqBase + 2);

  const v1::DeviceDetails device = Device("install-1");
  EXPECT_EQ(device.lines(), 2u);
  EXPECT_EQ(device.watermark(), kOtlpSeqBase + 2);
  std::map<std::string, std::string> device_attributes;
  for (const v1::Attribute& a : device.attributes()) {
    device_attributes[a.key()] = a.value().string_value();
  }
  EXPECT_EQ(device_attributes["app.version"], "3.2.1");
  EXPECT_EQ(device_attributes["device.model.name"], "Pixel 8");
  EXPECT_EQ(device_attributes["app.installation.id"], "install-1");

  // By user, across devices.
  EXPECT_EQ(Lines("", "alice@example.com").size(), 2u);
}

TEST_F(OtlpTest, ARecordWithoutADeviceIdLandsUnderTheFallbackDevice) {
  ExportLogsServiceRequest request;
  ResourceLogs* resource = AddResource(&request, "", "bob@example.com");
  Put(resource->mutable_resource()->mutable_attributes(), "service.name", "checkout-api");
  AddRecord(resource, "no device here", NowNanos());
  ExportOk(request);
  const std::vector<v1::LogLine> lines = Lines("", "bob@example.com");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].device_id(), "otel:checkout-api");
  EXPECT_EQ(lines[0].message(), "no device here");
}

TEST_F(OtlpTest, AnExportSentAgainIsStoredOnce) {
  const uint64_t t = NowNanos() - 1'000'000'000;
  ExportLogsServiceRequest request;
  ResourceLogs* resource = AddResource(&request, "phone-1");
  AddRecord(resource, "tapped Pay", t);
  // Two identical records in one export are two lines (a loop logging twice).
  AddRecord(resource, "retrying", t + 1000);
  AddRecord(resource, "retrying", t + 1000);
  for (int attempt = 0; attempt < 3; ++attempt) ExportOk(request);
  EXPECT_EQ(Lines("phone-1").size(), 3u);

  // A later export repeating some of those records and adding one.
  AddRecord(resource, "payment declined", t + 2000, 17);
  ExportOk(request);
  std::vector<v1::LogLine> lines = Lines("phone-1");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3].message(), "payment declined");
  std::set<uint64_t> seqs;
  for (const v1::LogLine& line : lines) seqs.insert(line.seq());
  EXPECT_EQ(seqs, (std::set<uint64_t>{kOtlpSeqBase + 1, kOtlpSeqBase + 2, kOtlpSeqBase + 3,
                                      kOtlpSeqBase + 4}))
      << "consecutive: the device's stored seqs stay one range";

  // Same text at another time, or from another user, is another line.
  ExportLogsServiceRequest other;
  AddRecord(AddResource(&other, "phone-1"), "tapped Pay", t + 5000);
  AddRecord(AddResource(&other, "phone-1", "carol@example.com"), "tapped Pay", t);
  ExportOk(other);
  EXPECT_EQ(Lines("phone-1").size(), 6u);
}

TEST(OtlpRestartTest, ARetryAfterARestartIsStillStoredOnce) {
  TempDir dir;
  auto server = std::make_unique<TestServer>(dir.path());
  const AppKeys keys = server->CreateApp("shop");
  ExportLogsServiceRequest request;
  ResourceLogs* resource = AddResource(&request, "phone-1");
  for (int i = 0; i < 50; ++i) AddRecord(resource, "line " + std::to_string(i), NowNanos());
  const auto export_once = [&] {
    ExportLogsServiceResponse response;
    auto stub = LogsService::NewStub(server->channel());
    grpc::Status status = stub->Export(ContextWith(keys.ingest_key).get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_FALSE(response.has_partial_success());
  };
  export_once();
  server->Stop();
  server.reset();
  server = std::make_unique<TestServer>(dir.path());
  export_once();

  v1::SearchRequest search;
  search.set_app("shop");
  search.set_device_id("phone-1");
  std::vector<v1::LogLine> lines;
  ASSERT_TRUE(SearchAll(*server->QueryStub(), keys.read_token, search, &lines).ok());
  EXPECT_EQ(lines.size(), 50u);
}

TEST_F(OtlpTest, ConcurrentExportsAndRetriesForOneDeviceStoreEachRecordOnce) {
  constexpr int kThreads = 4;
  constexpr int kExports = 5;
  constexpr int kRecords = 20;
  const uint64_t t = NowNanos() - 10'000'000'000;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      auto stub = LogsService::NewStub(server_->channel());
      for (int e = 0; e < kExports; ++e) {
        ExportLogsServiceRequest request;
        ResourceLogs* resource = AddResource(&request, "busy-phone");
        for (int r = 0; r < kRecords; ++r) {
          // Times interleave across threads, as with several exporters.
          AddRecord(resource, absl::StrCat("t", thread, " e", e, " r", r),
                    t + static_cast<uint64_t>(r * kThreads + thread) * 1000);
        }
        for (int attempt = 0; attempt < 2; ++attempt) {
          ExportLogsServiceResponse response;
          if (!stub->Export(ContextWith(keys_.ingest_key).get(), request, &response).ok() ||
              response.has_partial_success()) {
            ++failures;
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const std::vector<v1::LogLine> lines = Lines("busy-phone");
  EXPECT_EQ(lines.size(), static_cast<size_t>(kThreads * kExports * kRecords));
  std::set<uint64_t> seqs;
  std::set<std::string> messages;
  for (const v1::LogLine& line : lines) {
    seqs.insert(line.seq());
    messages.insert(line.message());
  }
  EXPECT_EQ(seqs.size(), lines.size());
  EXPECT_EQ(messages.size(), lines.size());
  EXPECT_EQ(Device("busy-phone").watermark(), kOtlpSeqBase + lines.size());
}

TEST_F(OtlpTest, BadRecordsAreRejectedAloneWithAPartialSuccess) {
  const uint64_t now = NowNanos();
  ExportLogsServiceRequest request;
  ResourceLogs* resource = AddResource(&request, "phone-1");
  AddRecord(resource, "good one", now);
  AddRecord(resource, std::string("bad \xC3\x28 text"), now);
  AddRecord(resource, "from last year", now - uint64_t{365} * 24 * 3600 * 1'000'000'000);
  AddRecord(resource, "odd severity", now, 99);
  AddRecord(resource, "good two", now + 1000);
  ResourceLogs* bad_device = AddResource(&request, std::string(200, 'd'));
  AddRecord(bad_device, "device id too long", now);

  ExportLogsServiceResponse response;
  grpc::Status status = Export(request, &response, keys_.ingest_key);
  ASSERT_TRUE(status.ok()) << "a partial success is not an error: " << status.error_message();
  ASSERT_TRUE(response.has_partial_success());
  EXPECT_EQ(response.partial_success().rejected_log_records(), 4);
  const std::string& message = response.partial_success().error_message();
  EXPECT_NE(message.find("4 of 6 log records rejected"), std::string::npos) << message;
  EXPECT_NE(message.find("resource_logs[0].scope_logs[0].log_records[1]: body is not valid "
                         "UTF-8 at byte 4"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("older than"), std::string::npos) << message;
  EXPECT_NE(message.find("severity_number 99 is outside 0-24"), std::string::npos) << message;
  EXPECT_NE(message.find("200 bytes; at most 128"), std::string::npos) << message;

  const std::vector<v1::LogLine> lines = Lines("phone-1");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].message(), "good one");
  EXPECT_EQ(lines[1].message(), "good two");
}

TEST_F(OtlpTest, AnEmptyExportSucceeds) {
  ExportOk(ExportLogsServiceRequest());
  ExportLogsServiceRequest request;
  AddResource(&request, "phone-1");  // a resource with no records
  ExportOk(request);
}

// Sends raw bytes to Export, as a broken client would.
grpc::Status ExportRaw(const std::shared_ptr<grpc::Channel>& channel, const std::string& key,
                       const std::string& bytes) {
  grpc::GenericStub stub(channel);
  auto context = ContextWith(key);
  grpc::Slice slice(bytes.data(), bytes.size());
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(context.get(), kExportMethod, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get();
}

TEST_F(OtlpTest, AMalformedExportIsInvalidArgument) {
  const grpc::Status status =
      ExportRaw(server_->channel(), keys_.ingest_key, std::string("\x0a\xff\xff\xff\x0f", 5));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("ExportLogsServiceRequest"), std::string::npos)
      << status.error_message();
}

TEST_F(OtlpTest, CredentialsComeFromBearerOrTheFieldlogHeader) {
  ExportLogsServiceRequest request;
  AddRecord(AddResource(&request, "phone-1"), "hello", NowNanos());
  ExportLogsServiceResponse response;
  auto stub = LogsService::NewStub(server_->channel());

  grpc::Status status = Export(request, &response, "");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("authorization: Bearer"), std::string::npos);
  EXPECT_EQ(Export(request, &response, "fl_ik_not_a_key").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Export(request, &response, keys_.read_token).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Without a key even garbage is refused for the key first.
  EXPECT_EQ(ExportRaw(server_->channel(), "", "\xff\xff").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Lines("phone-1").empty());

  grpc::ClientContext context;
  context.AddMetadata("x-fieldlog-key", keys_.ingest_key);
  status = stub->Export(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Lines("phone-1").size(), 1u);
}

TEST_F(OtlpTest, ADeviceTheAgentFeedsIsNotNumberedByOtlp) {
  v1::Device device;
  device.set_device_id("shared-1");
  v1::Batch batch;
  batch.set_user_id("alice@example.com");
  for (uint64_t seq = 1; seq <= 2; ++seq) {
    *batch.add_entries() = testing::MakeEntry(seq, "from the agent");
  }
  v1::Ack ack;
  ASSERT_TRUE(
      testing::SendBatch(*server_->IngestStub(), keys_.ingest_key, device, batch, &ack).ok());

  ExportLogsServiceRequest request;
  AddRecord(AddResource(&request, "shared-1"), "from OpenTelemetry", NowNanos());
  ExportLogsServiceResponse response;
  ASSERT_TRUE(Export(request, &response, keys_.ingest_key).ok());
  EXPECT_EQ(response.partial_success().rejected_log_records(), 1);
  EXPECT_NE(response.partial_success().error_message().find("fed by the fieldlog agent"),
            std::string::npos)
      << response.partial_success().error_message();
  EXPECT_EQ(Lines("shared-1").size(), 2u);
  EXPECT_EQ(Device("shared-1").watermark(), 2u) << "the agent resumes where it was";
}

class OtlpThrottleTest : public OtlpTest {
 protected:
  static server::ServerOptions Limited() {
    server::ServerOptions options;
    options.ingest.default_device_lines_per_second = 10;
    options.ingest.burst_seconds = 1;
    return options;
  }
  OtlpThrottleTest() : OtlpTest(Limited()) {}
};

TEST_F(OtlpThrottleTest, OverTheRateLimitIsResourceExhaustedWithRetryInfo) {
  const auto make_export = [](const std::string& prefix) {
    ExportLogsServiceRequest request;
    ResourceLogs* resource = AddResource(&request, "chatty");
    for (int i = 0; i < 50; ++i) AddRecord(resource, prefix + std::to_string(i), NowNanos());
    return request;
  };
  // A full bucket (10 lines) lets one bigger export through, then it is empty.
  ExportOk(make_export("first "));
  auto stub = LogsService::NewStub(server_->channel());
  auto context = ContextWith(keys_.ingest_key);
  ExportLogsServiceResponse response;
  grpc::Status status = stub->Export(context.get(), make_export("second "), &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("rate limit"), std::string::npos);
  // RetryInfo is what makes RESOURCE_EXHAUSTED retryable for OTLP clients.
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  ASSERT_EQ(details.details_size(), 1);
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(details.details(0).UnpackTo(&retry));
  const int64_t delay_ms =
      retry.retry_delay().seconds() * 1000 + retry.retry_delay().nanos() / 1000000;
  EXPECT_GT(delay_ms, 500);  // refilling 10 lines at 10/s: about a second
  EXPECT_LE(delay_ms, 1000);
  const auto& trailers = context->GetServerTrailingMetadata();
  auto pushback = trailers.find("grpc-retry-pushback-ms");
  ASSERT_NE(pushback, trailers.end());
  EXPECT_EQ(std::string(pushback->second.data(), pushback->second.size()),
            std::to_string(delay_ms));
  EXPECT_EQ(Lines("chatty").size(), 50u) << "nothing of the throttled export is stored";
}

}  // namespace
}  // namespace fieldlog
