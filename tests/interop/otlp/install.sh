#!/usr/bin/env bash
# Installs the OpenTelemetry JS SDK pinned in package-lock.json (next to this
# script) into DEST/node_modules, and puts send_logs.mjs beside it: the OTLP
# interoperability test (tests/otlp_interop_test.cc) runs it from there. DEST
# is in the build directory, so nothing lands in the source tree.
#
# Idempotent: when DEST already holds an install of this very lockfile, only
# the script is refreshed. Non-interactive (npm ci, stdin closed, no audit or
# fund prompts), so it runs under CI=true with no terminal. Needs node and npm.
#
# Usage: install.sh DEST
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${1:?usage: install.sh DEST}"
mkdir -p "$dest"
cp "$here/send_logs.mjs" "$dest/"

stamp="$dest/node_modules/.fieldlog-installed-lock.json"
if [ -f "$stamp" ] && cmp -s "$here/package-lock.json" "$stamp"; then
  echo "OpenTelemetry JS SDK already installed in $dest"
  exit 0
fi
cp "$here/package.json" "$here/package-lock.json" "$dest/"
cd "$dest"
# --ignore-scripts: no package needs an install script here, and none runs.
npm ci --no-audit --no-fund --loglevel=error --ignore-scripts < /dev/null
cp package-lock.json "$stamp"
echo "OpenTelemetry JS SDK installed in $dest"
