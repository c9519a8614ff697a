/* fieldlog agent, C API: for apps and bindings that cannot use C++ (Swift,
 * Kotlin/JNI, Rust, Python ctypes/cffi).
 *
 *   fieldlog_options* o = fieldlog_options_new();
 *   fieldlog_options_set(o, "server", "logs.example.com:4317");
 *   fieldlog_options_set(o, "ingest_key", "fl_ik_...");
 *   fieldlog_options_set(o, "storage_dir", "/data/app/fieldlog");
 *   char error[256];
 *   fieldlog_agent* agent = fieldlog_start(o, error, sizeof error);
 *   fieldlog_options_free(o);
 *   fieldlog_set_user(agent, "alice@example.com");
 *   fieldlog_attribute attrs[] = {FIELDLOG_ATTR_INT("cart_items", 3)};
 *   fieldlog_log(agent, FIELDLOG_LEVEL_INFO, "Checkout", "payment sheet opened", attrs, 1);
 *   fieldlog_flush(agent, 5000);
 *   fieldlog_stop(agent, 1000);
 *
 * Strings are UTF-8, NUL-terminated, and only read during the call. Every
 * function is thread-safe and accepts a NULL agent (it then does nothing).
 * The semantics are those of fieldlog/agent.h (see docs/agent.md).
 */
#ifndef FIELDLOG_FIELDLOG_C_H_
#define FIELDLOG_FIELDLOG_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fieldlog_agent fieldlog_agent;
typedef struct fieldlog_options fieldlog_options;

enum {
  FIELDLOG_LEVEL_TRACE = 1,
  FIELDLOG_LEVEL_DEBUG = 2,
  FIELDLOG_LEVEL_INFO = 3,
  FIELDLOG_LEVEL_WARN = 4,
  FIELDLOG_LEVEL_ERROR = 5,
  FIELDLOG_LEVEL_FATAL = 6
};

enum { FIELDLOG_CONSENT_PENDING = 0, FIELDLOG_CONSENT_GRANTED = 1, FIELDLOG_CONSENT_DENIED = 2 };

enum {
  FIELDLOG_ATTR_STRING = 0,
  FIELDLOG_ATTR_INT = 1,
  FIELDLOG_ATTR_DOUBLE = 2,
  FIELDLOG_ATTR_BOOL = 3
};

typedef struct fieldlog_attribute {
  const char* key;
  int type; /* FIELDLOG_ATTR_* */
  const char* string_value;
  int64_t int_value;
  double double_value;
  int bool_value;
} fieldlog_attribute;

#define FIELDLOG_ATTR_STR(k, v) \
  { (k), FIELDLOG_ATTR_STRING, (v), 0, 0.0, 0 }
#define FIELDLOG_ATTR_INT(k, v) \
  { (k), FIELDLOG_ATTR_INT, 0, (v), 0.0, 0 }
#define FIELDLOG_ATTR_DBL(k, v) \
  { (k), FIELDLOG_ATTR_DOUBLE, 0, 0, (v), 0 }
#define FIELDLOG_ATTR_BOOL(k, v) \
  { (k), FIELDLOG_ATTR_BOOL, 0, 0, 0.0, (v) }

fieldlog_options* fieldlog_options_new(void);
void fieldlog_options_free(fieldlog_options* options);
/* Sets an AgentOptions field by name, the value as text: "server",
 * "ingest_key", "storage_dir", "device_id", "min_level" (1-6),
 * "min_upload_level", "flush_interval_ms", "spool_max_bytes",
 * "queue_bytes_per_thread", "batch_max_entries", "batch_max_bytes",
 * "batch_max_age_ms", "compression" (0 none, 1 gzip, 2 zstd, the default),
 * "tls" (0/1), "tls_ca_pem",
 * "tls_server_name", "console_url", "scrub_pii" (0/1), "crash_handler" (0/1),
 * "default_consent" (0-2), "device.<key>" (a string device attribute),
 * "session.<key>" (a string session attribute). Returns 0, or -1 for an
 * unknown name or a malformed number. */
int fieldlog_options_set(fieldlog_options* options, const char* name, const char* value);

/* NULL on failure, with the reason in `error` (if given). */
fieldlog_agent* fieldlog_start(const fieldlog_options* options, char* error, size_t error_size);
/* Shutdown(timeout_ms), then frees the agent. */
void fieldlog_stop(fieldlog_agent* agent, int64_t timeout_ms);

int fieldlog_enabled(const fieldlog_agent* agent, int level);
void fieldlog_log(fieldlog_agent* agent, int level, const char* tag, const char* message,
                  const fieldlog_attribute* attributes, size_t attribute_count);
/* With source location and an explicit device time (0: now). */
void fieldlog_log_at(fieldlog_agent* agent, int level, const char* tag, const char* message,
                     const fieldlog_attribute* attributes, size_t attribute_count,
                     int64_t time_unix_micros, const char* file, uint32_t line,
                     const char* function);
void fieldlog_set_user(fieldlog_agent* agent, const char* user_id);
void fieldlog_set_device_attribute(fieldlog_agent* agent, const fieldlog_attribute* attribute);
void fieldlog_set_session_attribute(fieldlog_agent* agent, const fieldlog_attribute* attribute);
void fieldlog_set_consent(fieldlog_agent* agent, int consent);
/* 1 when everything logged before is acknowledged, 0 on timeout. */
int fieldlog_flush(fieldlog_agent* agent, int64_t timeout_ms);
/* The link is written NUL-terminated to `link` (cut to link_size); returns
 * its full length, 0 when there is none. */
size_t fieldlog_send_issue(fieldlog_agent* agent, const char* title, const char* text, char* link,
                           size_t link_size);
size_t fieldlog_send_feedback(fieldlog_agent* agent, const char* text, char* link,
                              size_t link_size);

typedef struct fieldlog_stats {
  uint64_t logged, dropped, spooled, evicted, acknowledged, rejected, batches_sent, spool_bytes;
  int connected;
  int last_status_code;
} fieldlog_stats;
void fieldlog_get_stats(const fieldlog_agent* agent, fieldlog_stats* stats);
/* The device id, NUL-terminated; valid while the agent lives. */
const char* fieldlog_device_id(const fieldlog_agent* agent);

#define FIELDLOG_C_INFO(agent, tag, message)                                                   \
  fieldlog_log_at((agent), FIELDLOG_LEVEL_INFO, (tag), (message), 0, 0, 0, __FILE__, __LINE__, \
                  __func__)

#ifdef __cplusplus
}
#endif

#endif /* FIELDLOG_FIELDLOG_C_H_ */
