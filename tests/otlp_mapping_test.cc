// The OTLP to fieldlog mapping (collector/otlp_mapping.h), field by field,
// without a server: levels, bodies, times, identity, attributes and limits,
// and which records are rejected and why.
#include "collector/otlp_mapping.h"

#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/otlp_dedupe.h"
#include "common/limits.h"
#include "gtest/gtest.h"

namespace fieldlog::collector::otlp {
namespace {

using opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using opentelemetry::proto::common::v1::AnyValue;
using opentelemetry::proto::common::v1::KeyValue;
using opentelemetry::proto::logs::v1::LogRecord;
using opentelemetry::proto::logs::v1::ResourceLogs;

const int64_t kNowUs = absl::ToUnixMicros(absl::Now());
const uint64_t kNowNs = static_cast<uint64_t>(kNowUs) * 1000;

void Put(google::protobuf::RepeatedPtrField<KeyValue>* attributes, const std::string& key,
         const std::string& value) {
  KeyValue* kv = attributes->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

class MappingTest : public ::testing::Test {
 protected:
  MappingTest() {
    resource_ = request_.add_resource_logs();
    Put(resource_->mutable_resource()->mutable_attributes(), "device.id", "phone-1");
    auto* scope = resource_->add_scope_logs();
    scope->mutable_scope()->set_name("checkout");
  }

  LogRecord* AddRecord(const std::string& body = "hello", uint64_t time_ns = kNowNs) {
    LogRecord* r = resource_->mutable_scope_logs(0)->add_log_records();
    r->set_time_unix_nano(time_ns);
    r->mutable_body()->set_string_value(body);
    r->set_severity_number(opentelemetry::proto::logs::v1::SEVERITY_NUMBER_INFO);
    return r;
  }

  // The only mapped record; fails the test if there is not exactly one.
  const MappedRecord& Only() {
    mapped_ = MapExport(request_, kNowUs);
    EXPECT_TRUE(mapped_.rejected.empty())
        << mapped_.rejected.front().where << ": " << mapped_.rejected.front().reason;
    EXPECT_EQ(mapped_.devices.size(), 1u);
    EXPECT_EQ(mapped_.devices.at(0).records.size(), 1u);
    return mapped_.devices.at(0).records.at(0);
  }

  static const v1::Attribute* Find(const v1::Entry& entry, const std::string& key) {
    for (const v1::Attribute& a : entry.attributes()) {
      if (a.key() == key) return &a;
    }
    return nullptr;
  }

  ExportLogsServiceRequest request_;
  ResourceLogs* resource_;
  MappedExport mapped_;
};

TEST(OtlpLevelTest, SeverityNumbersMapByRange) {
  const v1::Level expected[] = {v1::LEVEL_TRACE, v1::LEVEL_DEBUG, v1::LEVEL_INFO,
                                v1::LEVEL_WARN,  v1::LEVEL_ERROR, v1::LEVEL_FATAL};
  for (int n = 1; n <= 24; ++n) {
    EXPECT_EQ(LevelFromSeverity(n, ""), expected[(n - 1) / 4]) << "severity_number " << n;
  }
  EXPECT_EQ(LevelFromSeverity(0, ""), v1::LEVEL_INFO);
  EXPECT_EQ(LevelFromSeverity(0, "Warning"), v1::LEVEL_WARN);
  EXPECT_EQ(LevelFromSeverity(0, "ERROR"), v1::LEVEL_ERROR);
  EXPECT_EQ(LevelFromSeverity(0, "debug"), v1::LEVEL_DEBUG);
  EXPECT_EQ(LevelFromSeverity(0, "critical"), v1::LEVEL_FATAL);
  EXPECT_EQ(LevelFromSeverity(0, "verbose"), v1::LEVEL_TRACE);
  EXPECT_EQ(LevelFromSeverity(0, "whatever"), v1::LEVEL_INFO);
  // The number wins over the text.
  EXPECT_EQ(LevelFromSeverity(17, "info"), v1::LEVEL_ERROR);
  EXPECT_EQ(LevelFromSeverity(25, ""), std::nullopt);
  EXPECT_EQ(LevelFromSeverity(-1, ""), std::nullopt);
}

TEST_F(MappingTest, ResourceGivesDeviceUserSessionAndAppVersion) {
  auto* attributes = resource_->mutable_resource()->mutable_attributes();
  attributes->Clear();
  Put(attributes, "app.installation.id", "install-7");
  Put(attributes, "device.id", "hw-1");  // installation id wins
  Put(attributes, "enduser.id", "old@example.com");
  Put(attributes, "user.id", "alice@example.com");  // user.id wins
  Put(attributes, "session.id", "s-1");
  Put(attributes, "service.version", "3.2.1");
  Put(attributes, "os.name", "Android");
  AddRecord();
  const MappedRecord& r = Only();
  const v1::Device& device = mapped_.devices[0].device;
  EXPECT_EQ(device.device_id(), "install-7");
  EXPECT_EQ(r.user_id, "alice@example.com");
  EXPECT_EQ(r.session_id, "s-1");
  // The device keeps every resource attribute, app.version first.
  ASSERT_EQ(device.attributes_size(), 8);
  EXPECT_EQ(device.attributes(0).key(), "app.version");
  EXPECT_EQ(device.attributes(0).value().string_value(), "3.2.1");
  EXPECT_EQ(device.attributes(7).key(), "os.name");
  // Each line carries the app version, for --attr app.version=...
  const v1::Attribute* version = Find(r.entry, "app.version");
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(version->value().string_value(), "3.2.1");
}

TEST_F(MappingTest, RecordAttributesOverrideTheResourcesUserAndSession) {
  auto* attributes = resource_->mutable_resource()->mutable_attributes();
  Put(attributes, "user.id", "resource-user");
  Put(attributes, "session.id", "resource-session");
  LogRecord* record = AddRecord();
  Put(record->mutable_attributes(), "enduser.id", "bob@example.com");
  Put(record->mutable_attributes(), "session.id", "record-session");
  const MappedRecord& r = Only();
  EXPECT_EQ(r.user_id, "bob@example.com");
  EXPECT_EQ(r.session_id, "record-session");
  // Moved to their columns, not repeated as attributes.
  EXPECT_EQ(Find(r.entry, "enduser.id"), nullptr);
  EXPECT_EQ(Find(r.entry, "session.id"), nullptr);
}

TEST_F(MappingTest, WithoutADeviceIdTheFallbackIsTheServiceInstanceThenTheService) {
  auto* attributes = resource_->mutable_resource()->mutable_attributes();
  attributes->Clear();
  Put(attributes, "service.name", "checkout-api");
  Put(attributes, "service.instance.id", "pod-42");
  AddRecord();
  MappedExport mapped = MapExport(request_, kNowUs);
  ASSERT_EQ(mapped.devices.size(), 1u);
  EXPECT_EQ(mapped.devices[0].device.device_id(), "otel:pod-42");

  attributes->Clear();
  Put(attributes, "service.name", "checkout-api");
  mapped = MapExport(request_, kNowUs);
  ASSERT_EQ(mapped.devices.size(), 1u);
  EXPECT_EQ(mapped.devices[0].device.device_id(), "otel:checkout-api");

  attributes->Clear();
  mapped = MapExport(request_, kNowUs);
  ASSERT_EQ(mapped.devices.size(), 1u);
  EXPECT_EQ(mapped.devices[0].device.device_id(), "otel:unknown_service");
}

TEST_F(MappingTest, RecordsOfOneDeviceFromSeveralResourcesShareAGroup) {
  AddRecord("first");
  ResourceLogs* other = request_.add_resource_logs();
  Put(other->mutable_resource()->mutable_attributes(), "device.id", "phone-2");
  other->add_scope_logs()->add_log_records()->set_time_unix_nano(kNowNs);
  ResourceLogs* again = request_.add_resource_logs();
  *again = *resource_;
  const MappedExport mapped = MapExport(request_, kNowUs);
  ASSERT_EQ(mapped.devices.size(), 2u);
  EXPECT_EQ(mapped.devices[0].device.device_id(), "phone-1");
  EXPECT_EQ(mapped.devices[0].records.size(), 2u);
  EXPECT_EQ(mapped.devices[1].device.device_id(), "phone-2");
  EXPECT_EQ(mapped.total_records, 3u);
}

TEST_F(MappingTest, TimeIsTheEventTimeElseTheObservedTimeInMicroseconds) {
  LogRecord* record = AddRecord("x", kNowNs - 5'000'000'123);
  record->set_observed_time_unix_nano(kNowNs);
  EXPECT_EQ(Only().entry.time_unix_micros(), kNowUs - 5'000'001);

  record->set_time_unix_nano(0);
  EXPECT_EQ(Only().entry.time_unix_micros(), kNowUs);

  // Neither: the receive time.
  record->set_observed_time_unix_nano(0);
  EXPECT_EQ(Only().entry.time_unix_micros(), kNowUs);
}

TEST_F(MappingTest, StructuredBodiesBecomeJson) {
  LogRecord* record = AddRecord();
  AnyValue* body = record->mutable_body();
  auto* kv = body->mutable_kvlist_value();
  KeyValue* a = kv->add_values();
  a->set_key("event");
  a->mutable_value()->set_string_value("tap \"Pay\"\n");
  KeyValue* b = kv->add_values();
  b->set_key("items");
  auto* array = b->mutable_value()->mutable_array_value();
  array->add_values()->set_int_value(3);
  array->add_values()->set_double_value(2.5);
  array->add_values()->set_bool_value(true);
  array->add_values()->set_bytes_value("\x01\x02");
  array->add_values();
  EXPECT_EQ(Only().entry.message(),
            R"({"event":"tap \"Pay\"\n","items":[3,2.5,true,"AQI=",null]})");

  body->set_int_value(-42);
  EXPECT_EQ(Only().entry.message(), "-42");
  body->set_double_value(0.1);
  EXPECT_EQ(Only().entry.message(), "0.1");
  body->Clear();
  EXPECT_EQ(Only().entry.message(), "");
}

TEST_F(MappingTest, AttributesKeepTheirTypes) {
  LogRecord* record = AddRecord();
  auto* attributes = record->mutable_attributes();
  Put(attributes, "screen", "pay");
  KeyValue* n = attributes->Add();
  n->set_key("retries");
  n->mutable_value()->set_int_value(3);
  KeyValue* d = attributes->Add();
  d->set_key("amount");
  d->mutable_value()->set_double_value(19.99);
  KeyValue* b = attributes->Add();
  b->set_key("cold_start");
  b->mutable_value()->set_bool_value(true);
  KeyValue* l = attributes->Add();
  l->set_key("tags");
  l->mutable_value()->mutable_array_value()->add_values()->set_string_value("a");
  Put(attributes, "screen", "cart");  // a repeated key: the last value wins
  const v1::Entry& entry = Only().entry;
  ASSERT_EQ(entry.attributes_size(), 5);
  EXPECT_EQ(entry.attributes(0).key(), "screen");
  EXPECT_EQ(entry.attributes(0).value().string_value(), "cart");
  EXPECT_EQ(entry.attributes(1).value().int_value(), 3);
  EXPECT_EQ(entry.attributes(2).value().double_value(), 19.99);
  EXPECT_TRUE(entry.attributes(3).value().bool_value());
  EXPECT_EQ(entry.attributes(4).value().string_value(), R"(["a"])");
}

TEST_F(MappingTest, SourceLocationTraceAndSeverityDetailsAreKept) {
  LogRecord* record = AddRecord();
  record->set_severity_number(opentelemetry::proto::logs::v1::SEVERITY_NUMBER_WARN2);
  record->set_severity_text("Warning");
  record->set_trace_id(
      std::string("\x5b\x8e\xff\xf7\x98\x03\x81\x03\xd2\x69\xb6\x33\x81\x3f\xc6\x0c", 16));
  record->set_span_id(std::string(8, '\0'));  // all zero: no span
  record->set_event_name("checkout.failed");
  auto* attributes = record->mutable_attributes();
  Put(attributes, "code.filepath", "old.js");
  Put(attributes, "code.file.path", "src/pay.js");  // the current name wins
  KeyValue* line = attributes->Add();
  line->set_key("code.line.number");
  line->mutable_value()->set_int_value(42);
  Put(attributes, "code.function.name", "pay");
  const v1::Entry& entry = Only().entry;
  EXPECT_EQ(entry.level(), v1::LEVEL_WARN);
  EXPECT_EQ(entry.tag(), "checkout");
  EXPECT_EQ(entry.file(), "src/pay.js");
  EXPECT_EQ(entry.line(), 42u);
  EXPECT_EQ(entry.function(), "pay");
  ASSERT_NE(Find(entry, "trace_id"), nullptr);
  EXPECT_EQ(Find(entry, "trace_id")->value().string_value(), "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(Find(entry, "span_id"), nullptr);
  ASSERT_NE(Find(entry, "event.name"), nullptr);
  EXPECT_EQ(Find(entry, "event.name")->value().string_value(), "checkout.failed");
  ASSERT_NE(Find(entry, "otel.severity_text"), nullptr);
  EXPECT_EQ(Find(entry, "otel.severity_text")->value().string_value(), "Warning");
  ASSERT_NE(Find(entry, "otel.severity_number"), nullptr);
  EXPECT_EQ(Find(entry, "otel.severity_number")->value().int_value(), 14);
  EXPECT_EQ(Find(entry, "code.file.path"), nullptr);

  // A severity text that only names the level adds nothing.
  record->set_severity_number(opentelemetry::proto::logs::v1::SEVERITY_NUMBER_WARN);
  record->set_severity_text("WARN");
  EXPECT_EQ(Find(Only().entry, "otel.severity_text"), nullptr);
  EXPECT_EQ(Find(Only().entry, "otel.severity_number"), nullptr);
}

TEST_F(MappingTest, TooMuchIsCutOrDroppedAndCountedNotRejected) {
  LogRecord* record = AddRecord(std::string(kMaxMessageBytes + 100, 'm'));
  record->set_dropped_attributes_count(2);  // the SDK dropped some already
  for (int i = 0; i < 100; ++i) Put(record->mutable_attributes(), "k" + std::to_string(i), "v");
  Put(record->mutable_attributes(), "", "empty key");
  Put(record->mutable_attributes(), "bad\x01key", "control character");
  const v1::Entry& entry = Only().entry;
  EXPECT_LE(entry.message().size(), kMaxMessageBytes);
  EXPECT_GT(entry.message().size(), kMaxMessageBytes - 32);
  EXPECT_NE(entry.message().find("\xE2\x80\xA6[cut "), std::string::npos) << "a visible marker";
  ASSERT_EQ(entry.attributes_size(), static_cast<int>(kMaxAttributes));
  const v1::Attribute& last = entry.attributes(kMaxAttributes - 1);
  EXPECT_EQ(last.key(), "otel.dropped_attributes_count");
  // 2 dropped by the SDK, 2 unusable keys, 100 - 63 over the limit.
  EXPECT_EQ(last.value().int_value(), 2 + 2 + (100 - 63));
}

TEST_F(MappingTest, CutsLongTextOnACharacterBoundary) {
  // "é" is two bytes: a cut in the middle of one would not be UTF-8.
  std::string body;
  while (body.size() < kMaxMessageBytes + 10) body += "\xC3\xA9";
  AddRecord(body);
  const std::string& message = Only().entry.message();
  EXPECT_LE(message.size(), kMaxMessageBytes);
  EXPECT_TRUE(mapped_.rejected.empty()) << "the cut text is valid UTF-8 and stored";
}

TEST_F(MappingTest, RejectsOnlyTheRecordsThatCannotBeStoredAndSaysWhy) {
  AddRecord("fine");
  AddRecord(std::string("bad \xFF byte"));
  AddRecord("too old", kNowNs - uint64_t{40} * 24 * 3600 * 1'000'000'000);
  AddRecord("in the future", kNowNs + uint64_t{2} * 3600 * 1'000'000'000);
  LogRecord* severity = AddRecord("odd severity");
  severity->set_severity_number(static_cast<opentelemetry::proto::logs::v1::SeverityNumber>(30));
  LogRecord* user = AddRecord("long user");
  Put(user->mutable_attributes(), "user.id", std::string(300, 'u'));
  ResourceLogs* bad_device = request_.add_resource_logs();
  Put(bad_device->mutable_resource()->mutable_attributes(), "device.id", "bad\nid");
  bad_device->add_scope_logs()->add_log_records()->set_time_unix_nano(kNowNs);

  const MappedExport mapped = MapExport(request_, kNowUs);
  EXPECT_EQ(mapped.total_records, 7u);
  ASSERT_EQ(mapped.devices.size(), 1u);
  ASSERT_EQ(mapped.devices[0].records.size(), 1u);
  EXPECT_EQ(mapped.devices[0].records[0].entry.message(), "fine");
  ASSERT_EQ(mapped.rejected.size(), 6u);
  EXPECT_EQ(mapped.rejected[0].where, "resource_logs[0].scope_logs[0].log_records[1]");
  EXPECT_EQ(mapped.rejected[0].reason, "body is not valid UTF-8 at byte 4");
  EXPECT_STREQ(mapped.rejected[1].code, "too_old");
  EXPECT_STREQ(mapped.rejected[2].code, "time_in_future");
  EXPECT_STREQ(mapped.rejected[3].code, "invalid_severity");
  EXPECT_EQ(mapped.rejected[3].reason, "severity_number 30 is outside 0-24");
  EXPECT_STREQ(mapped.rejected[4].code, "invalid_user");
  EXPECT_STREQ(mapped.rejected[5].code, "invalid_device");
  EXPECT_EQ(mapped.rejected[5].where, "resource_logs[1].scope_logs[0].log_records[0]");
  EXPECT_NE(mapped.rejected[5].reason.find("control character"), std::string::npos)
      << mapped.rejected[5].reason;
}

TEST_F(MappingTest, LineKeysTellRecordsApartByEveryStoredField) {
  AddRecord("same");
  AddRecord("same");
  LogRecord* other_time = AddRecord("same", kNowNs + 1000);
  (void)other_time;
  LogRecord* other_attribute = AddRecord("same");
  KeyValue* kv = other_attribute->add_attributes();
  kv->set_key("n");
  kv->mutable_value()->set_int_value(1);
  LogRecord* other_type = AddRecord("same");
  Put(other_type->mutable_attributes(), "n", "1");
  const MappedExport mapped = MapExport(request_, kNowUs);
  ASSERT_EQ(mapped.devices.size(), 1u);
  const auto& records = mapped.devices[0].records;
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(LineKey(records[0]), LineKey(records[1]));
  EXPECT_NE(LineKey(records[0]), LineKey(records[2]));
  EXPECT_NE(LineKey(records[0]), LineKey(records[3]));
  EXPECT_NE(LineKey(records[3]), LineKey(records[4])) << "an int 1 is not the string \"1\"";
}

TEST(OtlpSeqTest, OtlpSeqsStartAboveTheAgentsAndStayExactInJson) {
  EXPECT_EQ(NextOtlpSeq(0), kOtlpSeqBase + 1);
  EXPECT_EQ(NextOtlpSeq(kOtlpSeqBase + 41), kOtlpSeqBase + 42);
  EXPECT_TRUE(IsAgentDevice(1));
  EXPECT_FALSE(IsAgentDevice(0));
  EXPECT_FALSE(IsAgentDevice(kOtlpSeqBase + 1));
  EXPECT_LT(kOtlpSeqBase, uint64_t{1} << 53);
}

}  // namespace
}  // namespace fieldlog::collector::otlp
