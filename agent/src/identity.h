// Device and session identity for the agent.
#ifndef FIELDLOG_AGENT_SRC_IDENTITY_H_
#define FIELDLOG_AGENT_SRC_IDENTITY_H_

#include <string>

namespace fieldlog::agent {

// A random (version 4) UUID in its canonical text form.
std::string NewUuidV4();

// The device id kept in `storage_dir`/device_id, created on first use. With an
// empty `storage_dir`, a new id each call. Returns "" and sets `error` when
// the directory or file cannot be used.
std::string LoadOrCreateDeviceId(const std::string& storage_dir, std::string* error);

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_IDENTITY_H_
