#!/usr/bin/env bash
# Runs the collector's fuzz target under libFuzzer with AddressSanitizer and
# UndefinedBehaviorSanitizer (clang from Debian's clang and libclang-rt-dev).
#
#   scripts/fuzz.sh [SECONDS]      default 300
#
# Crashes are written to build-fuzz/crashes/. The test suite runs the same
# target briefly without clang (tests/fuzz/smoke_main.cc).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
./scripts/install-deps.sh clang libclang-rt-dev
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DFIELDLOG_FUZZ=ON -DFIELDLOG_SANITIZE=address,undefined \
  -DFIELDLOG_BUILD_BENCHMARKS=OFF > build-fuzz.configure.log
cmake --build build-fuzz -j"$(nproc)" --target ingest_request_fuzzer
mkdir -p build-fuzz/corpus build-fuzz/crashes
build-fuzz/bin/ingest_request_fuzzer -max_total_time="$seconds" -max_len=65536 \
  -artifact_prefix=build-fuzz/crashes/ build-fuzz/corpus
