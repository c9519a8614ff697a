#include "benchmarks/query_phase.h"

#include <atomic>
#include <memory>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "benchmarks/progress.h"
#include "fieldlog/v1/query.grpc.pb.h"

namespace fieldlog::bench {
namespace {

constexpr uint32_t kPage = 500;

struct SearchOutcome {
  grpc::Status status;
  uint64_t lines = 0;
  uint64_t pages = 0;
  absl::Duration elapsed;
};

class Client {
 public:
  Client(const QueryPhaseOptions& options, const Fleet& fleet)
      : options_(options),
        stub_(v1::QueryService::NewStub(
            grpc::CreateChannel(options.address, grpc::InsecureChannelCredentials()))) {
    // The whole generated day, with a margin either side.
    from_us_ = fleet.spec().start_us - 3'600'000'000;
    to_us_ = fleet.spec().start_us + fleet.spec().span_us + 3'600'000'000;
  }

  // Runs `request` (with the app and the time range filled in), following
  // cursors when `all_pages`.
  SearchOutcome Search(v1::SearchRequest request, bool all_pages) {
    request.set_app(options_.app);
    request.set_from_unix_micros(from_us_);
    request.set_to_unix_micros(to_us_);
    SearchOutcome outcome;
    const absl::Time start = absl::Now();
    for (int page = 0; page < 10000; ++page) {
      grpc::ClientContext context;
      context.AddMetadata("authorization", "Bearer " + options_.read_token);
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      auto reader = stub_->Search(&context, request);
      v1::SearchResponse response;
      std::string cursor;
      while (reader->Read(&response)) {
        outcome.lines += static_cast<uint64_t>(response.lines_size());
        if (!response.next_cursor().empty()) cursor = response.next_cursor();
      }
      outcome.status = reader->Finish();
      ++outcome.pages;
      if (!outcome.status.ok() || cursor.empty() || !all_pages) break;
      request.set_cursor(cursor);
    }
    outcome.elapsed = absl::Now() - start;
    return outcome;
  }

  // The app-wide search: which users and devices logged `text`, with counts.
  absl::Status Affected(const std::string& text, absl::Duration* elapsed, uint64_t* lines) {
    v1::AffectedRequest request;
    request.set_app(options_.app);
    request.set_text(text);
    request.set_from_unix_micros(from_us_);
    request.set_to_unix_micros(to_us_);
    request.set_limit(10000);
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + options_.read_token);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
    v1::AffectedResponse response;
    const absl::Time start = absl::Now();
    grpc::Status status = stub_->Affected(&context, request, &response);
    *elapsed = absl::Now() - start;
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      return absl::UnimplementedError(status.error_message());
    }
    if (!status.ok()) {
      return absl::UnavailableError(absl::StrCat("Affected: ", status.error_message()));
    }
    *lines = response.matching_lines();
    return absl::OkStatus();
  }

 private:
  const QueryPhaseOptions& options_;
  std::unique_ptr<v1::QueryService::Stub> stub_;
  int64_t from_us_ = 0;
  int64_t to_us_ = 0;
};

double Micros(absl::Duration d) { return absl::ToDoubleMicroseconds(d); }

// The rare token across the app as one Search per device, `fanout` at a time.
absl::Status FanOutTextSearch(const Fleet& fleet, const QueryPhaseOptions& options,
                              absl::Duration* elapsed, uint64_t* lines) {
  std::atomic<int> next{0};
  std::atomic<uint64_t> matches{0};
  absl::Mutex mu;
  std::string error;
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, options.fanout); ++t) {
    threads.emplace_back([&] {
      Client own(options, fleet);
      for (int d = next++; d < fleet.devices(); d = next++) {
        v1::SearchRequest request;
        request.set_device_id(fleet.DeviceId(d));
        request.set_text(std::string(kRareToken));
        request.set_limit(10000);
        const SearchOutcome o = own.Search(request, true);
        if (!o.status.ok()) {
          absl::MutexLock lock(&mu);
          error = o.status.error_message();
          return;
        }
        matches += o.lines;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (!error.empty()) return absl::UnavailableError(absl::StrCat("app text search: ", error));
  *elapsed = absl::Now() - start;
  *lines = matches.load();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<QueryResult> RunQueryPhase(const Fleet& fleet, const QueryPhaseOptions& options) {
  QueryResult result;
  Client client(options, fleet);
  const uint64_t per_device = static_cast<uint64_t>(fleet.spec().lines_per_device);
  const int repeats = std::max(1, options.repeats);
  ProgressBar bar("queries", static_cast<uint64_t>(repeats) * 4 + (options.app_text ? 1 : 0),
                  options.progress);
  uint64_t done = 0;
  const auto check = [&](const SearchOutcome& o, uint64_t expected,
                         const std::string& what) -> absl::Status {
    if (!o.status.ok()) {
      return absl::UnavailableError(absl::StrCat(what, ": ", o.status.error_message()));
    }
    if (o.lines != expected && result.problems.size() < 20) {
      result.problems.push_back(
          absl::StrCat(what, ": ", o.lines, " lines, expected ", expected));
    }
    return absl::OkStatus();
  };

  for (int i = 0; i < repeats; ++i) {
    // Spread over the fleet, deterministically.
    const int user = static_cast<int>(Mix(1000 + i) % static_cast<uint64_t>(fleet.users()));
    const int device = static_cast<int>(Mix(2000 + i) % static_cast<uint64_t>(fleet.devices()));
    const uint64_t user_lines = per_device * static_cast<uint64_t>(fleet.DeviceCountOf(user));
    const std::string user_id = fleet.UserId(user);
    const std::string device_id = fleet.DeviceId(device);

    v1::SearchRequest page;
    page.set_user_id(user_id);
    page.set_newest_first(true);
    page.set_limit(kPage);
    SearchOutcome o = client.Search(page, false);
    if (absl::Status s = check(o, std::min<uint64_t>(kPage, user_lines),
                               absl::StrCat("newest page of user ", user_id));
        !s.ok()) {
      return s;
    }
    result.user_page_us.Add(Micros(o.elapsed));

    v1::SearchRequest device_page;
    device_page.set_device_id(device_id);
    device_page.set_newest_first(true);
    device_page.set_limit(kPage);
    o = client.Search(device_page, false);
    if (absl::Status s = check(o, std::min<uint64_t>(kPage, per_device),
                               absl::StrCat("newest page of device ", device_id));
        !s.ok()) {
      return s;
    }
    result.device_page_us.Add(Micros(o.elapsed));

    v1::SearchRequest day;
    day.set_device_id(device_id);
    day.set_limit(10000);
    o = client.Search(day, true);
    if (absl::Status s = check(o, per_device, absl::StrCat("day of device ", device_id));
        !s.ok()) {
      return s;
    }
    result.device_day_us.Add(Micros(o.elapsed));
    result.device_day_lines += o.lines;
    result.device_day_time += o.elapsed;

    v1::SearchRequest text;
    text.set_user_id(user_id);
    text.set_text(std::string(kRareToken));
    text.set_limit(kPage);
    o = client.Search(text, false);
    if (!o.status.ok()) {
      return absl::UnavailableError(absl::StrCat("text search: ", o.status.error_message()));
    }
    result.user_text_us.Add(Micros(o.elapsed));
    done += 4;
    bar.Update(done);
  }

  if (options.app_text) {
    result.expected_rare = fleet.RareLineCount();
    absl::Status s = client.Affected(std::string(kRareToken), &result.app_text_time,
                                     &result.app_text_matches);
    if (absl::IsUnimplemented(s)) {
      // A server without QueryService/Affected: one Search per device.
      s = FanOutTextSearch(fleet, options, &result.app_text_time, &result.app_text_matches);
      result.app_text_method = "one Search per device";
    } else {
      result.app_text_method = "QueryService/Affected";
    }
    if (!s.ok()) return s;
    if (result.app_text_matches != result.expected_rare) {
      result.problems.push_back(absl::StrCat("app-wide text search found ",
                                             result.app_text_matches, " lines, expected ",
                                             result.expected_rare));
    }
    bar.Update(++done);
  }
  bar.Finish();
  return result;
}

}  // namespace fieldlog::bench
