#!/usr/bin/env bash
# Red packet grab storm: surge's POST /api/v1/redpackets/{id}/grab (wrk,
# tokens of 50 000 users) beside redis-benchmark running the same Lua grab
# script with EVALSHA on the same campaign shard — same durability — and the
# same at appendfsync everysec, to price `appendfsync always`. After every
# run: zero-oversell check (granted ≤ count, granted + left = count, one
# grab per user, sums equal).
#
#   scripts/cluster up && bench/grab_storm.sh [--duration 10] [--users 50000]
#
# Uses the running local cluster (scripts/cluster env). By default, as
# DESIGN.md's targets are measured: one `surge serve` of our own (one I/O
# thread) and the campaign's Redis shard share CPU 0, wrk runs on CPU 1; the
# reference is that shard on CPU 0 and redis-benchmark on CPU 1. So the ratio
# is what the HTTP layer adds on top of Redis doing the same work.
# --through-lb: wrk through the load balancer (nginx, both apps) instead,
# nothing pinned. --wrk-threads N (default 1: two wrk threads pinned to one
# core only compete with each other); --always-only skips the everysec pair.
# Everything stays on 127.0.0.1. The shard's appendfsync and CPU affinity
# are restored on exit.
set -euo pipefail

DURATION=10
USERS=50000
CONNECTIONS=256
WRK_THREADS=1
ALWAYS_ONLY=0
COUNT=200000
THROUGH_LB=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --wrk-threads) WRK_THREADS=$2; shift 2 ;;
    --always-only) ALWAYS_ONLY=1; shift ;;
    --through-lb) THROUGH_LB=1; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "grab_storm: unknown option $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
eval "$(scripts/cluster env | sed 's/^/export /')"
TMP=$(mktemp -d /tmp/surge-grab-storm.XXXXXX)
SHARD_ADDR=""
SURGE_PID=""
restore() {
  if [ -n "$SHARD_ADDR" ]; then
    redis-cli -h "${SHARD_ADDR%:*}" -p "${SHARD_ADDR##*:}" CONFIG SET appendfsync always >/dev/null || true
  fi
  unpin_shards
  if [ -n "$SURGE_PID" ]; then
    kill "$SURGE_PID" 2>/dev/null || true
    wait "$SURGE_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
shard_pid() {  # host:port → pid of the redis-server listening there ("" if none)
  # Never fails: restore() runs it on exit, also when a shard is down.
  ss -ltnpH "sport = :${1##*:}" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true
}
pin_shard() {  # host:port → the shard's threads on CPU 0 (direct mode)
  [ "$THROUGH_LB" = 1 ] && return 0
  local pid
  pid=$(shard_pid "$1")
  [ -n "$pid" ] && taskset -a -pc 0 "$pid" >/dev/null
}
unpin_shards() {
  local a pid
  for a in ${SURGE_REDIS//,/ }; do
    pid=$(shard_pid "$a")
    [ -n "$pid" ] && taskset -a -pc "0-$(($(nproc) - 1))" "$pid" >/dev/null 2>&1 || true
  done
}
trap restore EXIT

"$SURGE_BIN" token --config "$SURGE_CONFIG" --users "1-$USERS" --ttl 3600 >"$TMP/tokens"

TARGET_URL=$SURGE_URL
WRK_PIN=()
BENCH_PIN=()
if [ "$THROUGH_LB" = 0 ]; then
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  SURGE_SERVER_PORT=$port SURGE_SERVER_THREADS=1 SURGE_SERVER_ACCESS_LOG=false SURGE_LOG_LEVEL=warn \
    SURGE_SERVER_MAX_CONNECTIONS=100000 taskset -c 0 "$SURGE_BIN" serve --config "$SURGE_CONFIG" \
    >"$TMP/surge.log" 2>&1 &
  SURGE_PID=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break
    sleep 0.1
  done
  curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || { tail -20 "$TMP/surge.log" >&2; exit 1; }
  TARGET_URL=http://127.0.0.1:$port
  WRK_PIN=(taskset -c 1)
  BENCH_PIN=(taskset -c 1)
  echo "surge serve (1 thread) and the campaign shard on CPU 0; wrk and redis-benchmark on CPU 1"
fi
admin() { curl -sf -H "Authorization: Bearer $SURGE_ADMIN_TOKEN" "$@"; }
now() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; }

create() {  # → red packet id
  admin -X POST -H 'Content-Type: application/json' "$SURGE_URL/api/v1/admin/redpackets" \
    -d "{\"total_cents\":$((COUNT * 100)),\"count\":$COUNT,\"starts_at\":\"$(now -5)\",\"ends_at\":\"$(now 3600)\"}" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

shard_of() {  # ID → host:port of the shard holding rp:{ID}:meta
  local a
  for a in ${SURGE_REDIS//,/ }; do
    if [ "$(redis-cli -h "${a%:*}" -p "${a##*:}" EXISTS "rp:{$1}:meta")" = 1 ]; then
      echo "$a"
      return
    fi
  done
  echo "grab_storm: red packet $1 on no shard" >&2
  exit 1
}

# Before each measured phase: no AOF rewrite running on any shard (one that
# Redis starts by itself forks and copies the dataset to the disk the
# fsyncs wait on: a storm right after `scripts/cluster up` on a folder with
# a long AOF measured p99 428-719 ms, the next one 25 ms) and the page cache
# synced.
settle() {
  local a
  for a in ${SURGE_REDIS//,/ }; do
    for _ in $(seq 1 600); do
      redis-cli -h "${a%:*}" -p "${a##*:}" INFO persistence 2>/dev/null |
        grep -Eq '^(aof_rewrite_in_progress|aof_rewrite_scheduled):1' || break
      sleep 0.1
    done
  done
  sync
}

# The measured red packet leaves its shard (its stream entries are the
# worker's; the rows stay).
forget() {  # ID ADDR
  redis-cli -h "${2%:*}" -p "${2##*:}" UNLINK "rp:{$1}:meta" "rp:{$1}:amounts" "rp:{$1}:grabs" >/dev/null
}

check() {  # ID ADDR: zero oversell
  local id=$1 h=${2%:*} p=${2##*:}
  local granted cents left users sum
  granted=$(redis-cli -h "$h" -p "$p" HGET "rp:{$id}:meta" granted_count)
  cents=$(redis-cli -h "$h" -p "$p" HGET "rp:{$id}:meta" granted_cents)
  left=$(redis-cli -h "$h" -p "$p" LLEN "rp:{$id}:amounts")
  users=$(redis-cli -h "$h" -p "$p" HLEN "rp:{$id}:grabs")
  sum=$(redis-cli -h "$h" -p "$p" EVAL "local s=0 for _,v in ipairs(redis.call('HVALS',KEYS[1])) do s=s+tonumber(v) end return s" 1 "rp:{$id}:grabs")
  if [ "$granted" -le "$COUNT" ] && [ $((granted + left)) = "$COUNT" ] && [ "$users" = "$granted" ] && [ "$sum" = "$cents" ]; then
    echo "  zero oversell: granted $granted of $COUNT, $left left, $users users, $cents cents: OK"
  else
    echo "  OVERSELL CHECK FAILED: granted=$granted left=$left users=$users cents=$cents sum=$sum" >&2
    exit 1
  fi
}

# The grab script as the binary has it (same text → same SHA1).
/usr/bin/python3 - src/redpackets/hot.cpp >"$TMP/grab.lua" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
sys.stdout.write(re.search(r'kGrab\(R"lua\((.*?)\)lua"\)', src, re.S).group(1))
PY

run_mode() {  # appendfsync mode
  local mode=$1 id addr h p sha wrk_rps rb_rps rb_p50 rb_p99
  id=$(create)
  addr=$(shard_of "$id")
  SHARD_ADDR=$addr
  h=${addr%:*} p=${addr##*:}
  redis-cli -h "$h" -p "$p" CONFIG SET appendfsync "$mode" >/dev/null
  settle
  pin_shard "$addr"
  echo "appendfsync $mode: red packet $id (count $COUNT) on shard $addr"
  TOKENS_FILE="$TMP/tokens" GRAB_PATH="/api/v1/redpackets/$id/grab" \
    "${WRK_PIN[@]}" wrk -t"$WRK_THREADS" --latency -c"$CONNECTIONS" -d"${DURATION}s" -s bench/wrk/grab.lua "$TARGET_URL" >"$TMP/wrk.$mode" 2>&1
  unpin_shards
  wrk_rps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.$mode")
  grep -E "^ +Latency|Non-2xx|Socket errors|^ +(50|99)%" "$TMP/wrk.$mode" | sed "s/^/  wrk: /"
  p99=$(awk '$1 == "99%" {print $2}' "$TMP/wrk.$mode")
  check "$id" "$addr"
  forget "$id" "$addr"

  # redis-benchmark: the same script, same keys layout, random users.
  local id2
  id2=$(create)
  addr=$(shard_of "$id2")
  h=${addr%:*} p=${addr##*:}
  redis-cli -h "$h" -p "$p" CONFIG SET appendfsync "$mode" >/dev/null
  sha=$(redis-cli -h "$h" -p "$p" -x SCRIPT LOAD <"$TMP/grab.lua")
  local n=$((DURATION * 40000))
  settle
  pin_shard "$addr"
  "${BENCH_PIN[@]}" redis-benchmark -h "$h" -p "$p" -c "$CONNECTIONS" -n "$n" -r "$USERS" --csv \
    EVALSHA "$sha" 4 "rp:{$id2}:meta" "rp:{$id2}:amounts" "rp:{$id2}:grabs" rp:stream __rand_int__ "$id2" \
    >"$TMP/rb.$mode" 2>&1 || true
  # --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
  # "p95_latency_ms","p99_latency_ms","max_latency_ms" — the reference's own
  # latency at the same connection count, beside surge's.
  read -r rb_rps rb_p50 rb_p99 < <(tr -d '"' <"$TMP/rb.$mode" | awk -F, '$1 ~ /^EVALSHA/ {print $2, $5, $7}')
  unpin_shards
  check "$id2" "$addr"
  forget "$id2" "$addr"
  local ratio
  ratio=$(/usr/bin/python3 -c "print(f'{float(\"$wrk_rps\")/float(\"$rb_rps\"):.2f}')")
  printf '  %-22s %12s req/s\n  %-22s %12s ops/s  p50 %s ms  p99 %s ms\n  ratio surge/redis      %12s   (target >= 0.5)\n' \
    "surge grab (wrk)" "$wrk_rps" "redis-benchmark EVALSHA" "$rb_rps" "$rb_p50" "$rb_p99" "$ratio"
  echo "$mode $wrk_rps $rb_rps $ratio $p99 ${rb_p99}ms" >>"$TMP/summary"
}

run_mode always
if [ "$ALWAYS_ONLY" = 0 ]; then
  run_mode everysec
fi
echo
echo "mode      surge_req/s  redis_ops/s  ratio  surge_p99  redis_p99 (target: ratio >= 0.5, p99 < 10ms at $CONNECTIONS connections)"
awk '{printf "%-9s %11s  %11s  %5s  %9s  %9s\n", $1, $2, $3, $4, $5, $6}' "$TMP/summary"
