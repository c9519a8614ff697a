/* hello_fieldlog_c: the agent from C (the same calls an FFI binding makes).
 *
 *   hello_fieldlog_c SERVER INGEST_KEY STORAGE_DIR [USER]
 *
 * Logs three lines for USER (default dave@example.com), waits until the
 * collector has acknowledged them, and prints the device id.
 */
#include <stdio.h>

#include "fieldlog/fieldlog_c.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s SERVER INGEST_KEY STORAGE_DIR [USER]\n", argv[0]);
    return 2;
  }
  fieldlog_options* options = fieldlog_options_new();
  fieldlog_options_set(options, "server", argv[1]);
  fieldlog_options_set(options, "ingest_key", argv[2]);
  fieldlog_options_set(options, "storage_dir", argv[3]);
  fieldlog_options_set(options, "device.os.name", "Linux");
  char error[256];
  fieldlog_agent* agent = fieldlog_start(options, error, sizeof error);
  fieldlog_options_free(options);
  if (agent == NULL) {
    fprintf(stderr, "cannot start the agent: %s\n", error);
    return 1;
  }
  fieldlog_set_user(agent, argc > 4 ? argv[4] : "dave@example.com");
  FIELDLOG_C_INFO(agent, "App", "started from C");
  fieldlog_attribute attributes[] = {FIELDLOG_ATTR_INT("items", 2),
                                     FIELDLOG_ATTR_STR("via", "ffi")};
  fieldlog_log(agent, FIELDLOG_LEVEL_WARN, "Cart", "cart is slow", attributes, 2);
  fieldlog_log(agent, FIELDLOG_LEVEL_ERROR, "Checkout", "payment failed", NULL, 0);
  const int ok = fieldlog_flush(agent, 10000);
  fieldlog_stats stats;
  fieldlog_get_stats(agent, &stats);
  printf("device %s: %llu lines acknowledged\n", fieldlog_device_id(agent),
         (unsigned long long)stats.acknowledged);
  fieldlog_stop(agent, 1000);
  return ok && stats.acknowledged == 3 ? 0 : 1;
}
