#!/usr/bin/env bash
# GET /healthz: surge against nginx, one core each, wrk on the other core.
#
#   bench/http_healthz.sh [--duration 10] [--rounds 5]
#
# See bench/README.md ("HTTP core: GET /healthz vs nginx") for what it
# measures and how to read the table. Run `bench/http_healthz.sh --help`.

# Functions here are called by name ("start_$server") and from traps.
# shellcheck disable=SC2317
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/http_healthz.sh [options]

Load-tests GET /healthz on build/surge and on an nginx serving the same JSON,
both pinned to CPU 0 with one thread/worker, wrk pinned to CPU 1, on
127.0.0.1 only. Three loads: 64 connections, 256 connections, and 64
connections pipelining 16 requests per write. Servers alternate
(nginx, surge, nginx, surge, ...) for every round; the table shows medians.

Options:
  --duration SECONDS   length of each measured wrk run (default 10)
  --rounds N           runs per server and load (default 5)
  --warmup SECONDS     unmeasured wrk run before each measured one (default 1, 0 = none)
  --quiet-wait SECONDS before each run, wait up to this long for both CPUs to be
                       90% idle (default 0 = don't wait; use it on a shared box)
  --retries N          redo a run up to N times when other work shared the CPUs
                       during it (default 2; the discarded runs stay in the JSON)
  --no-nice            as root, servers and wrk run at nice -20 so that other
                       work on the box (builds) barely preempts them; this
                       turns that off
  --surge PATH         surge binary (default build/surge, must be a Release build)
  --out DIR            where the JSON result goes (default $BENCH_OUT or /tmp)
  --strict             exit 3 when any target is missed (default: exit 0)
  --keep-tmp           keep the temp dir (configs, server logs, raw wrk output)
  -h, --help           this text

Needs: nginx, wrk, taskset, curl, /usr/bin/python3, at least 2 CPUs.
Build surge first:  cmake -S . -B build -G Ninja && cmake --build build
EOF
}

# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------
DURATION=10
ROUNDS=5
WARMUP=1
QUIET_WAIT=0
RETRIES=2
NICE=1
SURGE_BIN=build/surge
OUT_DIR=${BENCH_OUT:-/tmp}
STRICT=0
KEEP_TMP=0
PIPELINE_DEPTH=16
ORIG_ARGS=("$@")

die() {
  echo "http_healthz: $*" >&2
  exit 1
}

need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) need_value "$@"; DURATION=$2; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    --rounds) need_value "$@"; ROUNDS=$2; shift 2 ;;
    --rounds=*) ROUNDS=${1#*=}; shift ;;
    --warmup) need_value "$@"; WARMUP=$2; shift 2 ;;
    --warmup=*) WARMUP=${1#*=}; shift ;;
    --quiet-wait) need_value "$@"; QUIET_WAIT=$2; shift 2 ;;
    --quiet-wait=*) QUIET_WAIT=${1#*=}; shift ;;
    --retries) need_value "$@"; RETRIES=$2; shift 2 ;;
    --retries=*) RETRIES=${1#*=}; shift ;;
    --surge) need_value "$@"; SURGE_BIN=$2; shift 2 ;;
    --surge=*) SURGE_BIN=${1#*=}; shift ;;
    --out) need_value "$@"; OUT_DIR=$2; shift 2 ;;
    --out=*) OUT_DIR=${1#*=}; shift ;;
    --strict) STRICT=1; shift ;;
    --no-nice) NICE=0; shift ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number of seconds >= 1"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a whole number >= 1"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "--warmup must be a whole number of seconds >= 0"
[[ "$QUIET_WAIT" =~ ^[0-9]+$ ]] || die "--quiet-wait must be a whole number of seconds >= 0"
[[ "$RETRIES" =~ ^[0-9]+$ ]] || die "--retries must be a whole number >= 0"

# --surge and --out are relative to where you run the script from; the
# default build/surge is relative to the repository root.
CALLER_PWD=$PWD
[[ "$SURGE_BIN" == /* || "$SURGE_BIN" == build/surge ]] || SURGE_BIN=$CALLER_PWD/$SURGE_BIN
[[ "$OUT_DIR" == /* ]] || OUT_DIR=$CALLER_PWD/$OUT_DIR
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
REPORT=bench/lib/http_healthz_report.py
PIPELINE_LUA=bench/wrk/pipeline.lua

# ---------------------------------------------------------------------------
# Preconditions
# ---------------------------------------------------------------------------
for tool in nginx wrk taskset curl getconf pgrep; do
  command -v "$tool" >/dev/null || die "$tool is not installed (Debian: apt-get install nginx-light wrk util-linux curl procps)"
done
[[ -x "$BENCH_PY" ]] || die "$BENCH_PY is missing (apt-get install python3)"
[[ "$(nproc --all)" -ge 2 ]] || die "needs at least 2 CPUs (server on CPU 0, wrk on CPU 1)"
taskset -c 0,1 true 2>/dev/null || die "cannot pin to CPUs 0 and 1 (taskset -c 0,1 failed)"

if [[ ! -x "$SURGE_BIN" ]]; then
  cat >&2 <<EOF
http_healthz: $SURGE_BIN not found. Build it first (Release is the default):

  cmake -S . -B build -G Ninja && cmake --build build

(only the server is needed: cmake --build build --target surge)
EOF
  exit 1
fi
CACHE="$(dirname "$SURGE_BIN")/CMakeCache.txt"
BUILD_TYPE=unknown
SANITIZE=""
if [[ -f "$CACHE" ]]; then
  BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$CACHE")
  SANITIZE=$(sed -n 's/^SURGE_SANITIZE:[A-Z]*=//p' "$CACHE")
  if [[ "$BUILD_TYPE" != "Release" || -n "$SANITIZE" ]]; then
    die "$SURGE_BIN is a '${BUILD_TYPE:-default}' build${SANITIZE:+ with SURGE_SANITIZE=$SANITIZE}; benchmark a Release build:
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSURGE_SANITIZE= && cmake --build build --target surge"
  fi
else
  echo "http_healthz: warning: no $CACHE next to $SURGE_BIN; cannot check it is a Release build" >&2
fi

CLK_TCK=$(getconf CLK_TCK)

# Priority for everything measured (servers and wrk alike): at nice -20 a
# compile at nice 0 on the same CPU gets about 1% of it instead of half.
# With autogroup scheduling (kernel.sched_autogroup_enabled=1) nice only
# ranks processes within one session, so each measured process also gets a
# session of its own (setsid) whose autogroup is set to nice -20
# (bench_boost). Both servers and wrk get the same treatment.
PRIO=()
if [[ "$NICE" == 1 ]]; then
  if [[ "$(id -u)" == 0 ]] && nice -n -20 true 2>/dev/null; then
    PRIO=(setsid nice -n -20)
  else
    echo "http_healthz: not root: running at normal priority (other work will show more)" >&2
  fi
fi
boost() {
  [[ ${#PRIO[@]} -gt 0 ]] || return 0
  bench_boost "$1"
}
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)

# ---------------------------------------------------------------------------
# Temp dir and cleanup: every process we start is stopped on any exit,
# including Ctrl-C and kill (background jobs of a script ignore SIGINT, so
# the trap has to do it).
# ---------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/surge-http-healthz.XXXXXX")
NGINX_WORKER=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP PIPE
  bench_cleanup
  # The nginx worker exits with its master; make sure of it.
  if [[ -n "$NGINX_WORKER" ]] && bench_alive "$NGINX_WORKER"; then
    kill -KILL "$NGINX_WORKER" 2>/dev/null || true
  fi
  if [[ "$KEEP_TMP" == 1 ]]; then
    echo "http_healthz: temp files kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "http_healthz: interrupted" >&2; exit 130' INT
trap 'echo "http_healthz: terminated" >&2; exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# Every run uses this one copy: a rebuild of build/ during the benchmark (by
# you or a concurrent build) cannot swap the binary between rounds.
SURGE_RUN=$TMP/surge
cp "$SURGE_BIN" "$SURGE_RUN"
SURGE_SHA=$(sha256sum "$SURGE_RUN" | cut -c1-16)

# ---------------------------------------------------------------------------
# Servers. Each start_* sets SERVER_PID (the process to stop), CPU_PID (the
# process whose CPU time is measured) and PORT.
# ---------------------------------------------------------------------------
SERVER_PID=""
CPU_PID=""
PORT=""
SERVER_LOG=""

SERVER_STDOUT=""

show_log_and_die() {
  local f
  for f in "$SERVER_LOG" "$SERVER_STDOUT"; do
    [[ -n "$f" && -s "$f" ]] || continue
    echo "---- last lines of $f ----" >&2
    tail -n 30 "$f" >&2 || true
  done
  echo "----" >&2
  die "$*"
}

start_nginx() {
  local dir=$TMP/nginx user_line=""
  mkdir -p "$dir"
  PORT=$(bench_free_port)
  SERVER_LOG=$dir/error.log
  SERVER_STDOUT=$dir/stdout.log
  # As root without a `user` directive the worker would run as nobody and
  # could not use the 0700 temp dir.
  [[ "$(id -u)" == 0 ]] && user_line="user root;"
  cat >"$dir/nginx.conf" <<EOF
# Written by bench/http_healthz.sh: one worker on CPU 0, no logging, a
# constant JSON answer on /healthz (the same body surge returns).
$user_line
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity 0001;
pid $dir/nginx.pid;
error_log $dir/error.log warn;

events {
  worker_connections 4096;
}

http {
  access_log off;
  # Default is 1000 (1.19.10+): wrk would be forced to reconnect every
  # 1000 requests. Surge closes nothing, so keep-alive must not be what
  # limits either side.
  keepalive_requests 1000000;
  keepalive_timeout 75s;

  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;

  server {
    listen 127.0.0.1:$PORT;
    location = /healthz {
      default_type application/json;
      return 200 '$HEALTHZ_BODY';
    }
  }
}
EOF
  "${PRIO[@]}" taskset -c 0 nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
    >>"$SERVER_STDOUT" 2>&1 &
  SERVER_PID=$!
  bench_track "$SERVER_PID"
  boost "$SERVER_PID"
  bench_wait_http "http://127.0.0.1:$PORT/healthz" "$SERVER_PID" 10 ||
    show_log_and_die "nginx did not come up on 127.0.0.1:$PORT"
  local kids
  kids=$(bench_children "$SERVER_PID")
  [[ -n "$kids" && "$(wc -w <<<"$kids")" == 1 ]] ||
    show_log_and_die "expected exactly one nginx worker under master $SERVER_PID, found: ${kids:-none}"
  NGINX_WORKER=$kids
  CPU_PID=$NGINX_WORKER
}

start_surge() {
  PORT=$(bench_free_port)
  SERVER_LOG=$TMP/surge.log
  SERVER_STDOUT=""
  # Only the settings below: drop any SURGE_* the caller has exported.
  local unset_args=() v
  for v in $(compgen -e); do
    [[ "$v" == SURGE_* ]] && unset_args+=(-u "$v")
  done
  env "${unset_args[@]}" \
    SURGE_SERVER_THREADS=1 \
    SURGE_SERVER_ACCESS_LOG=false \
    SURGE_LOG_LEVEL=warn \
    SURGE_SERVER_ADDRESS=127.0.0.1 \
    SURGE_SERVER_PORT="$PORT" \
    SURGE_SERVER_MAX_CONNECTIONS=100000 \
    "${PRIO[@]}" taskset -c 0 "$SURGE_RUN" serve >>"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  bench_track "$SERVER_PID"
  boost "$SERVER_PID"
  bench_wait_http "http://127.0.0.1:$PORT/healthz" "$SERVER_PID" 10 ||
    show_log_and_die "surge did not come up on 127.0.0.1:$PORT"
  [[ "$(cat "/proc/$SERVER_PID/comm")" == surge ]] ||
    show_log_and_die "pid $SERVER_PID is not surge: cannot measure its CPU time"
  CPU_PID=$SERVER_PID
}

stop_server() {
  bench_stop "$SERVER_PID"
  if [[ -n "$NGINX_WORKER" ]]; then
    local i
    for ((i = 0; i < 50; i++)); do
      bench_alive "$NGINX_WORKER" || break
      sleep 0.1
    done
    if bench_alive "$NGINX_WORKER"; then
      kill -KILL "$NGINX_WORKER" 2>/dev/null || true
    fi
    NGINX_WORKER=""
  fi
  SERVER_PID=""
  CPU_PID=""
}

# ---------------------------------------------------------------------------
# Loads: name, connections, pipeline depth (1 = none), targets for surge/nginx
# ---------------------------------------------------------------------------
LOAD_NAMES=(c64 c256 "c64-pipeline$PIPELINE_DEPTH")
LOAD_CONNS=(64 256 64)
LOAD_DEPTH=(1 1 "$PIPELINE_DEPTH")
LOAD_TARGETS=("rps>=1.0,cpu<=1.0" "rps>=1.0,cpu<=1.0" "rps>=4.0")

# wrk arguments (without the URL) for load i and a duration.
wrk_args() {
  local i=$1 secs=$2
  local args=(-t1 "-c${LOAD_CONNS[i]}" "-d${secs}s" --latency)
  if [[ "${LOAD_DEPTH[i]}" != 1 ]]; then
    args+=(-s "$PIPELINE_LUA")
  fi
  printf '%s\n' "${args[@]}"
}

# Arguments after the URL (the pipeline depth for pipeline.lua).
wrk_script_args() {
  local i=$1
  if [[ "${LOAD_DEPTH[i]}" != 1 ]]; then
    printf '%s\n' -- "${LOAD_DEPTH[i]}"
  fi
}

# Runs wrk in the background and waits, so that a signal reaches our trap at
# once (a foreground child would delay it to the end of the run).
# Meanwhile it samples wrk's scheduler stats (WRK_WAIT_PCT: the share of the
# run that wrk was runnable but not running, i.e. held off its CPU).
WRK_WAIT_PCT=0
run_wrk() {
  local out=$1
  shift
  local start=$EPOCHREALTIME
  "${PRIO[@]}" taskset -c 1 wrk "$@" >"$out" 2>&1 &
  local pid=$!
  bench_track "$pid"
  boost "$pid"
  local sched="0 0" at=$start
  while ! bench_exited "$pid"; do
    bench_sched_ns "$pid"
    if ! bench_exited "$pid"; then
      sched=$BENCH_SCHED
      at=$EPOCHREALTIME
    fi
    sleep 0.25
  done
  WRK_WAIT_PCT=$(awk -v s="$sched" -v t0="$start" -v t1="$at" 'BEGIN {
    split(s, x); d = (t1 - t0) * 1e9
    printf "%.2f\n", (d > 0) ? 100 * x[2] / d : 0 }')
  local rc=0
  wait "$pid" || rc=$?
  bench_untrack "$pid"
  if [[ $rc != 0 ]]; then
    cat "$out" >&2
    die "wrk exited with status $rc"
  fi
}

# Waits (up to QUIET_WAIT seconds) until both CPUs were at most 10% busy
# over one second: other people's builds on the same box skew everything.
wait_quiet() {
  [[ "$QUIET_WAIT" -gt 0 ]] || return 0
  local start=$SECONDS a0 a1 b0 b1
  while ((SECONDS - start < QUIET_WAIT)); do
    a0=$(bench_core_jiffies 0)
    a1=$(bench_core_jiffies 1)
    sleep 1
    b0=$(bench_core_jiffies 0)
    b1=$(bench_core_jiffies 1)
    if awk -v a0="$a0" -v b0="$b0" -v a1="$a1" -v b1="$b1" 'BEGIN {
         split(a0, x); split(b0, y); split(a1, u); split(b1, v)
         p0 = (y[2] > x[2]) ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0
         p1 = (v[2] > u[2]) ? 100 * (v[1] - u[1]) / (v[2] - u[2]) : 0
         exit !(p0 <= 10 && p1 <= 10) }'; then
      if ((SECONDS - start > 1)); then
        echo "  (waited $((SECONDS - start))s for idle CPUs)"
      fi
      return 0
    fi
  done
  echo "  (CPUs still busy after ${QUIET_WAIT}s of waiting; measuring anyway)"
}

RUNS=$TMP/runs.jsonl
DISCARDED=$TMP/discarded.jsonl
ATTEMPT=$TMP/attempt.jsonl
: >"$RUNS"
: >"$DISCARDED"

# One measured run, redone (up to RETRIES times) when it was contended.
measure() {
  local try
  for ((try = 0; ; try++)); do
    : >"$ATTEMPT"
    measure_once "$@"
    if ((try < RETRIES)) && grep -q '"contended": true' "$ATTEMPT"; then
      cat "$ATTEMPT" >>"$DISCARDED"
      echo "  -> discarded, measuring again (retry $((try + 1)) of $RETRIES)"
      continue
    fi
    cat "$ATTEMPT" >>"$RUNS"
    return 0
  done
}

measure_once() {
  local i=$1 server=$2 round=$3
  local name=${LOAD_NAMES[i]}
  wait_quiet
  "start_$server"
  local url="http://127.0.0.1:$PORT/healthz"

  # Both servers must answer the same thing before we compare their speed.
  local body
  body=$(curl -s --max-time 2 "$url") || show_log_and_die "$server: GET $url failed"
  [[ "$body" == "$HEALTHZ_BODY" ]] ||
    show_log_and_die "$server: GET /healthz answered '$body', expected '$HEALTHZ_BODY'"

  local args=() post=()
  mapfile -t post < <(wrk_script_args "$i")
  if [[ "$WARMUP" -gt 0 ]]; then
    mapfile -t args < <(wrk_args "$i" "$WARMUP")
    run_wrk "$TMP/warmup.txt" "${args[@]}" "$url" "${post[@]}"
  fi

  mapfile -t args < <(wrk_args "$i" "$DURATION")
  local out="$TMP/wrk-$name-$server-$round.txt"
  local t0 t1 c0_before c0_after c1_before c1_after s0 s1
  c0_before=$(bench_core_jiffies 0)
  c1_before=$(bench_core_jiffies 1)
  bench_sched_ns "$CPU_PID"
  s0=$BENCH_SCHED
  t0=$(bench_cpu_ticks "$CPU_PID")
  times >"$TMP/times0"
  run_wrk "$out" "${args[@]}" "$url" "${post[@]}"
  times >"$TMP/times1"
  bench_alive "$CPU_PID" ||
    show_log_and_die "$server (pid $CPU_PID) died during the run"
  t1=$(bench_cpu_ticks "$CPU_PID")
  bench_sched_ns "$CPU_PID"
  s1=$BENCH_SCHED
  c0_after=$(bench_core_jiffies 0)
  c1_after=$(bench_core_jiffies 1)
  # wrk's own CPU time: the children's CPU of this shell grew by wrk's.
  local wrk_ms
  wrk_ms=$(($(bench_times_children_ms "$TMP/times1") - $(bench_times_children_ms "$TMP/times0")))
  "$BENCH_PY" "$REPORT" record "$ATTEMPT" --load "$name" --server "$server" \
    --round "$round" --rounds "$ROUNDS" --wrk-out "$out" \
    --ticks-before "$t0" --ticks-after "$t1" --clk-tck "$CLK_TCK" \
    --core0 "$c0_before" "$c0_after" --core1 "$c1_before" "$c1_after" \
    --server-sched "$s0" "$s1" --wrk-wait-pct "$WRK_WAIT_PCT" \
    --wrk-cpu-ms "$wrk_ms"
  # A server that crashed or logged errors under load must be visible.
  if [[ "$server" == surge ]] && grep -qE '"level":"(error|critical)"' "$SERVER_LOG" 2>/dev/null; then
    echo "  !! surge logged errors during the run:"
    grep -E '"level":"(error|critical)"' "$SERVER_LOG" | tail -n 5 | sed 's/^/     /'
  fi
  stop_server
  : >"$TMP/surge.log"
}

# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------
# nginx serves exactly the body surge serves (today {"status":"ok"} plus,
# depending on the version, a list of dependencies), so both send the same
# bytes. Probed once from a surge started with the benchmark's settings.
HEALTHZ_BODY='{"status":"ok"}'
start_surge
HEALTHZ_BODY=$(curl -s --max-time 2 "http://127.0.0.1:$PORT/healthz") ||
  show_log_and_die "surge: GET /healthz failed"
stop_server
"$BENCH_PY" -c 'import json, sys; sys.exit(json.loads(sys.argv[1]).get("status") != "ok")' \
  "$HEALTHZ_BODY" 2>/dev/null ||
  die "surge's GET /healthz body is not JSON with \"status\":\"ok\": $HEALTHZ_BODY"
case "$HEALTHZ_BODY" in
  *"'"* | *"\\"* | *'$'* | *$'\n'*)
    die "surge's /healthz body has characters this script cannot put in nginx.conf: $HEALTHZ_BODY" ;;
esac
: >"$TMP/surge.log"

per_run=$((DURATION + WARMUP + 1))
total=$((${#LOAD_NAMES[@]} * ROUNDS * 2 * per_run))
echo "GET /healthz: nginx vs $SURGE_BIN ($BUILD_TYPE, sha256 $SURGE_SHA...)"
echo "  $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
echo "  servers pinned to CPU 0 (1 worker / SURGE_SERVER_THREADS=1), wrk to CPU 1 (-t1)${PRIO[*]:+, both at ${PRIO[*]}}"
echo "  ${#LOAD_NAMES[@]} loads x $ROUNDS round(s) x 2 servers, ${DURATION}s each (+${WARMUP}s warm-up): about $((total / 60))m$((total % 60))s"
echo "  both answer GET /healthz with the ${#HEALTHZ_BODY}-byte body $HEALTHZ_BODY"
if awk -v l="$LOAD_BEFORE" 'BEGIN { exit !(l > 0.5) }'; then
  echo "  warning: load average is $LOAD_BEFORE: other work on this machine will skew the numbers"
fi

for i in "${!LOAD_NAMES[@]}"; do
  mapfile -t args < <(wrk_args "$i" "$DURATION")
  mapfile -t post < <(wrk_script_args "$i")
  echo
  echo "${LOAD_NAMES[i]}: ${PRIO[*]:+${PRIO[*]} }taskset -c 1 wrk ${args[*]} http://127.0.0.1:PORT/healthz${post[*]:+ ${post[*]}}"
  # ABBA order (nginx first in odd rounds, surge first in even ones): the
  # box drifts between slow and fast phases that last a few runs, and a pair
  # measured back to back shares the phase whichever server goes first.
  for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)); then
      measure "$i" nginx "$round"
      measure "$i" surge "$round"
    else
      measure "$i" surge "$round"
      measure "$i" nginx "$round"
    fi
  done
done

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT_DIR"
OUT_JSON="$OUT_DIR/http_healthz-$STAMP.json"
META=$TMP/meta.json
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo none)
DIRTY=$([[ -n "$(git status --porcelain 2>/dev/null | head -n1)" ]] && echo true || echo false)
M_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
M_COMMAND="bench/http_healthz.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}" \
M_DURATION=$DURATION M_ROUNDS=$ROUNDS M_WARMUP=$WARMUP M_DEPTH=$PIPELINE_DEPTH \
M_QUIET_WAIT=$QUIET_WAIT M_RETRIES=$RETRIES M_PRIO="${PRIO[*]}" M_BODY="$HEALTHZ_BODY" \
M_SURGE="$SURGE_BIN" M_SURGE_SHA="$SURGE_SHA" M_BUILD_TYPE="$BUILD_TYPE" M_COMMIT="$COMMIT" M_DIRTY="$DIRTY" \
M_NGINX="$(nginx -v 2>&1 | sed 's/^nginx version: //')" \
M_WRK="$(wrk -v 2>&1 | head -n1 | cut -d' ' -f2)" \
M_CPUS="$(nproc --all)" M_CLK_TCK="$CLK_TCK" \
M_LOAD_BEFORE="$LOAD_BEFORE" M_LOAD_AFTER="$(cut -d' ' -f1 /proc/loadavg)" \
  "$BENCH_PY" - "$META" <<'PY'
import json, os, platform, sys
e = os.environ
cpu = "unknown"
try:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
except OSError:
    pass
meta = {
    "benchmark": "http_healthz",
    "date": e["M_DATE"],
    "command": e["M_COMMAND"],
    "duration_s": int(e["M_DURATION"]),
    "rounds": int(e["M_ROUNDS"]),
    "warmup_s": int(e["M_WARMUP"]),
    "quiet_wait_s": int(e["M_QUIET_WAIT"]),
    "retries": int(e["M_RETRIES"]),
    "priority": (e["M_PRIO"] + " (+ autogroup nice -20)") if e["M_PRIO"] else "default",
    "healthz_body": e["M_BODY"],
    "pipeline_depth": int(e["M_DEPTH"]),
    "surge_binary": e["M_SURGE"],
    "surge_sha256_prefix": e["M_SURGE_SHA"],
    "surge_build_type": e["M_BUILD_TYPE"],
    "git_commit": e["M_COMMIT"],
    "git_dirty": e["M_DIRTY"] == "true",
    "nginx": e["M_NGINX"],
    "wrk": e["M_WRK"],
    "cpus": int(e["M_CPUS"]),
    "cpu_model": cpu,
    "kernel": platform.release(),
    "clk_tck": int(e["M_CLK_TCK"]),
    "loadavg_before": float(e["M_LOAD_BEFORE"]),
    "loadavg_after": float(e["M_LOAD_AFTER"]),
    "server_cpu": 0,
    "wrk_cpu": 1,
}
with open(sys.argv[1], "w") as f:
    json.dump(meta, f, indent=2)
PY

summary_args=()
for i in "${!LOAD_NAMES[@]}"; do
  mapfile -t args < <(wrk_args "$i" "$DURATION")
  mapfile -t post < <(wrk_script_args "$i")
  summary_args+=(--load "${LOAD_NAMES[i]}" "wrk ${args[*]}${post[*]:+ URL ${post[*]}}" "${LOAD_TARGETS[i]}")
done
rc=0
"$BENCH_PY" "$REPORT" summary "$RUNS" "$META" "$OUT_JSON" --discarded "$DISCARDED" \
  "${summary_args[@]}" || rc=$?
if [[ $rc == 3 ]]; then
  [[ "$STRICT" == 1 ]] && exit 3
  exit 0
fi
exit "$rc"
