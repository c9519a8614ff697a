// The C API (fieldlog/fieldlog_c.h): a thin layer over fieldlog::Agent.
#include "fieldlog/fieldlog_c.h"

#include <charconv>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fieldlog/agent.h"

struct fieldlog_options {
  fieldlog::AgentOptions options;
};

struct fieldlog_agent {
  std::unique_ptr<fieldlog::Agent> agent;
};

namespace {

using fieldlog::Attribute;

std::string_view View(const char* s) { return s == nullptr ? std::string_view() : s; }

Attribute ToAttribute(const fieldlog_attribute& a) {
  switch (a.type) {
    case FIELDLOG_ATTR_INT:
      return Attribute(View(a.key), a.int_value);
    case FIELDLOG_ATTR_DOUBLE:
      return Attribute(View(a.key), a.double_value);
    case FIELDLOG_ATTR_BOOL:
      return Attribute(View(a.key), a.bool_value != 0);
    default:
      return Attribute(View(a.key), View(a.string_value));
  }
}

fieldlog::KeyValue ToKeyValue(const fieldlog_attribute& a) {
  std::string key(View(a.key));
  switch (a.type) {
    case FIELDLOG_ATTR_INT:
      return {std::move(key), a.int_value};
    case FIELDLOG_ATTR_DOUBLE:
      return {std::move(key), a.double_value};
    case FIELDLOG_ATTR_BOOL:
      return {std::move(key), a.bool_value != 0};
    default:
      return {std::move(key), std::string(View(a.string_value))};
  }
}

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), *out);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

size_t CopyOut(const std::string& text, char* out, size_t size) {
  if (out != nullptr && size > 0) {
    const size_t n = std::min(text.size(), size - 1);
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
  }
  return text.size();
}

void LogAttrs(fieldlog_agent* agent, int level, const char* tag, const char* message,
              const fieldlog_attribute* attributes, size_t count, int64_t time, const char* file,
              uint32_t line, const char* function) {
  if (agent == nullptr || level < 1 || level > 6) return;
  const auto lvl = static_cast<fieldlog::Level>(level);
  if (!agent->agent->Enabled(lvl)) return;
  // Attribute views on the stack for the common case: no allocation.
  constexpr size_t kOnStack = 16;
  alignas(Attribute) unsigned char storage[kOnStack * sizeof(Attribute)];
  std::vector<Attribute> heap;
  Attribute* views = reinterpret_cast<Attribute*>(storage);
  if (count > kOnStack) {
    heap.reserve(count);
    for (size_t i = 0; i < count; ++i) heap.push_back(ToAttribute(attributes[i]));
    views = heap.data();
  } else {
    for (size_t i = 0; i < count; ++i) new (&views[i]) Attribute(ToAttribute(attributes[i]));
  }
  fieldlog::EntryFields e;
  e.level = lvl;
  e.tag = View(tag);
  e.message = View(message);
  e.time_unix_micros = time;
  e.attributes = std::span<const Attribute>(views, count);
  e.location = {file, line, function};
  agent->agent->Append(e);
}

}  // namespace

extern "C" {

fieldlog_options* fieldlog_options_new(void) { return new fieldlog_options(); }
void fieldlog_options_free(fieldlog_options* options) { delete options; }

int fieldlog_options_set(fieldlog_options* o, const char* name_c, const char* value_c) {
  if (o == nullptr || name_c == nullptr) return -1;
  fieldlog::AgentOptions& x = o->options;
  const std::string_view name = name_c;
  const std::string value(View(value_c));
  int64_t n = 0;
  const bool numeric = ParseNumber(std::string_view(value), &n);
  if (name == "server")
    x.server = value;
  else if (name == "ingest_key")
    x.ingest_key = value;
  else if (name == "storage_dir")
    x.storage_dir = value;
  else if (name == "device_id")
    x.device_id = value;
  else if (name == "tls_ca_pem")
    x.tls_ca_pem = value;
  else if (name == "tls_server_name")
    x.tls_server_name = value;
  else if (name == "console_url")
    x.console_url = value;
  else if (name.starts_with("device."))
    x.device_attributes.emplace_back(std::string(name.substr(7)), value);
  else if (name.starts_with("session."))
    x.session_attributes.emplace_back(std::string(name.substr(8)), value);
  else if (!numeric)
    return -1;
  else if (name == "min_level" && n >= 1 && n <= 6)
    x.min_level = static_cast<fieldlog::Level>(n);
  else if (name == "min_upload_level" && n >= 1 && n <= 6)
    x.min_upload_level = static_cast<fieldlog::Level>(n);
  else if (name == "flush_interval_ms")
    x.flush_interval = std::chrono::milliseconds(n);
  else if (name == "spool_max_bytes")
    x.spool_max_bytes = static_cast<size_t>(n);
  else if (name == "queue_bytes_per_thread")
    x.queue_bytes_per_thread = static_cast<size_t>(n);
  else if (name == "batch_max_entries")
    x.batch_max_entries = static_cast<size_t>(n);
  else if (name == "batch_max_bytes")
    x.batch_max_bytes = static_cast<size_t>(n);
  else if (name == "batch_max_age_ms")
    x.batch_max_age = std::chrono::milliseconds(n);
  else if (name == "compression" && n >= 0 && n <= 2)
    x.compression = static_cast<fieldlog::Compression>(n);
  else if (name == "tls")
    x.tls = n != 0;
  else if (name == "scrub_pii")
    x.scrub_pii = n != 0;
  else if (name == "crash_handler")
    x.crash_handler = n != 0;
  else if (name == "default_consent" && n >= 0 && n <= 2)
    x.default_consent = static_cast<fieldlog::Consent>(n);
  else
    return -1;
  return 0;
}

fieldlog_agent* fieldlog_start(const fieldlog_options* options, char* error, size_t error_size) {
  std::string reason;
  if (options == nullptr) {
    CopyOut("options are NULL", error, error_size);
    return nullptr;
  }
  std::unique_ptr<fieldlog::Agent> agent = fieldlog::Agent::Start(options->options, &reason);
  if (agent == nullptr) {
    CopyOut(reason, error, error_size);
    return nullptr;
  }
  return new fieldlog_agent{std::move(agent)};
}

void fieldlog_stop(fieldlog_agent* agent, int64_t timeout_ms) {
  if (agent == nullptr) return;
  agent->agent->Shutdown(std::chrono::milliseconds(timeout_ms));
  delete agent;
}

int fieldlog_enabled(const fieldlog_agent* agent, int level) {
  return agent != nullptr && level >= 1 && level <= 6 &&
         agent->agent->Enabled(static_cast<fieldlog::Level>(level));
}

void fieldlog_log(fieldlog_agent* agent, int level, const char* tag, const char* message,
                  const fieldlog_attribute* attributes, size_t attribute_count) {
  LogAttrs(agent, level, tag, message, attributes, attribute_count, 0, nullptr, 0, nullptr);
}

void fieldlog_log_at(fieldlog_agent* agent, int level, const char* tag, const char* message,
                     const fieldlog_attribute* attributes, size_t attribute_count,
                     int64_t time_unix_micros, const char* file, uint32_t line,
                     const char* function) {
  LogAttrs(agent, level, tag, message, attributes, attribute_count, time_unix_micros, file, line,
           function);
}

void fieldlog_set_user(fieldlog_agent* agent, const char* user_id) {
  if (agent != nullptr) agent->agent->SetUser(View(user_id));
}

void fieldlog_set_device_attribute(fieldlog_agent* agent, const fieldlog_attribute* attribute) {
  if (agent != nullptr && attribute != nullptr) {
    agent->agent->SetDeviceAttribute(ToKeyValue(*attribute));
  }
}

void fieldlog_set_session_attribute(fieldlog_agent* agent, const fieldlog_attribute* attribute) {
  if (agent != nullptr && attribute != nullptr) {
    agent->agent->SetSessionAttribute(ToKeyValue(*attribute));
  }
}

void fieldlog_set_consent(fieldlog_agent* agent, int consent) {
  if (agent != nullptr && consent >= 0 && consent <= 2) {
    agent->agent->SetConsent(static_cast<fieldlog::Consent>(consent));
  }
}

int fieldlog_flush(fieldlog_agent* agent, int64_t timeout_ms) {
  return agent != nullptr && agent->agent->Flush(std::chrono::milliseconds(timeout_ms)) ? 1 : 0;
}

size_t fieldlog_send_issue(fieldlog_agent* agent, const char* title, const char* text, char* link,
                           size_t link_size) {
  if (agent == nullptr) return CopyOut("", link, link_size);
  return CopyOut(agent->agent->SendIssue(View(title), View(text)), link, link_size);
}

size_t fieldlog_send_feedback(fieldlog_agent* agent, const char* text, char* link,
                              size_t link_size) {
  if (agent == nullptr) return CopyOut("", link, link_size);
  return CopyOut(agent->agent->SendFeedback(View(text)), link, link_size);
}

void fieldlog_get_stats(const fieldlog_agent* agent, fieldlog_stats* stats) {
  if (stats == nullptr) return;
  *stats = fieldlog_stats{};
  if (agent == nullptr) return;
  const fieldlog::AgentStats s = agent->agent->stats();
  stats->logged = s.logged;
  stats->dropped = s.dropped;
  stats->spooled = s.spooled;
  stats->evicted = s.evicted;
  stats->acknowledged = s.acknowledged;
  stats->rejected = s.rejected;
  stats->batches_sent = s.batches_sent;
  stats->spool_bytes = s.spool_bytes;
  stats->connected = s.connected ? 1 : 0;
  stats->last_status_code = s.last_status_code;
}

const char* fieldlog_device_id(const fieldlog_agent* agent) {
  return agent == nullptr ? "" : agent->agent->device_id().c_str();
}

}  // extern "C"
