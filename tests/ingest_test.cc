// The collector over real gRPC on 127.0.0.1 with a real store: credentials,
// malformed requests, partial success and exactly-once.
#include <zstd.h>

#include <thread>

#include "common/limits.h"
#include "gtest/gtest.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::AppKeys;
using ::fieldlog::testing::ContextWith;
using ::fieldlog::testing::MakeEntry;
using ::fieldlog::testing::SearchAll;
using ::fieldlog::testing::SendBatch;
using ::fieldlog::testing::TestServer;

class IngestTest : public ::testing::Test {
 protected:
  IngestTest() : keys_(server_.CreateApp("shop")), ingest_(server_.IngestStub()) {
    device_.set_device_id("device-1");
  }

  v1::Batch BatchOf(uint64_t first_seq, uint64_t count) {
    v1::Batch batch;
    batch.set_batch_id(first_seq);
    batch.set_user_id("alice@example.com");
    batch.set_session_id("session-1");
    batch.set_sent_at_unix_micros(absl::ToUnixMicros(absl::Now()));
    for (uint64_t s = first_seq; s < first_seq + count; ++s) {
      *batch.add_entries() = MakeEntry(s, "line " + std::to_string(s));
    }
    return batch;
  }

  std::vector<v1::LogLine> DeviceLines(const std::string& device = "device-1") {
    v1::SearchRequest request;
    request.set_app("shop");
    request.set_device_id(device);
    std::vector<v1::LogLine> lines;
    grpc::Status status = SearchAll(*server_.QueryStub(), keys_.read_token, request, &lines);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return lines;
  }

  // Opens a stream and returns how the server ended it after `requests`.
  grpc::Status StreamStatus(const std::string& key, const std::vector<v1::IngestRequest>& requests,
                            std::vector<v1::IngestResponse>* responses = nullptr) {
    auto context = ContextWith(key);
    auto stream = ingest_->Stream(context.get());
    for (const v1::IngestRequest& r : requests) {
      if (!stream->Write(r)) break;
    }
    stream->WritesDone();
    v1::IngestResponse response;
    while (stream->Read(&response)) {
      if (responses) responses->push_back(response);
    }
    return stream->Finish();
  }

  v1::IngestRequest Hello() {
    v1::IngestRequest r;
    *r.mutable_hello()->mutable_device() = device_;
    return r;
  }
  v1::IngestRequest BatchRequest(const v1::Batch& batch) {
    v1::IngestRequest r;
    *r.mutable_batch() = batch;
    return r;
  }
  // A compressed_batch request holding `data` as it is.
  v1::IngestRequest CompressedRequest(
      const std::string& data,
      v1::CompressedBatch::Codec codec = v1::CompressedBatch::CODEC_ZSTD) {
    v1::IngestRequest r;
    r.mutable_compressed_batch()->set_codec(codec);
    r.mutable_compressed_batch()->set_data(data);
    return r;
  }
  // `bytes` as one zstd frame; `state_size` false leaves its content size out.
  static std::string Zstd(const std::string& bytes, bool state_size = true) {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, state_size ? 1 : 0);
    std::string frame(ZSTD_compressBound(bytes.size()), '\0');
    const size_t n = ZSTD_compress2(cctx, frame.data(), frame.size(), bytes.data(), bytes.size());
    ZSTD_freeCCtx(cctx);
    EXPECT_FALSE(ZSTD_isError(n));
    frame.resize(n);
    return frame;
  }

  TestServer server_;
  AppKeys keys_;
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  v1::Device device_;
};

TEST_F(IngestTest, StoresABatchAndAcksIt) {
  v1::Ack ack;
  ASSERT_TRUE(SendBatch(*ingest_, keys_.ingest_key, device_, BatchOf(1, 100), &ack).ok());
  EXPECT_EQ(ack.accepted(), 100u);
  EXPECT_EQ(ack.duplicates(), 0u);
  EXPECT_EQ(ack.watermark(), 100u);
  EXPECT_EQ(ack.rejected_size(), 0);
  std::vector<v1::LogLine> lines = DeviceLines();
  ASSERT_EQ(lines.size(), 100u);
  EXPECT_EQ(lines[0].message(), "line 1");
  EXPECT_EQ(lines[0].user_id(), "alice@example.com");
  EXPECT_EQ(lines[0].session_id(), "session-1");
  EXPECT_EQ(lines[99].seq(), 100u);
}

TEST_F(IngestTest, AResentBatchIsStoredOnce) {
  v1::Ack ack;
  const v1::Batch batch = BatchOf(1, 50);
  ASSERT_TRUE(SendBatch(*ingest_, keys_.ingest_key, device_, batch, &ack).ok());
  ASSERT_TRUE(SendBatch(*ingest_, keys_.ingest_key, device_, batch, &ack).ok());
  EXPECT_EQ(ack.accepted(), 0u);
  EXPECT_EQ(ack.duplicates(), 50u);
  EXPECT_EQ(DeviceLines().size(), 50u);
}

TEST_F(IngestTest, WelcomeCarriesTheWatermark) {
  v1::Ack ack;
  ASSERT_TRUE(SendBatch(*ingest_, keys_.ingest_key, device_, BatchOf(1, 42), &ack).ok());
  std::vector<v1::IngestResponse> responses;
  ASSERT_TRUE(StreamStatus(keys_.ingest_key, {Hello()}, &responses).ok());
  ASSERT_EQ(responses.size(), 1u);
  ASSERT_TRUE(responses[0].has_welcome());
  EXPECT_EQ(responses[0].welcome().watermark(), 42u);
  EXPECT_EQ(responses[0].welcome().app(), "shop");
  // Clients compress batches themselves only with the codecs listed here.
  ASSERT_EQ(responses[0].welcome().batch_codecs_size(), 1);
  EXPECT_EQ(responses[0].welcome().batch_codecs(0), v1::CompressedBatch::CODEC_ZSTD);
}

TEST_F(IngestTest, AWrongKeyIsUnauthenticated) {
  grpc::Status status = StreamStatus("fl_ik_not_a_real_key", {Hello()});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("unknown or revoked ingest key"), std::string::npos);
  status = StreamStatus("", {Hello()});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("no ingest key"), std::string::npos);
}

TEST_F(IngestTest, AReadTokenCannotIngest) {
  for (const std::string& token : {keys_.read_token, server_.admin_token()}) {
    grpc::Status status = StreamStatus(token, {Hello(), BatchRequest(BatchOf(1, 1))});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_NE(status.error_message().find("cannot ingest"), std::string::npos);
  }
  EXPECT_TRUE(DeviceLines().empty());
}

TEST_F(IngestTest, ABatchBeforeHelloIsInvalid) {
  grpc::Status status = StreamStatus(keys_.ingest_key, {BatchRequest(BatchOf(1, 1))});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("batch before hello"), std::string::npos);
}

TEST_F(IngestTest, MalformedDeviceIdsAreInvalid) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "device.device_id is empty"},
      {std::string(129, 'd'), "device.device_id is 129 bytes; at most 128"},
      {"dev\xFF", "device.device_id is not valid UTF-8 at byte 3"},
      {"dev\nice", "device.device_id holds a control character"},
  };
  for (const auto& [id, message] : cases) {
    device_.set_device_id(id);
    grpc::Status status = StreamStatus(keys_.ingest_key, {Hello()});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << id;
    EXPECT_EQ(status.error_message(), "hello: " + message);
  }
}

TEST_F(IngestTest, AnEmptyRequestIsInvalid) {
  grpc::Status status = StreamStatus(keys_.ingest_key, {Hello(), v1::IngestRequest()});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("neither a hello nor a batch"), std::string::npos);
}

TEST_F(IngestTest, TooManyEntriesIsInvalid) {
  v1::Batch batch = BatchOf(1, kMaxEntriesPerBatch + 1);
  std::vector<v1::IngestResponse> responses;
  grpc::Status status = StreamStatus(keys_.ingest_key, {Hello(), BatchRequest(batch)}, &responses);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("10001 entries; at most 10000"), std::string::npos);
  EXPECT_TRUE(DeviceLines().empty());
}

TEST_F(IngestTest, AnOversizedMessageIsResourceExhausted) {
  v1::Batch batch = BatchOf(1, 1);
  batch.mutable_entries(0)->set_message(std::string(kMaxRequestBytes + 1, 'x'));
  grpc::Status status = StreamStatus(keys_.ingest_key, {Hello(), BatchRequest(batch)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(IngestTest, BadEntriesAreRejectedAndTheRestStored) {
  v1::Batch batch = BatchOf(1, 10);
  batch.mutable_entries(1)->set_seq(0);
  batch.mutable_entries(2)->set_message("bad \xC3\x28 utf8");
  batch.mutable_entries(3)->set_message(std::string(kMaxMessageBytes + 1, 'm'));
  batch.mutable_entries(4)->set_time_unix_micros(absl::ToUnixMicros(absl::Now() + absl::Hours(48)));
  for (int i = 0; i < 65; ++i) {
    v1::Attribute* a = batch.mutable_entries(5)->add_attributes();
    a->set_key("k" + std::to_string(i));
    a->mutable_value()->set_int_value(i);
  }
  batch.mutable_entries(6)->set_tag(std::string(200, 't'));
  batch.mutable_entries(7)->set_time_unix_micros(0);
  v1::Ack ack;
  ASSERT_TRUE(SendBatch(*ingest_, keys_.ingest_key, device_, batch, &ack).ok());
  EXPECT_EQ(ack.accepted(), 3u);
  ASSERT_EQ(ack.rejected_size(), 7);
  const std::vector<std::string> reasons = {
      "entry 1 (seq 0): seq is 0; sequence numbers start at 1",
      "entry 2 (seq 3): message is not valid UTF-8 at byte 4",
      "entry 3 (seq 4): message is 16385 bytes; at most 16384",
      "in the future of the server clock",
      "entry 5 (seq 6): has 65 attributes; at most 64",
      "entry 6 (seq 7): tag is 200 bytes; at most 128",
      "entry 7 (seq 8): time_unix_micros is not set",
  };
  for (size_t i = 0; i < reasons.size(); ++i) {
    EXPECT_NE(ack.rejected(i).reason().find(reasons[i]), std::string::npos)
        << ack.rejected(i).reason();
  }
  EXPECT_EQ(ack.rejected(3).index(), 4u);
  EXPECT_EQ(ack.rejected(3).seq(), 5u);
  std::vector<v1::LogLine> lines = DeviceLines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].seq(), 1u);
  EXPECT_EQ(lines[1].seq(), 9u);
  EXPECT_EQ(lines[2].seq(), 10u);
}

TEST_F(IngestTest, ACompressedBatchIsStoredLikeAPlainOne) {
  v1::Batch compressed = BatchOf(1, 200);
  compressed.mutable_entries(5)->set_message("bad \xC3\x28 utf8");
  const v1::Batch plain = BatchOf(201, 10);
  std::vector<v1::IngestResponse> responses;
  grpc::Status status = StreamStatus(
      keys_.ingest_key,
      {Hello(), CompressedRequest(Zstd(compressed.SerializeAsString())), BatchRequest(plain),
       CompressedRequest(Zstd(compressed.SerializeAsString()))},
      &responses);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(responses.size(), 4u);
  const v1::Ack& first = responses[1].ack();
  EXPECT_EQ(first.batch_id(), 1u);
  EXPECT_EQ(first.accepted(), 199u);
  ASSERT_EQ(first.rejected_size(), 1);
  EXPECT_NE(first.rejected(0).reason().find("entry 5 (seq 6): message is not valid UTF-8"),
            std::string::npos)
      << first.rejected(0).reason();
  EXPECT_EQ(responses[2].ack().accepted(), 10u);
  // The same compressed batch again: nothing new.
  EXPECT_EQ(responses[3].ack().accepted(), 0u);
  EXPECT_EQ(responses[3].ack().duplicates(), 199u);
  const std::vector<v1::LogLine> lines = DeviceLines();
  ASSERT_EQ(lines.size(), 209u);
  EXPECT_EQ(lines[0].message(), "line 1");
  EXPECT_EQ(lines[5].seq(), 7u);
  EXPECT_EQ(lines.back().seq(), 210u);
}

TEST_F(IngestTest, BadCompressedBatchesAreInvalidAndEarlierBatchesKept) {
  const std::string batch_bytes = BatchOf(11, 5).SerializeAsString();
  const std::string frame = Zstd(batch_bytes);
  // A decompression bomb: 9 MiB of zeros is a frame of a few hundred bytes.
  const std::string bomb = Zstd(std::string(kMaxRequestBytes + (1 << 20), '\0'));
  ASSERT_LT(bomb.size(), 4096u);
  const std::vector<std::pair<v1::IngestRequest, std::string>> cases = {
      {CompressedRequest(frame, v1::CompressedBatch::CODEC_UNSPECIFIED),
       "compressed_batch: codec 0 (CODEC_UNSPECIFIED) is not supported; this server reads "
       "CODEC_ZSTD (1)"},
      {CompressedRequest(frame, static_cast<v1::CompressedBatch::Codec>(9)),
       "compressed_batch: codec 9 is not supported"},
      {CompressedRequest("not zstd at all"),
       "compressed_batch: the 15 bytes of data are not a zstd frame"},
      {CompressedRequest(""), "compressed_batch: the 0 bytes of data are not a zstd frame"},
      {CompressedRequest(Zstd(batch_bytes, /*state_size=*/false)),
       "compressed_batch: the zstd frame does not state its content size"},
      {CompressedRequest(bomb), absl::StrCat("compressed_batch: the batch is ",
                                             kMaxRequestBytes + (1 << 20),
                                             " bytes decompressed; the limit is ",
                                             kMaxRequestBytes)},
      {CompressedRequest(frame.substr(0, frame.size() - 3)), "compressed_batch: zstd: "},
      {CompressedRequest(Zstd(std::string("\xFF\xFF\xFF garbage"))),
       "compressed_batch: the decompressed bytes are not a valid fieldlog.v1.Batch protobuf"},
  };
  uint64_t next_seq = 1;
  for (const auto& [bad, message] : cases) {
    // A good batch first, on the same stream: it stays stored.
    std::vector<v1::IngestResponse> responses;
    grpc::Status status = StreamStatus(
        keys_.ingest_key, {Hello(), CompressedRequest(Zstd(BatchOf(next_seq, 1).SerializeAsString())), bad},
        &responses);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << message;
    EXPECT_NE(status.error_message().find("request 3 of the stream: " + message), std::string::npos)
        << status.error_message();
    ASSERT_EQ(responses.size(), 2u) << message;
    EXPECT_EQ(responses[1].ack().accepted(), 1u);
    ++next_seq;
  }
  const std::vector<v1::LogLine> lines = DeviceLines();
  ASSERT_EQ(lines.size(), cases.size());
  EXPECT_EQ(lines.back().seq(), cases.size());
}

TEST_F(IngestTest, PushStoresOnceAndUpdatesTheDevice) {
  v1::PushRequest request;
  *request.mutable_device() = device_;
  v1::Attribute* model = request.mutable_device()->add_attributes();
  model->set_key("device.model");
  model->mutable_value()->set_string_value("Pixel 8");
  *request.mutable_batch() = BatchOf(1, 20);
  for (int attempt = 0; attempt < 2; ++attempt) {
    v1::PushResponse response;
    grpc::Status status = ingest_->Push(ContextWith(keys_.ingest_key).get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.ack().accepted(), attempt == 0 ? 20u : 0u);
    EXPECT_EQ(response.ack().duplicates(), attempt == 0 ? 0u : 20u);
  }
  EXPECT_EQ(DeviceLines().size(), 20u);
  v1::ListDevicesRequest list;
  list.set_app("shop");
  list.set_user_id("alice@example.com");
  v1::ListDevicesResponse devices;
  ASSERT_TRUE(
      server_.QueryStub()->ListDevices(ContextWith(keys_.read_token).get(), list, &devices).ok());
  ASSERT_EQ(devices.devices_size(), 1);
  EXPECT_EQ(devices.devices(0).lines(), 20u);
  ASSERT_EQ(devices.devices(0).attributes_size(), 1);
  EXPECT_EQ(devices.devices(0).attributes(0).value().string_value(), "Pixel 8");

  v1::PushResponse response;
  EXPECT_EQ(ingest_->Push(ContextWith("wrong").get(), request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  request.mutable_device()->clear_device_id();
  EXPECT_EQ(ingest_->Push(ContextWith(keys_.ingest_key).get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(IngestTest, ClockSkewIsCorrectedAndTheDeviceTimeKept) {
  // The device's clock is two days behind: its lines must land at "now".
  const absl::Duration skew = absl::Hours(48);
  v1::Batch batch;
  batch.set_batch_id(1);
  const absl::Time device_now = absl::Now() - skew;
  batch.set_sent_at_unix_micros(absl::ToUnixMicros(device_now));
  for (uint64_t s = 1; s <= 3; ++s) {
    v1::Entry* e = batch.add_entries();
    e->set_seq(s);
    e->set_time_unix_micros(absl::ToUnixMicros(device_now - absl::Seconds(4 - s)));
    e->set_message("skewed");
  }
  v1::Ack ack;
  ASSERT_TRUE(SendBatch(*ingest_, keys_.ingest_key, device_, batch, &ack).ok());
  EXPECT_EQ(ack.accepted(), 3u);
  EXPECT_NEAR(static_cast<double>(ack.clock_offset_micros()),
              static_cast<double>(absl::ToInt64Microseconds(skew)), 5e6);
  std::vector<v1::LogLine> lines = DeviceLines();  // default range: the last 24 h
  ASSERT_EQ(lines.size(), 3u);
  for (const v1::LogLine& line : lines) {
    EXPECT_LT(std::abs(line.time_unix_micros() - absl::ToUnixMicros(absl::Now())), 10'000'000);
    EXPECT_EQ(line.time_unix_micros() - line.device_time_unix_micros(), ack.clock_offset_micros());
  }
}

TEST_F(IngestTest, ManyStreamsAtOnceLoseNothing) {
  constexpr int kDevices = 8;
  constexpr int kBatches = 10;
  std::vector<std::thread> threads;
  for (int d = 0; d < kDevices; ++d) {
    threads.emplace_back([&, d] {
      auto stub = server_.IngestStub();
      auto context = ContextWith(keys_.ingest_key);
      auto stream = stub->Stream(context.get());
      v1::IngestRequest hello;
      hello.mutable_hello()->mutable_device()->set_device_id("dev-" + std::to_string(d));
      stream->Write(hello);
      for (int b = 0; b < kBatches; ++b) stream->Write(BatchRequest(BatchOf(b * 100 + 1, 100)));
      stream->WritesDone();
      v1::IngestResponse response;
      int acks = 0;
      while (stream->Read(&response)) acks += response.has_ack();
      EXPECT_TRUE(stream->Finish().ok());
      EXPECT_EQ(acks, kBatches);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int d = 0; d < kDevices; ++d) {
    EXPECT_EQ(DeviceLines("dev-" + std::to_string(d)).size(), 100u * kBatches);
  }
}

}  // namespace
}  // namespace fieldlog
