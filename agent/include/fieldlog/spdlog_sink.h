// fieldlog::SpdlogSink: send what an app already logs with spdlog through the
// fieldlog agent. Header-only; include it where spdlog is available.
//
//   auto agent = fieldlog::Agent::Start(options, &error);
//   spdlog::default_logger()->sinks().push_back(
//       std::make_shared<fieldlog::SpdlogSink>(agent.get()));   // the one line
//
// Each spdlog message becomes one entry: the logger name is the tag, the
// formatted payload the message, spdlog's time the device time, and its
// source location (SPDLOG_INFO and friends) the file, line and function.
// spdlog's `off` level sends nothing; `critical` is FATAL. The agent must
// outlive the sink. The sink takes no lock of its own (Agent::Append is
// thread-safe), so it is safe in spdlog's async and multi-threaded loggers.
#ifndef FIELDLOG_SPDLOG_SINK_H_
#define FIELDLOG_SPDLOG_SINK_H_

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <mutex>
#include <string_view>

#include "fieldlog/agent.h"

namespace fieldlog {

template <typename Mutex>
class BasicSpdlogSink final : public spdlog::sinks::base_sink<Mutex> {
 public:
  explicit BasicSpdlogSink(Agent* agent) : agent_(agent) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    Level level;
    switch (msg.level) {
      case spdlog::level::trace:
        level = Level::kTrace;
        break;
      case spdlog::level::debug:
        level = Level::kDebug;
        break;
      case spdlog::level::info:
        level = Level::kInfo;
        break;
      case spdlog::level::warn:
        level = Level::kWarn;
        break;
      case spdlog::level::err:
        level = Level::kError;
        break;
      case spdlog::level::critical:
        level = Level::kFatal;
        break;
      default:
        return;
    }
    if (!agent_->Enabled(level)) return;
    EntryFields entry;
    entry.level = level;
    entry.tag = std::string_view(msg.logger_name.data(), msg.logger_name.size());
    entry.message = std::string_view(msg.payload.data(), msg.payload.size());
    entry.time_unix_micros =
        std::chrono::duration_cast<std::chrono::microseconds>(msg.time.time_since_epoch()).count();
    if (!msg.source.empty()) {
      entry.location = {msg.source.filename, static_cast<uint32_t>(msg.source.line),
                        msg.source.funcname};
    }
    agent_->Append(entry);
  }
  // The agent spools on its own schedule; Agent::Flush waits for the network,
  // which spdlog's flush (called on every error with flush_on) must not.
  void flush_() override {}

 private:
  Agent* const agent_;
};

using SpdlogSink = BasicSpdlogSink<spdlog::details::null_mutex>;

}  // namespace fieldlog

#endif  // FIELDLOG_SPDLOG_SINK_H_
