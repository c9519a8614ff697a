// fieldlog send: ship lines from stdin through the agent library.
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "fieldlog/agent.h"
#include "nlohmann/json.hpp"
#include "query/cli/commands.h"
#include "query/cli/output.h"

namespace fieldlog::cli {
namespace {

struct SendFlags {
  std::string key, device, user, format = "text", level = "info", tag = "stdin", spool_dir;
  int timeout_seconds = 60;
};

// Lines appended between moves of the agent's buffer to its spool, so that
// reading stdin faster than the agent stores never overflows the buffer.
constexpr uint64_t kLinesPerSpoolStep = 2000;
// The spool's byte cap for send, and the fill at which send waits for
// acknowledgements before reading more (so nothing is ever evicted).
constexpr size_t kSpoolBytes = 64 << 20;
constexpr size_t kSpoolHighWater = kSpoolBytes / 2;

// Turns one JSON line into entry fields; false with `error` set otherwise.
// `tag`, `message`, `owned` and `views` keep what the fields point to.
bool ParseJsonLine(const std::string& text, const SendFlags& flags, Level default_level,
                   EntryFields* fields, std::string* tag, std::string* message,
                   std::vector<KeyValue>* owned, std::vector<Attribute>* views,
                   std::string* error) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "not a JSON object";
    return false;
  }
  fields->level = default_level;
  if (auto it = j.find("level"); it != j.end()) {
    std::optional<v1::Level> level =
        it->is_string() ? ParseLevel(it->get<std::string>()) : std::nullopt;
    if (!level) {
      *error = "\"level\" must be one of trace, debug, info, warn, error, fatal";
      return false;
    }
    fields->level = static_cast<Level>(*level);
  }
  if (auto it = j.find("time"); it != j.end()) {
    absl::StatusOr<int64_t> time =
        it->is_string() ? ParseRfc3339(it->get<std::string>())
                        : absl::StatusOr<int64_t>(absl::InvalidArgumentError("not a string"));
    if (!time.ok()) {
      *error = absl::StrCat("\"time\": ", time.status().message());
      return false;
    }
    fields->time_unix_micros = *time;
  }
  *tag = flags.tag;
  if (auto it = j.find("tag"); it != j.end() && it->is_string()) *tag = it->get<std::string>();
  message->clear();
  if (auto it = j.find("message"); it != j.end()) {
    *message = it->is_string() ? it->get<std::string>() : it->dump();
  }
  fields->tag = *tag;
  fields->message = *message;
  owned->clear();
  views->clear();
  fields->attributes = {};
  if (auto it = j.find("attributes"); it != j.end()) {
    if (!it->is_object()) {
      *error = "\"attributes\" must be an object";
      return false;
    }
    for (const auto& [key, value] : it->items()) {
      if (value.is_boolean()) {
        owned->emplace_back(key, value.get<bool>());
      } else if (value.is_number_integer()) {
        owned->emplace_back(key, value.get<int64_t>());
      } else if (value.is_number()) {
        owned->emplace_back(key, value.get<double>());
      } else if (value.is_string()) {
        owned->emplace_back(key, value.get<std::string>());
      } else {
        owned->emplace_back(key,
                            value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
    }
    for (const KeyValue& kv : *owned) views->push_back(kv.view());
    fields->attributes = *views;
  }
  return true;
}

int RunSend(const SendFlags& flags, const GlobalOptions& global) {
  std::optional<v1::Level> default_level = ParseLevel(flags.level);
  if (!default_level) {
    std::cerr << "fieldlog: --level '" << flags.level << "' is not a level\n";
    return kExitUsage;
  }
  AgentOptions options;
  options.server = global.server;
  options.ingest_key = flags.key;
  options.device_id = flags.device;
  // With --spool-dir the lines wait there until acknowledged, so a send that
  // was killed delivers them when run again with the same directory; without
  // it a temporary directory serves this run only. A pipe has no power-cut
  // story to tell: the spool is not fsynced (kill -9 loses nothing).
  options.storage_dir = flags.spool_dir;
  options.spool_fsync = false;
  options.spool_max_bytes = kSpoolBytes;
  options.queue_bytes_per_thread = 4 << 20;
  std::string error;
  std::unique_ptr<Agent> agent = Agent::Start(options, &error);
  if (agent == nullptr) {
    std::cerr << "fieldlog: " << error << "\n";
    return kExitUsage;
  }
  if (!flags.user.empty()) agent->SetUser(flags.user);

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(flags.timeout_seconds);
  // Waits until everything appended so far is acknowledged; false (with a
  // message) on timeout or when the server refuses our credentials.
  const auto wait_for_acks = [&]() -> int {
    while (!agent->Flush(std::chrono::milliseconds(200))) {
      const AgentStats stats = agent->stats();
      const auto code = static_cast<grpc::StatusCode>(stats.last_status_code);
      if (code == grpc::StatusCode::UNAUTHENTICATED ||
          code == grpc::StatusCode::PERMISSION_DENIED) {
        std::cerr << "fieldlog: the server refused the key: " << stats.last_error << "\n";
        return kExitDenied;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        std::cerr << "fieldlog: gave up after " << flags.timeout_seconds << "s with "
                  << (stats.logged - stats.acknowledged - stats.rejected) << " lines unacknowledged"
                  << (stats.last_error.empty() ? "" : ": " + stats.last_error) << "\n";
        return kExitFailure;
      }
    }
    return kExitOk;
  };

  bool bad_input = false;
  uint64_t line_number = 0, appended = 0;
  std::string text, tag, message;
  std::vector<KeyValue> owned;
  std::vector<Attribute> views;
  EntryFields fields;
  while (std::getline(std::cin, text)) {
    ++line_number;
    if (flags.format == "jsonl") {
      if (text.empty()) continue;
      std::string parse_error;
      if (!ParseJsonLine(text, flags, static_cast<Level>(*default_level), &fields, &tag, &message,
                         &owned, &views, &parse_error)) {
        std::cerr << "fieldlog: stdin line " << line_number << ": " << parse_error
                  << "; line skipped\n";
        bad_input = true;
        continue;
      }
    } else {
      fields = EntryFields();
      fields.level = static_cast<Level>(*default_level);
      fields.tag = flags.tag;
      fields.message = text;
    }
    agent->Append(fields);
    if (++appended % kLinesPerSpoolStep == 0) {
      agent->Flush(std::chrono::milliseconds(0));  // returns once the lines are spooled
      if (agent->stats().spool_bytes > kSpoolHighWater) {
        if (int code = wait_for_acks(); code != kExitOk) return code;
      }
    }
  }
  if (int code = wait_for_acks(); code != kExitOk) return code;

  const AgentStats stats = agent->stats();
  agent->Shutdown(std::chrono::seconds(1));
  const uint64_t earlier = stats.acknowledged > appended ? stats.acknowledged - appended : 0;
  std::cerr << "fieldlog: " << stats.acknowledged - earlier << " of " << appended
            << " lines acknowledged by " << global.server << " (device " << agent->device_id()
            << ")";
  if (earlier > 0) std::cerr << ", and " << earlier << " left in the spool by an earlier run";
  std::cerr << "\n";
  if (stats.rejected > 0 || stats.dropped > 0) {
    std::cerr << "fieldlog: " << stats.rejected << " rejected, " << stats.dropped
              << " dropped: " << stats.last_error << "\n";
    return kExitFailure;
  }
  return bad_input ? kExitUsage : kExitOk;
}

}  // namespace

void RegisterSendCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* send =
      app.add_subcommand("send", "Send log lines from stdin (through the agent library)");
  send->footer(R"(Exits 0 once every line is acknowledged by the server.

Formats:
  text   one entry per line, with --level and --tag
  jsonl  one JSON object per line: {"time": "2026-11-22T10:00:00Z", "level": "warn",
         "tag": "Checkout", "message": "...", "attributes": {"order": 42}}; all optional

Examples:
  echo "payment failed" | fieldlog send --key fl_ik_... --device dev-1 --user alice@example.com
  fieldlog send --key fl_ik_... --device dev-1 --format jsonl < events.jsonl
  fieldlog send --key fl_ik_... --spool-dir ~/.cache/fieldlog-send < big.log   # resumable)");
  auto flags = std::make_shared<SendFlags>();
  send->add_option("--key", flags->key, "The app's ingest key")
      ->required()
      ->envname("FIELDLOG_INGEST_KEY");
  send->add_option("--device", flags->device,
                   "Device id (default: the one kept in --spool-dir, or a new random id)");
  send->add_option("--user", flags->user, "User id the lines belong to");
  send->add_option("--spool-dir", flags->spool_dir,
                   "Keep the spool and device id in DIR: lines of a send that was killed before "
                   "they were acknowledged go out when send runs again with the same DIR "
                   "(default: a temporary directory)");
  send->add_option("--format", flags->format, "Input format: text or jsonl")
      ->check(CLI::IsMember({"text", "jsonl"}))
      ->capture_default_str();
  send->add_option("--level", flags->level, "Level of text lines (and default for jsonl)")
      ->capture_default_str();
  send->add_option("--tag", flags->tag, "Tag of text lines (and default for jsonl)")
      ->capture_default_str();
  send->add_option("--timeout", flags->timeout_seconds,
                   "Seconds to wait for acknowledgements before giving up")
      ->capture_default_str();
  send->callback([&global, exit_code, flags] { *exit_code = RunSend(*flags, global); });
}

}  // namespace fieldlog::cli
