#!/usr/bin/env bash
# fieldlog vs ClickHouse on the same generated data, side by side.
#
#   benchmarks/peers/clickhouse/run.sh                  # 1,000 / 10,000 / 100,000 devices
#   SCALES=1000 TOTAL_LINES=500000 benchmarks/peers/clickhouse/run.sh   # a quick look
#
# What it does:
#  1. installs Debian's clickhouse-server (18.16) with apt if it is missing;
#  2. builds fieldlog-bench, fieldlog-server and clickhouse-peer in $BUILD_DIR;
#  3. starts a ClickHouse server of its own on 127.0.0.1 (free ports, its own
#     config and data directory under $OUT, stopped on exit);
#  4. for each number of devices in $SCALES (TOTAL_LINES lines in all, so each
#     device has TOTAL_LINES / devices), runs fieldlog-bench (agents in
#     worker processes, at most 1,000 alive at once) and clickhouse-peer run
#     (the same lines, INSERTs of 1,000 rows over 4 connections; at the first
#     scale again in INSERTs of 100,000 rows), each writing a JSON report;
#  5. prints the side-by-side table (clickhouse-peer table).
#
# Environment: BUILD_DIR (default build), SCALES, TOTAL_LINES (default
# 2,000,000), OUT (default a new directory under $TMPDIR; kept, it holds the
# reports), QUERY_REPEATS (default 50), NO_BUILD=1 (use the binaries in
# BUILD_DIR as they are).
#
# MODE=query-scale: issue 5's query benchmark instead (query_scale.cc):
#
#   MODE=query-scale OUT=/tmp/fieldlog-query-scale benchmarks/peers/clickhouse/run.sh
#
# 10 M lines, 100,000 devices, ~50,000 users over a week, written into a
# fieldlog store through store::Writer and into ClickHouse (kept in $OUT, so a
# second run with the same OUT reuses both and only asks the questions);
# then fieldlog-server on that store answers over gRPC and ClickHouse over
# HTTP: a user's newest 500, a device's day, a regex over a user's week,
# affected users over an hour of the app. Prints the side-by-side table,
# writes $OUT/query-scale.json. SCALE_ARGS passes flags to query-scale run
# (e.g. "--lines 1000000 --devices 10000" for a quick look; --force-load).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
here="$repo/benchmarks/peers/clickhouse"
build_dir=${BUILD_DIR:-$repo/build}
scales=${SCALES:-"1000 10000 100000"}
total_lines=${TOTAL_LINES:-2000000}
repeats=${QUERY_REPEATS:-50}
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/fieldlog-peer-clickhouse-XXXXXX")}
mkdir -p "$out"

# 1. ClickHouse from Debian, only if it is missing.
server_bin=/usr/sbin/clickhouse-server
if [ ! -x "$server_bin" ]; then
  echo "peer: installing clickhouse-server from Debian (apt)"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "peer: need root or sudo to install clickhouse-server" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  # The package's own service is not needed (and policy may forbid starting
  # it): this script runs its own server.
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends clickhouse-server clickhouse-client
fi

# 2. The binaries.
if [ "${NO_BUILD:-0}" != 1 ]; then
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    "$repo/scripts/install-deps.sh"
    cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  if [ "${MODE:-}" = query-scale ]; then
    cmake --build "$build_dir" -j"$(nproc)" --target fieldlog-server query-scale >/dev/null
  else
    cmake --build "$build_dir" -j"$(nproc)" --target fieldlog-bench fieldlog-server clickhouse-peer >/dev/null
  fi
fi
bin="$build_dir/bin"
tool="$bin/clickhouse-peer"
if [ "${MODE:-}" = query-scale ]; then tool="$bin/query-scale"; fi

# 3. A ClickHouse server of our own.
ch_dir="$out/clickhouse-server"
# query-scale keeps ClickHouse's data between runs (a reload takes minutes).
if [ "${MODE:-}" != query-scale ]; then rm -rf "$ch_dir"; fi
mkdir -p "$ch_dir/log" "$ch_dir/data" "$ch_dir/tmp" "$ch_dir/user_files" "$ch_dir/format_schemas"
http_port=$("$tool" free-port)
tcp_port=$("$tool" free-port)
sed -e "s|@DIR@|$ch_dir|g" -e "s|@HTTP_PORT@|$http_port|" -e "s|@TCP_PORT@|$tcp_port|" \
  "$here/config.xml" >"$ch_dir/config.xml"
cp "$here/users.xml" "$ch_dir/users.xml"
"$server_bin" --config-file="$ch_dir/config.xml" >"$ch_dir/log/stdout.log" 2>&1 &
ch_pid=$!
stop_clickhouse() {
  if kill -0 "$ch_pid" 2>/dev/null; then
    kill "$ch_pid"
    for _ in $(seq 1 100); do kill -0 "$ch_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$ch_pid" 2>/dev/null || true
  fi
  if [ "${MODE:-}" != query-scale ]; then rm -rf "$ch_dir/data" "$ch_dir/tmp"; fi
}
trap stop_clickhouse EXIT
"$tool" wait --http "127.0.0.1:$http_port" --seconds 60 || {
  cat "$ch_dir/log/stdout.log" "$ch_dir/log/clickhouse-server.err.log" >&2 || true
  exit 1
}
version=$(curl -s "http://127.0.0.1:$http_port/" --data-binary "SELECT version()" 2>/dev/null || echo "?")
echo "peer: ClickHouse $version on 127.0.0.1:$http_port (pid $ch_pid), reports in $out"

if [ "${MODE:-}" = query-scale ]; then
  corpus="$repo/../shared/corpus/loghub"
  if [ -d "$corpus" ]; then export FIELDLOG_CORPUS_DIR="$corpus"; fi
  status=0
  # shellcheck disable=SC2086
  "$bin/query-scale" run --data-dir "$out/fieldlog" --server-bin "$bin/fieldlog-server" \
    --http "127.0.0.1:$http_port" --pid "$ch_pid" --json "$out/query-scale.json" ${SCALE_ARGS:-} |
    tee "$out/query-scale.txt" || status=$?
  echo
  echo "peer: ClickHouse $version; table in $out/query-scale.txt, JSON in $out/query-scale.json"
  exit "$status"
fi

# 4. Both systems at each scale.
pairs=()
first=1
for devices in $scales; do
  lines=$((total_lines / devices))
  echo
  echo "== $devices devices x $lines lines =="
  "$bin/fieldlog-bench" --devices "$devices" --lines-per-device "$lines" --steady-lines 0 \
    --concurrent-devices 1000 --no-parse-ack --no-ceiling --query-repeats "$repeats" \
    --json "$out/fieldlog-$devices.json" | tail -n +2
  large=()
  if [ "$first" = 1 ]; then large=(--large-batch 100000); first=0; fi
  "$bin/clickhouse-peer" run --http "127.0.0.1:$http_port" --pid "$ch_pid" \
    --devices "$devices" --lines-per-device "$lines" --query-repeats "$repeats" "${large[@]}" \
    --json "$out/clickhouse-$devices.json"
  pairs+=(--pair "$devices:$out/fieldlog-$devices.json:$out/clickhouse-$devices.json")
done

# 5. Side by side.
echo
echo "== fieldlog vs ClickHouse $version, same data, same machine ($(nproc) cores) =="
"$bin/clickhouse-peer" table "${pairs[@]}" | tee "$out/table.txt"
echo
echo "peer: reports and table in $out"
