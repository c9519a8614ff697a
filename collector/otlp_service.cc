#include "collector/otlp_service.h"

#include <grpcpp/support/proto_buffer_reader.h>

#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "collector/otlp_dedupe.h"
#include "collector/validation.h"
#include "common/grpc_status.h"
#include "common/limits.h"
#include "common/text.h"
#include "common/time_util.h"

namespace fieldlog::collector {
namespace {

using opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse;

constexpr absl::string_view kKeyHeader = "x-fieldlog-key";

bool Parse(const grpc::ByteBuffer& bytes, google::protobuf::Message* message) {
  grpc::ByteBuffer copy = bytes;  // the reader consumes its buffer
  grpc::ProtoBufferReader reader(&copy);
  return message->ParseFromZeroCopyStream(&reader);
}

grpc::ByteBuffer Serialize(const google::protobuf::Message& message) {
  grpc::ByteBuffer buffer;
  bool own_buffer;
  grpc::SerializationTraits<google::protobuf::Message>::Serialize(message, &buffer, &own_buffer);
  return buffer;
}

// OK, with partial_success only when something was rejected (the
// specification wants it unset on full success).
ExportLogsServiceResponse MakeResponse(size_t total,
                                       const std::vector<otlp::RejectedRecord>& rejected) {
  ExportLogsServiceResponse response;
  if (rejected.empty()) return response;
  auto* partial = response.mutable_partial_success();
  partial->set_rejected_log_records(static_cast<int64_t>(rejected.size()));
  std::string message = absl::StrCat(rejected.size(), " of ", total,
                                     " log records rejected (the others are stored): ");
  for (size_t i = 0; i < rejected.size() && i < OtlpService::kReasonsQuoted; ++i) {
    absl::StrAppend(&message, i > 0 ? "; " : "", rejected[i].where, ": ", rejected[i].reason);
  }
  if (rejected.size() > OtlpService::kReasonsQuoted) {
    absl::StrAppend(&message, "; and ", rejected.size() - OtlpService::kReasonsQuoted, " more");
  }
  // Reasons quote client text (keys, ids); the field is a proto `string`.
  partial->set_error_message(SanitizeUtf8(message));
  return response;
}

std::string StatusCodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

absl::Mutex& OtlpService::DeviceLock(store::AppId app, absl::string_view device_id) {
  return device_locks_[absl::HashOf(app, device_id) % device_locks_.size()];
}

absl::Status OtlpService::StoreDevice(const store::Credential& app, otlp::DeviceRecords& group,
                                      Outcome* outcome) {
  const v1::Device& device = group.device;
  const auto reject_all = [&](const char* code, const std::string& reason) {
    for (const otlp::MappedRecord& r : group.records) {
      outcome->rejected.push_back({r.where, code, reason});
      core_->metrics().Rejected(code)->Add();
    }
  };
  if (absl::Status s = ValidateDevice(device); !s.ok()) {
    reject_all("invalid_device", std::string(s.message()));
    return absl::OkStatus();
  }

  absl::MutexLock lock(&DeviceLock(app.app_id, device.device_id()));
  absl::StatusOr<uint64_t> watermark = core_->Watermark(app, device);
  if (!watermark.ok()) return watermark.status();
  if (otlp::IsAgentDevice(*watermark)) {
    reject_all("agent_device",
               absl::StrCat("device '", device.device_id(),
                            "' is fed by the fieldlog agent, which numbers its lines itself; "
                            "give OpenTelemetry records a device id of their own "
                            "(resource attribute app.installation.id or device.id)"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<bool>> stored =
      otlp::FindStored(*store_, app.app_id, device.device_id(), *watermark, group.records);
  if (!stored.ok()) return stored.status();
  // A line found stored may still await its fsync: answer no sooner than
  // everything written so far is durable.
  outcome->sequence = std::max(outcome->sequence, store_->db()->GetLatestSequenceNumber());

  // One batch per (user, session), as a fieldlog batch has one of each, in
  // order of first appearance; `where` keeps each entry's place in the export.
  struct Pending {
    v1::Batch batch;
    std::vector<const std::string*> where;
  };
  std::vector<Pending> pending;
  absl::flat_hash_map<std::pair<std::string, std::string>, size_t> index;
  uint32_t duplicates = 0;
  for (size_t i = 0; i < group.records.size(); ++i) {
    otlp::MappedRecord& record = group.records[i];
    if ((*stored)[i]) {
      ++duplicates;
      continue;
    }
    auto [it, inserted] =
        index.try_emplace(std::make_pair(record.user_id, record.session_id), pending.size());
    if (inserted) {
      Pending& p = pending.emplace_back();
      p.batch.set_user_id(record.user_id);
      p.batch.set_session_id(record.session_id);
    }
    Pending& p = pending[it->second];
    *p.batch.add_entries() = std::move(record.entry);
    p.where.push_back(&record.where);
  }
  core_->metrics().lines_duplicate->Add(duplicates);

  // Consecutive seqs, so the device's stored set stays one range.
  uint64_t next_seq = otlp::NextOtlpSeq(*watermark);
  bool update_device = device.attributes_size() > 0;
  for (Pending& p : pending) {
    for (int first = 0; first < p.batch.entries_size();
         first += static_cast<int>(kMaxEntriesPerBatch)) {
      const int count =
          std::min(p.batch.entries_size() - first, static_cast<int>(kMaxEntriesPerBatch));
      v1::Batch chunk;
      chunk.set_user_id(p.batch.user_id());
      chunk.set_session_id(p.batch.session_id());
      for (int i = first; i < first + count; ++i) {
        v1::Entry* entry = chunk.add_entries();
        *entry = std::move(*p.batch.mutable_entries(i));
        entry->set_seq(next_seq++);
      }
      absl::StatusOr<StoredBatch> result = core_->StoreBatch(app, device, update_device, chunk);
      if (!result.ok()) return result.status();
      update_device = false;
      outcome->sequence = std::max(outcome->sequence, result->sequence);
      // The collector's checks run again at store time (the clock moved on).
      for (const v1::Rejection& r : result->ack.rejected()) {
        outcome->rejected.push_back(
            {*p.where[first + static_cast<int>(r.index())], "invalid_entry", r.reason()});
      }
    }
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* OtlpService::Export(grpc::CallbackServerContext* context,
                                              const grpc::ByteBuffer* request_bytes,
                                              grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Every way out counts in the metrics.
  const auto finish = [core = core_, reactor](const grpc::Status& status) {
    if (!status.ok()) core->metrics().CallErrors(StatusCodeName(status.error_code()))->Add();
    reactor->Finish(status);
  };
  core_->metrics().bytes_received->Add(request_bytes->Length());
  const absl::Time received = absl::Now();

  absl::StatusOr<store::Credential> app =
      core_->AuthenticateIngest(CredentialFromMetadata(*context, kKeyHeader));
  if (!app.ok()) {
    finish(ToGrpcStatus(app.status()));
    return reactor;
  }
  auto mapped = std::make_shared<otlp::MappedExport>();
  {
    ExportLogsServiceRequest request;
    if (!Parse(*request_bytes, &request)) {
      finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the request is not a valid "
                          "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest "
                          "protobuf"));
      return reactor;
    }
    *mapped = otlp::MapExport(request, NowUnixMicros());
  }
  for (const otlp::RejectedRecord& r : mapped->rejected) core_->metrics().Rejected(r.code)->Add();

  for (const otlp::DeviceRecords& group : mapped->devices) {
    const absl::Duration wait = core_->Admit(*app, group.device.device_id(), group.records.size());
    if (wait > absl::ZeroDuration()) {
      AddRetryPushback(context, wait);
      finish(RetryableStatus(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("over the ingest rate limit of the app or of device '",
                       group.device.device_id(), "'; nothing of this export was stored"),
          wait));
      return reactor;
    }
  }
  if (mapped->devices.empty()) {
    *response_bytes = Serialize(MakeResponse(mapped->total_records, mapped->rejected));
    finish(grpc::Status::OK);
    return reactor;
  }

  // Stored on a worker; gRPC keeps the call (and response_bytes) alive until
  // Finish.
  workers_->Submit([this, finish, mapped, response_bytes, received, app = *std::move(app)] {
    auto outcome = std::make_shared<Outcome>();
    outcome->rejected = std::move(mapped->rejected);
    for (otlp::DeviceRecords& group : mapped->devices) {
      if (absl::Status s = StoreDevice(app, group, outcome.get()); !s.ok()) {
        // What was stored before the failure is found again on the retry.
        finish(ToGrpcStatus(s));
        return;
      }
    }
    const size_t total = mapped->total_records;
    core_->WhenDurable(outcome->sequence,
                       [this, finish, response_bytes, received, total, outcome](absl::Status s) {
                         if (!s.ok()) {
                           finish(ToGrpcStatus(s));
                           return;
                         }
                         core_->metrics().ack_latency->ObserveDuration(absl::Now() - received);
                         *response_bytes = Serialize(MakeResponse(total, outcome->rejected));
                         finish(grpc::Status::OK);
                       });
  });
  return reactor;
}

}  // namespace fieldlog::collector
