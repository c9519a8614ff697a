// The collector's defences and operations over real gRPC and a real store:
// malformed protobuf, rate limits and fairness, out-of-order batches, key
// rotation, draining on shutdown, TLS, metrics, health and reflection.
#include <grpcpp/generic/generic_stub.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "collector/ingest_service.h"
#include "common/limits.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::AppKeys;
using ::fieldlog::testing::ContextWith;
using ::fieldlog::testing::MakeEntry;
using ::fieldlog::testing::RunProcess;
using ::fieldlog::testing::SearchAll;
using ::fieldlog::testing::SendBatch;
using ::fieldlog::testing::TempDir;
using ::fieldlog::testing::TestServer;

v1::Batch BatchOf(uint64_t first_seq, uint64_t count, const std::string& user = "alice") {
  v1::Batch batch;
  batch.set_batch_id(first_seq);
  batch.set_user_id(user);
  batch.set_sent_at_unix_micros(absl::ToUnixMicros(absl::Now()));
  for (uint64_t s = first_seq; s < first_seq + count; ++s) {
    *batch.add_entries() = MakeEntry(s, "line " + std::to_string(s));
  }
  return batch;
}

v1::Device DeviceNamed(const std::string& id) {
  v1::Device device;
  device.set_device_id(id);
  return device;
}

std::vector<v1::LogLine> DeviceLines(TestServer& server, const std::string& token,
                                     const std::string& device, const std::string& app = "shop") {
  v1::SearchRequest request;
  request.set_app(app);
  request.set_device_id(device);
  std::vector<v1::LogLine> lines;
  grpc::Status status = SearchAll(*server.QueryStub(), token, request, &lines);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return lines;
}

// Sends raw bytes as the messages of a bidi call and returns its status.
grpc::Status RawStream(TestServer& server, const std::string& method, const std::string& key,
                       const std::vector<std::string>& messages) {
  grpc::GenericStub stub(server.channel());
  auto context = ContextWith(key);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(context.get(), method, &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  for (const std::string& bytes : messages) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, reinterpret_cast<void*>(2));
    cq.Next(&tag, &ok);
    if (!ok) break;
  }
  call->WritesDone(reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer reply;
  for (int i = 0; i < 100; ++i) {
    call->Read(&reply, reinterpret_cast<void*>(4));
    cq.Next(&tag, &ok);
    if (!ok) break;
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  return status;
}

std::string HelloBytes(const std::string& device) {
  v1::IngestRequest hello;
  *hello.mutable_hello()->mutable_device() = DeviceNamed(device);
  return hello.SerializeAsString();
}

TEST(CollectorTest, MalformedProtobufIsInvalidArgument) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  // A length-delimited field whose length runs past the end of the message.
  const std::string garbage("\x0a\xff\x01junk", 6);
  grpc::Status status = RawStream(server, "/fieldlog.v1.IngestService/Stream", keys.ingest_key,
                                  {HelloBytes("d1"), garbage});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "request 2 of the stream is not a valid fieldlog.v1.IngestRequest protobuf");

  v1::PushResponse response;
  grpc::GenericStub stub(server.channel());
  auto context = ContextWith(keys.ingest_key);
  grpc::Slice slice(garbage);
  grpc::ByteBuffer request(&slice, 1), reply;
  std::promise<grpc::Status> done;
  stub.UnaryCall(context.get(), "/fieldlog.v1.IngestService/Push", grpc::StubOptions(), &request,
                 &reply, [&](grpc::Status s) { done.set_value(s); });
  status = done.get_future().get();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("not a valid fieldlog.v1.PushRequest"), std::string::npos);
}

// The stream decodes batches from the wire itself (collector/wire_batch.h):
// what protobuf would refuse it refuses alike, and what it stores views the
// request's bytes, whatever shape gRPC handed them over in.
TEST(CollectorTest, BatchesDecodedFromTheWireAreStoredIntactOrRefusedLikeProtobuf) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  const auto batch_request = [](const v1::Batch& batch) {
    v1::IngestRequest request;
    *request.mutable_batch() = batch;
    return request.SerializeAsString();
  };
  // Small: gRPC hands it over in one slice, which the batch views in place.
  v1::Batch tiny;
  v1::Entry* entry = tiny.add_entries();
  entry->set_seq(1);
  entry->set_time_unix_micros(absl::ToUnixMicros(absl::Now()));
  entry->set_message("tiny");
  const std::string tiny_bytes = batch_request(tiny);
  // Large: it arrives in several slices, copied once into one piece.
  v1::Batch large = BatchOf(2, 100);
  for (v1::Entry& e : *large.mutable_entries()) e.set_message(std::string(16000, 'L'));
  // Split over two fields, which protobuf merges, with a hello between that
  // the oneof's last batch replaces: left to protobuf, then re-encoded.
  v1::IngestRequest hello;
  *hello.mutable_hello()->mutable_device() = DeviceNamed("d1");
  const std::string mixed = batch_request(BatchOf(500, 1)) + hello.SerializeAsString() +
                            batch_request(BatchOf(102, 2)) + batch_request(BatchOf(104, 1));
  // An entry whose message runs past the end of the entry: refused like
  // protobuf refuses it, after the batches before it were stored.
  std::string truncated = batch_request(BatchOf(200, 1));
  truncated[truncated.find("line 200") - 1] = static_cast<char>(0x7F);
  ASSERT_FALSE(v1::IngestRequest().ParseFromString(truncated));

  grpc::Status status =
      RawStream(server, "/fieldlog.v1.IngestService/Stream", keys.ingest_key,
                {HelloBytes("d1"), tiny_bytes, batch_request(large), mixed, truncated});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "request 5 of the stream is not a valid fieldlog.v1.IngestRequest protobuf");
  std::map<uint64_t, std::string> stored;
  for (const v1::LogLine& line : DeviceLines(server, keys.read_token, "d1")) {
    stored[line.seq()] = line.message();
  }
  ASSERT_EQ(stored.size(), 104u);
  EXPECT_EQ(stored[1], "tiny");
  EXPECT_EQ(stored[2], std::string(16000, 'L'));
  EXPECT_EQ(stored[101], std::string(16000, 'L'));
  EXPECT_EQ(stored[102], "line 102");
  EXPECT_EQ(stored[104], "line 104");
  EXPECT_EQ(stored.count(500), 0u);
}

TEST(CollectorTest, OutOfOrderBatchesAreAllStoredOnce) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  auto ingest = server.IngestStub();
  v1::Ack ack;
  ASSERT_TRUE(SendBatch(*ingest, keys.ingest_key, DeviceNamed("d1"), BatchOf(201, 100), &ack).ok());
  EXPECT_EQ(ack.watermark(), 300u);
  ASSERT_TRUE(SendBatch(*ingest, keys.ingest_key, DeviceNamed("d1"), BatchOf(1, 200), &ack).ok());
  EXPECT_EQ(ack.accepted(), 200u);
  ASSERT_TRUE(SendBatch(*ingest, keys.ingest_key, DeviceNamed("d1"), BatchOf(150, 100), &ack).ok());
  EXPECT_EQ(ack.accepted(), 0u);
  EXPECT_EQ(ack.duplicates(), 100u);
  // (The timeline is in time order; the later seqs were stamped first here.)
  std::vector<v1::LogLine> lines = DeviceLines(server, keys.read_token, "d1");
  ASSERT_EQ(lines.size(), 300u);
  std::vector<uint64_t> seqs;
  for (const v1::LogLine& line : lines) seqs.push_back(line.seq());
  std::sort(seqs.begin(), seqs.end());
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);
}

TEST(CollectorTest, OverTheRateLimitTheClientIsToldWhenToRetry) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  v1::UpdateAppRequest update;
  update.set_name("shop");
  update.mutable_settings()->set_device_lines_per_second(100);  // bucket: 60 s = 6,000 lines
  v1::AppInfo info;
  ASSERT_TRUE(
      server.AdminStub()->UpdateApp(ContextWith(server.admin_token()).get(), update, &info).ok());
  EXPECT_EQ(info.settings().device_lines_per_second(), 100);

  auto context = ContextWith(keys.ingest_key);
  auto stream = server.IngestStub()->Stream(context.get());
  v1::IngestRequest hello;
  *hello.mutable_hello()->mutable_device() = DeviceNamed("flood");
  ASSERT_TRUE(stream->Write(hello));
  for (uint64_t b = 0; b < 4; ++b) {
    v1::IngestRequest request;
    *request.mutable_batch() = BatchOf(1 + b * 2000, 2000);
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  v1::IngestResponse response;
  int acks = 0;
  while (stream->Read(&response)) acks += response.has_ack();
  grpc::Status status = stream->Finish();
  EXPECT_EQ(acks, 3) << "the batches within the bucket are stored and acked";
  ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("rate limit"), std::string::npos);
  // The delay, three ways: in words, in the pushback trailer, in RetryInfo.
  const auto& trailers = context->GetServerTrailingMetadata();
  auto pushback = trailers.find("grpc-retry-pushback-ms");
  ASSERT_NE(pushback, trailers.end());
  const int millis = std::stoi(std::string(pushback->second.data(), pushback->second.size()));
  EXPECT_GT(millis, 15000);  // 2,000 lines at 100/s: about 20 s
  EXPECT_LE(millis, 20000);
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  ASSERT_EQ(details.details_size(), 1);
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(details.details(0).UnpackTo(&retry));
  EXPECT_EQ(retry.retry_delay().seconds() * 1000 + retry.retry_delay().nanos() / 1000000, millis);
  EXPECT_EQ(DeviceLines(server, keys.read_token, "flood").size(), 6000u);
}

TEST(CollectorTest, AFloodingDeviceDoesNotSlowTheOthers) {
  server::ServerOptions options;
  options.ingest.default_device_lines_per_second = 2000;
  options.ingest.burst_seconds = 1;
  TestServer server(options);
  const AppKeys keys = server.CreateApp("shop");
  std::atomic<bool> stop{false};
  std::atomic<int> flood_throttled{0};
  std::thread flood([&] {
    auto stub = server.IngestStub();
    uint64_t seq = 1;
    const auto deadline = absl::Now() + absl::Seconds(3);
    while (!stop && absl::Now() < deadline) {
      v1::Ack ack;
      grpc::Status status =
          SendBatch(*stub, keys.ingest_key, DeviceNamed("flood"), BatchOf(seq, 1000), &ack);
      if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        ++flood_throttled;
      } else {
        seq += 1000;
      }
    }
  });
  // A quiet device keeps getting its acks quickly.
  auto stub = server.IngestStub();
  absl::Duration slowest = absl::ZeroDuration();
  for (uint64_t i = 0; i < 20; ++i) {
    const absl::Time start = absl::Now();
    v1::Ack ack;
    ASSERT_TRUE(
        SendBatch(*stub, keys.ingest_key, DeviceNamed("quiet"), BatchOf(1 + i * 50, 50), &ack)
            .ok());
    EXPECT_EQ(ack.accepted(), 50u);
    slowest = std::max(slowest, absl::Now() - start);
    absl::SleepFor(absl::Milliseconds(50));
  }
  stop = true;
  flood.join();
  EXPECT_GT(flood_throttled.load(), 0) << "the flood was held to its rate";
  EXPECT_LT(slowest, absl::Milliseconds(500)) << "the quiet device was not slowed";
  EXPECT_EQ(DeviceLines(server, keys.read_token, "quiet").size(), 1000u);
}

TEST(CollectorTest, KeysRotateWithoutDowntimeAndRevokedKeysAreRefused) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  auto admin = server.AdminStub();
  v1::CreateKeyRequest create;
  create.set_app("shop");
  create.set_kind(v1::KEY_KIND_INGEST);
  v1::CreateKeyResponse second;
  ASSERT_TRUE(admin->CreateKey(ContextWith(server.admin_token()).get(), create, &second).ok());
  EXPECT_TRUE(second.secret().starts_with("fl_ik_"));

  auto ingest = server.IngestStub();
  v1::Ack ack;
  ASSERT_TRUE(SendBatch(*ingest, keys.ingest_key, DeviceNamed("d1"), BatchOf(1, 5), &ack).ok());
  ASSERT_TRUE(SendBatch(*ingest, second.secret(), DeviceNamed("d1"), BatchOf(6, 5), &ack).ok());

  v1::ListKeysRequest list;
  list.set_app("shop");
  v1::ListKeysResponse listed;
  ASSERT_TRUE(admin->ListKeys(ContextWith(server.admin_token()).get(), list, &listed).ok());
  ASSERT_EQ(listed.keys_size(), 3);  // the first ingest key, the read token, the new key
  std::string old_id;
  for (const v1::KeyInfo& key : listed.keys()) {
    EXPECT_EQ(key.app(), "shop");
    EXPECT_EQ(key.key_id().size(), 12u);
    if (key.kind() == v1::KEY_KIND_INGEST && keys.ingest_key.starts_with(key.prefix())) {
      old_id = key.key_id();
    }
    EXPECT_EQ(listed.DebugString().find(keys.ingest_key), std::string::npos) << "no secrets";
  }
  ASSERT_FALSE(old_id.empty());
  v1::RevokeKeyRequest revoke;
  revoke.set_app("shop");
  revoke.set_key_id(old_id);
  v1::KeyInfo revoked;
  ASSERT_TRUE(admin->RevokeKey(ContextWith(server.admin_token()).get(), revoke, &revoked).ok());
  EXPECT_TRUE(revoked.revoked());

  grpc::Status status =
      SendBatch(*ingest, keys.ingest_key, DeviceNamed("d1"), BatchOf(11, 5), &ack);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(SendBatch(*ingest, second.secret(), DeviceNamed("d1"), BatchOf(11, 5), &ack).ok());
  EXPECT_EQ(DeviceLines(server, keys.read_token, "d1").size(), 15u);

  revoke.set_key_id("000000000000");
  EXPECT_EQ(
      admin->RevokeKey(ContextWith(server.admin_token()).get(), revoke, &revoked).error_code(),
      grpc::StatusCode::NOT_FOUND);
  revoke.set_app("nope");
  EXPECT_EQ(
      admin->RevokeKey(ContextWith(server.admin_token()).get(), revoke, &revoked).error_code(),
      grpc::StatusCode::NOT_FOUND);
}

TEST(CollectorTest, ShutdownAcksWhatWasReadThenEndsStreamsWithUnavailable) {
  TempDir dir;
  AppKeys keys;
  std::vector<uint64_t> acked;
  {
    TestServer server(dir.path());
    keys = server.CreateApp("shop");
    auto context = ContextWith(keys.ingest_key);
    auto stream = server.IngestStub()->Stream(context.get());
    v1::IngestRequest hello;
    *hello.mutable_hello()->mutable_device() = DeviceNamed("d1");
    ASSERT_TRUE(stream->Write(hello));
    v1::IngestResponse response;
    ASSERT_TRUE(stream->Read(&response));  // welcome
    for (uint64_t b = 0; b < 3; ++b) {
      v1::IngestRequest request;
      *request.mutable_batch() = BatchOf(1 + b * 100, 100);
      ASSERT_TRUE(stream->Write(request));
    }
    std::thread stopper([&] { server.server().Shutdown(absl::Seconds(5)); });
    while (stream->Read(&response)) {
      if (response.has_ack()) acked.push_back(response.ack().batch_id());
    }
    grpc::Status status = stream->Finish();
    stopper.join();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_NE(status.error_message().find("shutting down"), std::string::npos);
  }
  // Everything acknowledged is there after a restart.
  TestServer server(dir.path());
  std::vector<v1::LogLine> lines = DeviceLines(server, keys.read_token, "d1");
  EXPECT_GE(lines.size(), acked.size() * 100);
}

TEST(CollectorTest, GroupCommitAcksOnlyAfterFsyncAndSharesFsyncs) {
  server::ServerOptions options;
  options.sync = store::SyncPolicy::kInterval;
  options.sync_interval = absl::Milliseconds(20);
  TestServer server(options);
  const AppKeys keys = server.CreateApp("shop");
  std::vector<std::thread> senders;
  std::atomic<int> acked{0};
  for (int d = 0; d < 8; ++d) {
    senders.emplace_back([&, d] {
      auto stub = server.IngestStub();
      for (int b = 0; b < 5; ++b) {
        v1::Ack ack;
        if (SendBatch(*stub, keys.ingest_key, DeviceNamed("d" + std::to_string(d)),
                      BatchOf(1 + b * 10, 10), &ack)
                .ok() &&
            ack.accepted() == 10) {
          ++acked;
        }
      }
    });
  }
  for (auto& t : senders) t.join();
  EXPECT_EQ(acked.load(), 40);
  // 40 batches from 8 devices; an fsync every 20 ms serves several at once.
  const std::string metrics = server.server().metrics().RenderPrometheus();
  EXPECT_NE(metrics.find("fieldlog_ingest_lines_total 400"), std::string::npos) << metrics;
  const size_t at = metrics.find("\nfieldlog_store_group_syncs ");
  ASSERT_NE(at, std::string::npos);
  const int syncs = std::stoi(metrics.substr(at + 28));
  EXPECT_GT(syncs, 0);
  EXPECT_LT(syncs, 40) << "fsyncs were shared between batches";
}

std::string HttpGet(const std::string& address, const std::string& path) {
  const size_t colon = address.rfind(':');
  httplib::Client client(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
  auto result = client.Get(path);
  return result ? result->body : "";
}

TEST(CollectorTest, MetricsCountWhatHappened) {
  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  v1::Batch batch = BatchOf(1, 10);
  batch.mutable_entries(3)->set_message("bad \xFF");
  batch.mutable_entries(4)->set_seq(0);
  v1::Ack ack;
  ASSERT_TRUE(
      SendBatch(*server.IngestStub(), keys.ingest_key, DeviceNamed("d1"), batch, &ack).ok());
  SendBatch(*server.IngestStub(), "fl_ik_wrong", DeviceNamed("d1"), batch, &ack);

  const std::string metrics = HttpGet(server.server().http_address(), "/metrics");
  for (const char* line : {
           "fieldlog_ingest_lines_total 8\n",
           "fieldlog_ingest_rejected_lines_total{reason=\"invalid_utf8\"} 1\n",
           "fieldlog_ingest_rejected_lines_total{reason=\"invalid_seq\"} 1\n",
           "fieldlog_ingest_call_errors_total{code=\"UNAUTHENTICATED\"} 1\n",
           "fieldlog_ingest_ack_latency_seconds_count 1\n",
           "# TYPE fieldlog_ingest_ack_latency_seconds histogram\n",
           "fieldlog_rocksdb_pending_compaction_bytes ",
           "fieldlog_rocksdb_write_stalls ",
       }) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << "\n" << metrics;
  }
  EXPECT_EQ(HttpGet(server.server().http_address(), "/healthz"), "ok\n");
}

TEST(CollectorTest, HealthCheckingAndReflectionAnswer) {
  TestServer server;
  grpc::GenericStub stub(server.channel());
  const auto unary = [&](const std::string& method, const std::string& bytes) {
    grpc::ClientContext context;
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), reply;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &reply,
                   [&](grpc::Status s) { done.set_value(s); });
    EXPECT_TRUE(done.get_future().get().ok()) << method;
    std::vector<grpc::Slice> slices;
    reply.Dump(&slices);
    std::string out;
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return out;
  };
  // grpc.health.v1.HealthCheckResponse{status: SERVING (1)} is the bytes 08 01.
  EXPECT_EQ(unary("/grpc.health.v1.Health/Check", ""), std::string("\x08\x01", 2));

  // ServerReflection: list_services (field 7 = "*").
  grpc::ClientContext context;
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  call->StartCall(nullptr);
  cq.Next(&tag, &ok);
  grpc::Slice slice(std::string("\x3a\x01*", 3));
  grpc::ByteBuffer request(&slice, 1), reply;
  call->Write(request, nullptr);
  cq.Next(&tag, &ok);
  call->Read(&reply, nullptr);
  cq.Next(&tag, &ok);
  ASSERT_TRUE(ok);
  std::vector<grpc::Slice> slices;
  reply.Dump(&slices);
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  for (const char* service : {"fieldlog.v1.IngestService", "fieldlog.v1.QueryService",
                              "fieldlog.v1.AdminService", "grpc.health.v1.Health"}) {
    EXPECT_NE(out.find(service), std::string::npos) << service;
  }
  context.TryCancel();
  grpc::Status status;
  call->Finish(&status, nullptr);
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// TLS with a certificate made for the test by the openssl command.
TEST(CollectorTest, ServesTlsAndRequiresClientCertificatesWhenAsked) {
  TempDir dir;
  const std::string ca_key = dir.path() + "/ca.key", ca = dir.path() + "/ca.pem";
  const std::string key = dir.path() + "/server.key", csr = dir.path() + "/server.csr",
                    cert = dir.path() + "/server.pem", ext = dir.path() + "/ext.cnf";
  std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  for (const std::vector<std::string>& command : {
           std::vector<std::string>{"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048",
                                    "-nodes", "-keyout", ca_key, "-out", ca, "-days", "1", "-subj",
                                    "/CN=fieldlog test CA"},
           std::vector<std::string>{"/usr/bin/openssl", "req", "-newkey", "rsa:2048", "-nodes",
                                    "-keyout", key, "-out", csr, "-subj", "/CN=localhost"},
           std::vector<std::string>{"/usr/bin/openssl", "x509", "-req", "-in", csr, "-CA", ca,
                                    "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "1",
                                    "-extfile", ext},
       }) {
    ASSERT_EQ(RunProcess(command).exit_code, 0) << command[1];
  }
  const auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };

  server::ServerOptions options;
  options.tls_cert_path = cert;
  options.tls_key_path = key;
  TestServer server(options);
  const AppKeys keys = [&] {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = read(ca);
    auto channel = grpc::CreateChannel(server.address(), grpc::SslCredentials(ssl));
    v1::CreateAppRequest request;
    request.set_name("shop");
    v1::CreateAppResponse response;
    grpc::Status status = v1::AdminService::NewStub(channel)->CreateApp(
        ContextWith(server.admin_token()).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return AppKeys{response.app(), response.ingest_key(), response.read_token()};
  }();
  EXPECT_TRUE(keys.ingest_key.starts_with("fl_ik_"));

  // A plaintext client cannot talk to a TLS server.
  v1::ListAppsResponse apps;
  auto plain = v1::AdminService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
  auto context = ContextWith(server.admin_token());
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  EXPECT_FALSE(plain->ListApps(context.get(), {}, &apps).ok());
  server.Stop();

  // Mutual TLS: a client without a certificate is refused.
  options.tls_client_ca_path = ca;
  TestServer mutual(options);
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = read(ca);
  auto anonymous = v1::AdminService::NewStub(
      grpc::CreateChannel(mutual.address(), grpc::SslCredentials(no_cert)));
  context = ContextWith(mutual.admin_token());
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  EXPECT_FALSE(anonymous->ListApps(context.get(), {}, &apps).ok());
  grpc::SslCredentialsOptions with_cert = no_cert;
  with_cert.pem_cert_chain = read(cert);  // any certificate the CA signed
  with_cert.pem_private_key = read(key);
  auto known = v1::AdminService::NewStub(
      grpc::CreateChannel(mutual.address(), grpc::SslCredentials(with_cert)));
  grpc::Status status = known->ListApps(ContextWith(mutual.admin_token()).get(), {}, &apps);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// The value of a plain metric line "name value" in /metrics text.
TEST(CollectorTest, ASlowDiskPushesBackInsteadOfBuffering) {
  // Fsyncs seconds apart (a slow disk under --sync interval): acks wait, and
  // the stream must stop reading rather than pile up requests.
  server::ServerOptions options;
  options.sync = store::SyncPolicy::kInterval;
  options.sync_interval = absl::Seconds(3);
  TestServer server(options);
  const AppKeys keys = server.CreateApp("shop");
  auto context = ContextWith(keys.ingest_key);
  auto stream = server.IngestStub()->Stream(context.get());
  v1::IngestRequest hello;
  *hello.mutable_hello()->mutable_device() = DeviceNamed("d1");
  ASSERT_TRUE(stream->Write(hello));
  v1::IngestRequest request;
  *request.mutable_batch() = BatchOf(1 + 39 * 200, 200);  // the largest batch below
  const size_t batch_bytes = request.ByteSizeLong();
  // The client writes as fast as flow control lets it, from another thread;
  // what the server does not read stays in gRPC's flow-control window.
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int b = 0; b < 40; ++b) {
      v1::IngestRequest r;
      *r.mutable_batch() = BatchOf(1 + b * 200, 200);
      if (!stream->Write(r)) break;
      ++written;
    }
  });
  absl::SleepFor(absl::Milliseconds(500));
  const double read_by_server = server.MetricValue("fieldlog_ingest_request_bytes_total");
  // Read second: a sync after the byte count only loosens the bound.
  const double syncs = server.MetricValue("fieldlog_store_group_syncs");
  // Reads stop at kMaxOutstanding unacked batches, and only an fsync acks
  // any: before the first, the server holds at most kMaxOutstanding; each
  // fsync releases at most kMaxOutstanding more. (On an idle machine this is
  // one sync and five batches; a starved machine may fold more into the
  // first sync, or reach the second.) Anything near the 40 on offer means
  // the stream buffers instead of pushing back.
  ASSERT_GE(syncs, 0) << "fieldlog_store_group_syncs is exported";
  ASSERT_LT(syncs, 4) << "the machine stalled for seconds; the measurement means nothing";
  EXPECT_LE(read_by_server,
            (syncs + 1) * collector::IngestService::kMaxOutstanding * batch_bytes + 200);
  EXPECT_GE(read_by_server, batch_bytes) << "it did start";
  context->TryCancel();
  writer.join();
  stream->Finish();
}

TEST(CollectorTest, AThousandConcurrentStreamsStayWithinBoundedMemory) {
  server::ServerOptions options;
  TestServer server(options);
  const AppKeys keys = server.CreateApp("shop");
  constexpr int kStreams = 1000, kChannels = 10;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c < kChannels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("fieldlog.test.channel", c);  // distinct args: one connection each
    channels.push_back(
        grpc::CreateCustomChannel(server.address(), grpc::InsecureChannelCredentials(), args));
  }
  struct Call {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientAsyncReaderWriter<v1::IngestRequest, v1::IngestResponse>> stream;
    v1::IngestResponse response;
    int step = 0;
  };
  grpc::CompletionQueue cq;
  std::vector<Call> calls(kStreams);
  const v1::Batch batch = BatchOf(1, 20);
  for (int i = 0; i < kStreams; ++i) {
    calls[i].context = ContextWith(keys.ingest_key);
    calls[i].stream = v1::IngestService::NewStub(channels[i % kChannels])
                          ->AsyncStream(calls[i].context.get(), &cq, &calls[i]);
  }
  // Each call: started -> hello written -> welcome read -> batch written ->
  // ack read, then it stays open.
  int acked = 0;
  void* tag;
  bool ok;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(60);
  while (acked < kStreams &&
         cq.AsyncNext(&tag, &ok, deadline) == grpc::CompletionQueue::GOT_EVENT) {
    Call& call = *static_cast<Call*>(tag);
    ASSERT_TRUE(ok) << "step " << call.step;
    const int index = static_cast<int>(&call - calls.data());
    switch (call.step++) {
      case 0: {
        v1::IngestRequest hello;
        *hello.mutable_hello()->mutable_device() = DeviceNamed("dev-" + std::to_string(index));
        call.stream->Write(hello, &call);
        break;
      }
      case 1:
      case 3:
        call.stream->Read(&call.response, &call);
        break;
      case 2: {
        v1::IngestRequest request;
        *request.mutable_batch() = batch;
        call.stream->Write(request, &call);
        break;
      }
      case 4:
        EXPECT_TRUE(call.response.has_ack());
        ++acked;
        break;
    }
  }
  ASSERT_EQ(acked, kStreams);
  EXPECT_EQ(server.MetricValue("fieldlog_ingest_open_streams"), kStreams);
  // Resident memory of the whole test process (server and 1,000 client
  // streams): bounded, not growing with what was sent.
  std::ifstream status("/proc/self/status");
  std::string line;
  long rss_kib = 0;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss_kib = std::stol(line.substr(6));
  }
  EXPECT_LT(rss_kib, 512 * 1024) << "VmRSS " << rss_kib << " KiB with " << kStreams << " streams";
  std::cerr << "VmRSS with " << kStreams << " open streams: " << rss_kib / 1024 << " MiB\n";
  for (Call& call : calls) call.context->TryCancel();
  for (Call& call : calls) {
    grpc::Status status;
    call.stream->Finish(&status, &call);
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace
}  // namespace fieldlog
