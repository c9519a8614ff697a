// fieldlog-server: the collector, the query service and the admin service on
// one gRPC port, with an embedded RocksDB store.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/crash_trace.h"
#include "server/malloc_tuning.h"
#include "server/server.h"

namespace {

// Blocks SIGINT and SIGTERM in every thread (gRPC's and RocksDB's threads
// inherit the mask), so main can wait for them with sigwait.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace

int main(int argc, char** argv) {
  fieldlog::server::InstallCrashTrace();
  fieldlog::server::KeepFreedMemoryForReuse();
  CLI::App app{"fieldlog-server: collects device logs over gRPC and serves them to support"};
  fieldlog::server::ServerOptions options;
  std::string sync = "interval";
  std::string sync_interval = "5ms";
  std::string listen_file;
  app.add_option("--data-dir", options.data_dir, "Where the store and the admin token live")
      ->capture_default_str();
  app.add_option("--grpc-listen", options.grpc_listen,
                 "host:port for ingest, query and admin (port 0 picks a free port)")
      ->capture_default_str();
  app.add_option("--sync", sync,
                 "When a batch is acknowledged: interval (after a group fsync of the WAL, one "
                 "every --sync-interval; survives power loss), batch (after an fsync for that "
                 "batch), none (once in the WAL in the OS cache; survives kill -9 of the "
                 "server, not power loss)")
      ->check(CLI::IsMember({"none", "batch", "interval"}))
      ->capture_default_str();
  app.add_option("--sync-interval", sync_interval, "Group fsync interval for --sync interval")
      ->capture_default_str();
  app.add_option("--device-rate-limit", options.ingest.default_device_lines_per_second,
                 "Default ingest limit per device, lines/s (0: none); apps can override")
      ->capture_default_str();
  app.add_option("--app-rate-limit", options.ingest.default_app_lines_per_second,
                 "Default ingest limit per app, lines/s (0: none); apps can override")
      ->capture_default_str();
  app.add_option("--rate-burst", options.ingest.burst_seconds,
                 "Seconds of its rate a quiet device or app may send at once")
      ->capture_default_str();
  app.add_option("--retention-days", options.default_retention_days,
                 "Days to keep lines of apps that set no retention (0: forever)")
      ->capture_default_str();
  app.add_option(
         "--compression-dictionaries", options.compression_dictionaries,
         "Compress stored lines with per-app dictionaries of common text (docs/operations.md)")
      ->capture_default_str();
  app.add_option("--ingest-threads", options.ingest_threads,
                 "Threads storing batches (0: one per core, at least 2)")
      ->capture_default_str();
  app.add_option("--http-listen", options.http_listen,
                 "host:port for HTTP: the web console, the JSON API, /metrics and /healthz "
                 "(empty: no HTTP)")
      ->capture_default_str();
  app.add_option("--tls-cert", options.tls_cert_path, "PEM certificate chain: serve TLS");
  app.add_option("--tls-key", options.tls_key_path, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", options.tls_client_ca_path,
                 "PEM CA: require client certificates it signed (mutual TLS)");
  app.add_option("--listen-file", listen_file,
                 "Once serving, write the gRPC address to this file (and the HTTP address on a "
                 "second line), for scripts");
  CLI11_PARSE(app, argc, argv);
  options.sync = sync == "batch"  ? fieldlog::store::SyncPolicy::kEveryBatch
                 : sync == "none" ? fieldlog::store::SyncPolicy::kNone
                                  : fieldlog::store::SyncPolicy::kInterval;
  if (!absl::ParseDuration(sync_interval, &options.sync_interval) ||
      options.sync_interval <= absl::ZeroDuration() || options.sync_interval > absl::Seconds(1)) {
    std::cerr << "fieldlog-server: --sync-interval must be a duration from 1us to 1s, like 5ms\n";
    return 2;
  }

  // Debian builds Abseil without NDEBUG, which leaves its mutex deadlock
  // detector on: it records every lock acquisition in a global graph, and
  // that bookkeeping was 1.4% of the server's CPU at full ingest. The lock
  // order is checked by the thread annotations and the TSan build instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  const sigset_t stop_signals = BlockStopSignals();
  absl::StatusOr<std::unique_ptr<fieldlog::server::Server>> server =
      fieldlog::server::Server::Start(options);
  if (!server.ok()) {
    std::cerr << "fieldlog-server: " << server.status().message() << "\n";
    return 1;
  }
  const std::string& address = (*server)->address();
  std::cout << "fieldlog-server is up\n"
            << "  gRPC (ingest, query, admin): " << address
            << (options.tls_cert_path.empty() ? " (plaintext)" : " (TLS)") << "\n"
            << "  web console and HTTP API:    "
            << ((*server)->http_address().empty() ? "off" : (*server)->http_address()) << "\n"
            << "  data directory:              " << options.data_dir << "\n"
            << "  admin token:                 " << (*server)->admin_token_path() << "\n"
            << "  sync policy:                 " << sync
            << (sync == "interval" ? " (" + sync_interval + ")" : "") << "\n\n"
            << "Next, in another terminal:\n"
            << "  export FIELDLOG_SERVER=" << address << " FIELDLOG_TOKEN=$(cat "
            << (*server)->admin_token_path() << ")\n"
            << "  build/bin/fieldlog apps create shop\n"
            << "Stop with Ctrl-C." << std::endl;
  if (!listen_file.empty()) {
    const std::string tmp = listen_file + ".tmp";
    std::ofstream(tmp) << address << "\n" << (*server)->http_address() << "\n";
    std::rename(tmp.c_str(), listen_file.c_str());
  }

  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::cout << "fieldlog-server: " << (signal == SIGINT ? "SIGINT" : "SIGTERM")
            << ", finishing calls in flight" << std::endl;
  (*server)->Shutdown(absl::Seconds(5));
  (*server)->Wait();
  server->reset();
  std::cout << "fieldlog-server: stopped" << std::endl;
  return 0;
}
