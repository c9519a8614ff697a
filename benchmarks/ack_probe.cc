#include "benchmarks/ack_probe.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fieldlog/v1/ingest.grpc.pb.h"

namespace fieldlog::bench {

AckProbe::AckProbe(const Fleet& fleet, const AckProbeOptions& options)
    : fleet_(fleet),
      options_(options),
      round_trips_(static_cast<size_t>(options.probes)),
      errors_(static_cast<size_t>(options.probes)) {
  for (int p = 0; p < options_.probes; ++p) threads_.emplace_back([this, p] { Run(p); });
}

AckProbe::~AckProbe() { Stop(); }

Histogram AckProbe::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  Histogram all;
  for (const Histogram& h : round_trips_) all.Merge(h);
  for (const std::string& e : errors_) {
    if (!e.empty()) error_ = e;
  }
  return all;
}

void AckProbe::Run(int probe) {
  grpc::ChannelArguments args;
  // A connection of its own, like a separate device.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = v1::IngestService::NewStub(
      grpc::CreateCustomChannel(options_.address, grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + options_.ingest_key);
  auto stream = stub->Stream(&context);

  v1::IngestRequest hello;
  hello.mutable_hello()->mutable_device()->set_device_id(absl::StrCat("bench-probe-", probe));
  hello.mutable_hello()->set_agent("fieldlog-bench-probe");
  v1::IngestResponse response;
  if (!stream->Write(hello) || !stream->Read(&response) || !response.has_welcome()) {
    errors_[probe] = absl::StrCat("probe ", probe, ": no welcome: ",
                                  stream->Finish().error_message());
    return;
  }
  uint64_t seq = response.welcome().watermark();
  const GeneratedLines lines = fleet_.Lines(probe % fleet_.devices());
  v1::IngestRequest request;
  v1::Batch* batch = request.mutable_batch();
  for (size_t i = 0; i < options_.batch_lines; ++i) {
    const LineView line = lines[i % lines.size()];
    v1::Entry* entry = batch->add_entries();
    entry->set_level(line.level);
    entry->set_tag(line.tag.data(), line.tag.size());
    entry->set_message(line.message.data(), line.message.size());
  }
  for (uint64_t id = 1; !stop_; ++id) {
    const int64_t now = absl::ToUnixMicros(absl::Now());
    batch->set_batch_id(id);
    batch->set_sent_at_unix_micros(now);
    for (v1::Entry& entry : *batch->mutable_entries()) {
      entry.set_seq(++seq);
      entry.set_time_unix_micros(now);
    }
    const absl::Time sent = absl::Now();
    if (!stream->Write(request)) break;
    bool acked = false;
    while (stream->Read(&response)) {
      if (response.has_ack()) {
        acked = true;
        break;
      }
    }
    if (!acked) break;
    round_trips_[probe].Add(absl::ToDoubleMicroseconds(absl::Now() - sent));
    lines_ += response.ack().accepted();
    if (!stop_) absl::SleepFor(options_.pause);
  }
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  if (!status.ok() && !stop_) {
    errors_[probe] = absl::StrCat("probe ", probe, ": ", status.error_message());
  }
}

}  // namespace fieldlog::bench
