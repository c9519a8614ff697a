#!/usr/bin/env bash
# Installs every Debian package fieldlog needs to build, run and test.
#
# Idempotent and non-interactive: it asks dpkg what is already present and calls
# apt-get only for what is missing, so a second run costs a fraction of a second.
# Runs as root, or through sudo when that is available. Arguments name extra
# packages to install with the same care.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libabsl-dev libzstd-dev zlib1g-dev libssl-dev
  libre2-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
packages+=(libspdlog-dev)  # the agent's spdlog sink (agent/include/fieldlog/spdlog_sink.h), its test and benchmark

packages+=(chromium)  # the web console's end-to-end tests (tests/web/; node and npm come with the machine)

# Extra packages a caller needs (e.g. scripts/fuzz.sh asks for clang).
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "fieldlog: installing missing packages: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "fieldlog: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
