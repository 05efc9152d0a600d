#!/usr/bin/env bash
# Server memory with a million cached users (DESIGN.md "Targets": server RSS
# at 1M cached users is bounded by the configured L1 size).
#
#   bench/l1_memory.sh [--users 1000000] [--l1-bytes 64MiB] [--seconds 120]
#
# Seeds a private scripts/cluster with --users users, starts one
# `surge serve` whose L1 is bounded only by --l1-bytes (entry limit and TTL
# far out of the way), and walks GET /api/v1/users/{id} over every id in
# order with wrk, so each request caches one more user. RSS and the cache's
# own gauges (surge_cache_entries / surge_cache_bytes of cache "profile")
# are sampled every 5 s. The result: RSS growth stays near the L1 bound
# however many users pass through, because the LRU evicts.
#
# Exit status 4 when RSS minus the idle baseline exceeds 1.5 x the bound.
# shellcheck disable=SC2317  # functions called from traps
set -euo pipefail

USERS=1000000
L1_BYTES=64MiB
SECONDS_TO_RUN=120
SURGE_BIN=build/surge
die() {
  echo "bench/l1_memory: $*" >&2
  exit 1
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --users) USERS=$2; shift 2 ;;
    --l1-bytes) L1_BYTES=$2; shift 2 ;;
    --seconds) SECONDS_TO_RUN=$2; shift 2 ;;
    --surge) SURGE_BIN=$2; shift 2 ;;
    -h | --help) sed -n '2,/^# shellcheck/{/^# shellcheck/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$USERS" =~ ^[1-9][0-9]*$ ]] || die "--users must be a whole number >= 1"
[[ "$SECONDS_TO_RUN" =~ ^[1-9][0-9]*$ ]] || die "--seconds must be a whole number >= 1"
[[ "$SURGE_BIN" == /* ]] || SURGE_BIN=$PWD/$SURGE_BIN
[[ -x "$SURGE_BIN" ]] || die "$SURGE_BIN not found: build it first (scripts/build)"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh

TMP=$(mktemp -d "${TMPDIR:-/tmp}/surge-bench-l1.XXXXXX")
chmod 755 "$TMP"
export SURGE_CLUSTER_VAR=$TMP/var SURGE_CLUSTER_SEED_USERS=$USERS SURGE_CLUSTER_BIN=$SURGE_BIN
export SURGE_CLUSTER_BASE_PORT
SURGE_CLUSTER_BASE_PORT=$("$BENCH_PY" - <<'PY'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 32700, 25)
    try:
        for off in range(25):
            with socket.socket() as s:
                s.bind(("127.0.0.1", base + off))
    except OSError:
        continue
    print(base)
    break
PY
)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  bench_cleanup
  scripts/cluster down >/dev/null 2>&1 || true
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "cluster: starting, seeding $USERS users ..."
scripts/cluster up >"$TMP/up.log" 2>&1 || {
  tail -n 30 "$TMP/up.log" >&2
  die "scripts/cluster up failed"
}
while IFS='=' read -r key value; do export "$key=$value"; done < <(scripts/cluster env)

PORT=$(bench_free_port)
SURGE_CACHE_L1_MAX_BYTES=$L1_BYTES SURGE_CACHE_L1_MAX_ENTRIES=1000000000 \
  SURGE_CACHE_L1_TTL_MS=3600000 SURGE_CACHE_L2_ENABLED=false \
  SURGE_DATABASE_CONNECTIONS_PER_THREAD=32 \
  SURGE_SERVER_PORT="$PORT" SURGE_SERVER_ACCESS_LOG=false SURGE_LOG_LEVEL=warn \
  "$SURGE_BIN" serve --config "$SURGE_CONFIG" >"$TMP/surge.log" 2>&1 &
PID=$!
bench_track "$PID"
bench_wait_http "http://127.0.0.1:$PORT/readyz" "$PID" 30 || die "surge did not become ready"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }
gauge() {  # metric name -> value for cache="profile"
  curl -s "http://127.0.0.1:$PORT/metrics" |
    awk -v m="$1" '$1 ~ "^"m"\\{" && $1 ~ /cache="profile"/ { v = $2 } END { print v }' || true
}
BASE=$(rss_kib)
echo "surge: L1 bound $L1_BYTES, idle RSS $((BASE / 1024)) MiB; walking ids 1..$USERS for ${SECONDS_TO_RUN}s"

cat >"$TMP/walk.lua" <<EOF
local id = 0
request = function()
  id = id % $USERS + 1
  return wrk.format("GET", "/api/v1/users/" .. id)
end
EOF
wrk -t1 -c32 -d"${SECONDS_TO_RUN}s" -s "$TMP/walk.lua" "http://127.0.0.1:$PORT" >"$TMP/wrk.txt" 2>&1 &
WRK=$!
bench_track "$WRK"
printf '%6s %10s %12s %14s\n' "t(s)" "RSS MiB" "L1 entries" "L1 bytes MiB"
t=0
MAX=$BASE
while ! bench_exited "$WRK"; do
  sleep 5
  t=$((t + 5))
  rss=$(rss_kib)
  if ((rss > MAX)); then MAX=$rss; fi
  entries=$(gauge surge_cache_entries)
  bytes=$(gauge surge_cache_bytes)
  printf '%6d %10d %12s %14s\n' "$t" "$((rss / 1024))" "${entries:-?}" \
    "$(awk -v b="${bytes:-0}" 'BEGIN { printf "%.1f", b / 1048576 }')"
done
wait "$WRK" || true
bench_untrack "$WRK"
grep -E 'requests in|Non-2xx' "$TMP/wrk.txt" || true

BOUND=$(numfmt --from=iec-i "${L1_BYTES%B}" 2>/dev/null || numfmt --from=iec "${L1_BYTES%iB}")
GROWTH=$(((MAX - BASE) * 1024))
echo "peak RSS $((MAX / 1024)) MiB = idle $((BASE / 1024)) MiB + $((GROWTH / 1048576)) MiB; L1 bound $((BOUND / 1048576)) MiB; growth/bound $(awk -v g="$GROWTH" -v b="$BOUND" 'BEGIN { printf "%.2f", g / b }')"
awk -v g="$GROWTH" -v b="$BOUND" 'BEGIN { exit !(g <= 1.5 * b) }' || {
  echo "RSS growth exceeds 1.5 x the L1 bound" >&2
  exit 4
}
