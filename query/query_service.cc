#include "absl/strings/string_view.h"
#include "query/query_service.h"

#include <vector>

#include "common/grpc_status.h"
#include "common/time_util.h"
#include "query/access.h"
#include "query/search.h"
#include "store/reader.h"

namespace fieldlog::query {
namespace {

constexpr absl::string_view kTokenHeader = "x-fieldlog-token";

// Writes precomputed chunks one after another, then finishes. Created with new
// and deleted by itself in OnDone, as gRPC's callback API prescribes.
class ChunkWriter final : public grpc::ServerWriteReactor<v1::SearchResponse> {
 public:
  explicit ChunkWriter(const absl::Status& error) { Finish(ToGrpcStatus(error)); }

  explicit ChunkWriter(std::vector<v1::SearchResponse> chunks) : chunks_(std::move(chunks)) {
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    ++next_;
    WriteNext();
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    if (next_ == chunks_.size()) {
      Finish(grpc::Status::OK);
    } else {
      StartWrite(&chunks_[next_]);
    }
  }

  std::vector<v1::SearchResponse> chunks_;
  size_t next_ = 0;
};

absl::StatusOr<std::vector<v1::SearchResponse>> RunSearch(const store::Store& store,
                                                          const grpc::CallbackServerContext& context,
                                                          const v1::SearchRequest& request) {
  absl::StatusOr<store::AppRecord> app = AuthorizeRead(store.catalog(), CredentialFromMetadata(context, kTokenHeader), request.app());
  if (!app.ok()) return app.status();
  absl::StatusOr<SearchSpec> spec = MakeSearchSpec(request, *app, NowUnixMicros());
  if (!spec.ok()) return spec.status();
  absl::StatusOr<SearchResult> result = Search(store, *spec);
  if (!result.ok()) return result.status();

  std::vector<v1::SearchResponse> chunks(1);
  for (v1::LogLine& line : result->lines) {
    if (chunks.back().lines_size() == static_cast<int>(kLinesPerChunk)) chunks.emplace_back();
    *chunks.back().add_lines() = std::move(line);
  }
  if (result->next) chunks.back().set_next_cursor(EncodeCursor(*result->next));
  return chunks;
}

}  // namespace

grpc::ServerWriteReactor<v1::SearchResponse>* QueryService::Search(
    grpc::CallbackServerContext* context, const v1::SearchRequest* request) {
  absl::StatusOr<std::vector<v1::SearchResponse>> chunks = RunSearch(*store_, *context, *request);
  if (!chunks.ok()) return new ChunkWriter(chunks.status());
  return new ChunkWriter(*std::move(chunks));
}

grpc::ServerUnaryReactor* QueryService::ListDevices(grpc::CallbackServerContext* context,
                                                    const v1::ListDevicesRequest* request,
                                                    v1::ListDevicesResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const auto status = [&]() -> absl::Status {
    absl::StatusOr<store::AppRecord> app = AuthorizeRead(
        store_->catalog(), CredentialFromMetadata(*context, kTokenHeader), request->app());
    if (!app.ok()) return app.status();
    if (request->user_id().empty()) return absl::InvalidArgumentError("name a user_id");
    store::Reader reader(*store_);
    absl::StatusOr<std::vector<store::UserDevice>> devices =
        reader.ListUserDevices(app->app_id(), request->user_id());
    if (!devices.ok()) return devices.status();
    for (const store::UserDevice& d : *devices) {
      v1::DeviceSummary* summary = response->add_devices();
      summary->set_device_id(d.device_id);
      summary->set_first_seen_unix_micros(d.record.first_seen_unix_micros());
      summary->set_last_seen_unix_micros(d.record.last_seen_unix_micros());
      summary->set_lines(d.record.lines());
      absl::StatusOr<std::optional<store::DeviceRecord>> device =
          reader.GetDevice(app->app_id(), d.device_id);
      if (!device.ok()) return device.status();
      if (*device) {
        *summary->mutable_attributes() = (*device)->attributes();
        if (!(*device)->stored().empty()) {
          summary->set_watermark((*device)->stored().rbegin()->last());
        }
      }
    }
    return absl::OkStatus();
  }();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace fieldlog::query
