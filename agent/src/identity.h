// Device and session identity, and the small state files the agent keeps in
// its storage directory next to the spool:
//
//   device_id   the device id (UUIDv4), created once
//   seq_base    what the collector's seqs add to the spool's (see below)
//   consent     the last consent the app set: pending, granted or denied
//
// Each file is written to a temporary name and renamed, so a crash never
// leaves it torn.
//
// Seq base: the spool numbers entries 1, 2, 3... and the wire seq is
// base + that. A device id generated here starts at base 0. A device id the
// app fixed may already have entries on the collector (an app reinstalled,
// `fieldlog send --device`), so a new spool for it takes the collector's
// watermark as its base on the first connection; until then it is unknown.
#ifndef FIELDLOG_AGENT_SRC_IDENTITY_H_
#define FIELDLOG_AGENT_SRC_IDENTITY_H_

#include <cstdint>
#include <optional>
#include <string>

namespace fieldlog::agent {

// A random (version 4) UUID in its canonical text form.
std::string NewUuidV4();

// The device id kept in `storage_dir`/device_id, created on first use;
// `created` tells whether it was made now. Returns "" and sets `error` when
// the directory or file cannot be used.
std::string LoadOrCreateDeviceId(const std::string& storage_dir, bool* created, std::string* error);

// A small text file's first line; nullopt when it does not exist.
std::optional<std::string> ReadStateFile(const std::string& path);
// Writes `value` + "\n" atomically (temporary file, fsync, rename).
bool WriteStateFile(const std::string& path, const std::string& value);

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_IDENTITY_H_
