#!/usr/bin/env bash
# The user center and daily sign-in under load, each beside its reference in
# the same run (issue 4, DESIGN.md "Targets"):
#
#   hot     GET /api/v1/users/{id}, 1 000 hot ids (L1 hits)  vs nginx serving
#           the same bytes as one small static file per id        target >= 1.0x
#   l2      the same with the L1 cache off (L2 Redis hits)   vs the same nginx
#                                                                 target >= 0.5x
#   cold    L1 and L2 off, ids over all 100 000 users (replica reads)
#                                                       vs pgbench -S on the replica
#   signin  POST /api/v1/signin, a token per user walked in order over 100 000
#           users (each request a first sign-in of the day)
#                        vs pgbench running the same award statement (ceiling)
#
#   bench/users.sh [--duration 10] [--connections 64] [--rounds 3] [--surge build/surge]
#
# The hot case runs --rounds times in ABBA order (surge first in odd rounds,
# nginx first in even ones) and is judged on the median of the per-round
# ratios: a pair is measured back to back, in one phase of a box whose speed
# drifts by ±10% from minute to minute (bench/README.md, /healthz).
#
# A private scripts/cluster (temp folder, free ports, 100 000 seeded users)
# holds the data. The measured surge runs one I/O thread pinned to CPU 0, as
# does nginx's one worker; wrk and pgbench's client run on CPU 1. PostgreSQL
# and Redis are not pinned: on two cores they share both with the rest, so
# the database-bound cases measure the whole machine. After the sign-in storm
# the database is checked: one row per user and day, and every user's points
# equal the sum of their sign-ins (nobody awarded twice).
#
# Prints a table (rps, p99, server CPU per request, ratio) and writes the
# figures as JSON to $BENCH_OUT (default /tmp)/users-<time>.json.
# shellcheck disable=SC2317  # functions called from traps
set -euo pipefail

DURATION=10
CONNECTIONS=64
ROUNDS=3
SURGE_BIN=build/surge
HOT_IDS=1000
USERS=100000
OUT_DIR=${BENCH_OUT:-/tmp}

usage() { sed -n '2,/^# shellcheck/{/^# shellcheck/d;s/^# \{0,1\}//;p}' "$0"; }
die() {
  echo "bench/users: $*" >&2
  exit 1
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --surge) SURGE_BIN=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number >= 1"
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] || die "--connections must be a whole number >= 1"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a whole number >= 1"
[[ "$SURGE_BIN" == /* ]] || SURGE_BIN=$PWD/$SURGE_BIN
[[ -x "$SURGE_BIN" ]] || die "$SURGE_BIN not found: build it first (scripts/build)"
[[ "$OUT_DIR" == /* ]] || OUT_DIR=$PWD/$OUT_DIR

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
for tool in nginx wrk taskset curl psql pgbench; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/bootstrap installs it)"
done
[[ "$(nproc --all)" -ge 2 ]] || die "needs at least 2 CPUs"
PG_BIN=/usr/lib/postgresql/15/bin
PGBENCH=$(command -v pgbench)
[[ -x $PG_BIN/pgbench ]] && PGBENCH=$PG_BIN/pgbench
CLK_TCK=$(getconf CLK_TCK)
# Database clients on either side: the connections, within the cluster's
# max_connections (200) beside the apps' own pools.
DB_CLIENTS=$((CONNECTIONS < 64 ? CONNECTIONS : 64))

TMP=$(mktemp -d "${TMPDIR:-/tmp}/surge-bench-users.XXXXXX")
chmod 755 "$TMP"  # the cluster's PostgreSQL runs as an unprivileged user
RESULTS=$TMP/results.jsonl
: >"$RESULTS"

# ---------------------------------------------------------------------------
# The private cluster
# ---------------------------------------------------------------------------
base_port() {
  "$BENCH_PY" - <<'PY'
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
}
export SURGE_CLUSTER_VAR=$TMP/var
export SURGE_CLUSTER_BASE_PORT
SURGE_CLUSTER_BASE_PORT=$(base_port)
export SURGE_CLUSTER_SEED_USERS=$USERS
export SURGE_CLUSTER_BIN=$SURGE_BIN
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

echo "cluster: starting (seeding $USERS users) in $TMP/var ..."
scripts/cluster up >"$TMP/cluster-up.log" 2>&1 || {
  tail -n 40 "$TMP/cluster-up.log" >&2
  die "scripts/cluster up failed"
}
while IFS='=' read -r key value; do
  export "$key=$value"
done < <(scripts/cluster env)
PRIMARY=$SURGE_PG_PRIMARY
REPLICA=${SURGE_PG_REPLICA%%,*}

# ---------------------------------------------------------------------------
# Servers under test
# ---------------------------------------------------------------------------
SERVER_PID=""
PORT=""

start_surge() {  # extra SURGE_* settings as NAME=value arguments
  PORT=$(bench_free_port)
  # As many database connections as pgbench gets clients: the same
  # concurrency reaches PostgreSQL (and its group commit) on both sides.
  env SURGE_DATABASE_CONNECTIONS_PER_THREAD="$DB_CLIENTS" "$@" SURGE_SERVER_PORT="$PORT" SURGE_SERVER_THREADS=1 SURGE_SERVER_ACCESS_LOG=false \
    SURGE_LOG_LEVEL=warn SURGE_SERVER_MAX_CONNECTIONS=100000 \
    taskset -c 0 "$SURGE_BIN" serve --config "$SURGE_CONFIG" >>"$TMP/surge.log" 2>&1 &
  SERVER_PID=$!
  bench_track "$SERVER_PID"
  bench_wait_http "http://127.0.0.1:$PORT/readyz" "$SERVER_PID" 30 || {
    tail -n 20 "$TMP/surge.log" >&2
    die "surge did not become ready"
  }
}

start_nginx() {
  local dir=$TMP/nginx user_line=""
  mkdir -p "$dir"
  PORT=$(bench_free_port)
  [[ "$(id -u)" == 0 ]] && user_line="user root;"
  cat >"$dir/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes 1;
worker_cpu_affinity 0001;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  open_file_cache max=10000 inactive=60s;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$PORT;
    root $TMP/www;
    location /api/v1/users/ { default_type application/json; }
  }
}
EOF
  taskset -c 0 nginx -p "$dir/" -c "$dir/nginx.conf" >>"$dir/stdout.log" 2>&1 &
  SERVER_PID=$!
  bench_track "$SERVER_PID"
  bench_wait_http "http://127.0.0.1:$PORT/api/v1/users/1" "$SERVER_PID" 10 ||
    die "nginx did not come up"
}

stop_server() {
  bench_stop "$SERVER_PID"
  SERVER_PID=""
}

# CPU ticks of the server: surge itself, or nginx's master and worker.
server_ticks() {
  local total=0 p
  for p in "$SERVER_PID" $(bench_children "$SERVER_PID"); do
    total=$((total + $(bench_cpu_ticks "$p")))
  done
  echo "$total"
}

# measure CASE SIDE -- wrk arguments...: one wrk run on CPU 1 against PORT,
# appended to RESULTS with the server's CPU time per request.
measure() {
  local case=$1 side=$2
  shift 3
  local out=$TMP/wrk-$case-$side.txt before after
  before=$(server_ticks)
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk failed ($case, $side)"; }
  after=$(server_ticks)
  "$BENCH_PY" - "$out" "$case" "$side" "$((after - before))" "$CLK_TCK" "${ROUND:-1}" >>"$RESULTS" <<'PY'
import json, sys
sys.path.insert(0, "bench/lib")
from wrkparse import parse
out, case, side, ticks, hz, rnd = sys.argv[1:]
r = parse(open(out).read())
r.update(case=case, side=side, round=int(rnd),
         cpu_us_per_request=(int(ticks) * 1e6 / int(hz) / r["requests"]) if r["requests"] else None)
print(json.dumps(r))
PY
  printf '  %-7s %-8s %s\n' "$case" "$side" "$(tail -n 1 "$RESULTS" | "$BENCH_PY" -c '
import json, sys
r = json.load(sys.stdin)
print("%10.0f req/s  p99 %6.2f ms  errors %d" % (r["rps"], (r["p99_us"] or 0) / 1000, r["errors"]))')"
}

# pgbench_run CASE SIDE URI -- pgbench arguments...: pgbench's client on CPU 1.
pgbench_run() {
  local case=$1 side=$2 uri=$3
  shift 4
  local out=$TMP/pgbench-$case-$side.txt
  taskset -c 1 "$PGBENCH" -n -c "$DB_CLIENTS" -j 1 -T "$DURATION" "$@" "$uri" >"$out" 2>&1 ||
    { cat "$out" >&2; die "pgbench failed ($case, $side)"; }
  "$BENCH_PY" - "$out" "$case" "$side" >>"$RESULTS" <<'PY'
import json, re, sys
out, case, side = sys.argv[1:]
text = open(out).read()
tps = float(re.search(r"tps = ([0-9.]+)", text).group(1))
lat = re.search(r"latency average = ([0-9.]+) ms", text)
print(json.dumps({"case": case, "side": side, "rps": tps, "p99_us": None, "errors": 0,
                  "latency_avg_ms": float(lat.group(1)) if lat else None}))
PY
  printf '  %-7s %-8s %10.0f tx/s\n' "$case" "$side" "$(tail -n 1 "$RESULTS" | "$BENCH_PY" -c 'import json,sys; print(json.load(sys.stdin)["rps"])')"
}

echo "load: $CONNECTIONS connections, ${DURATION}s per run; surge and nginx on CPU 0, clients on CPU 1"

# --- hot and l2 -------------------------------------------------------------
start_surge
echo "nginx files: the bodies surge answers for users 1..$HOT_IDS"
mkdir -p "$TMP/www/api/v1/users"
for ((id = 1; id <= HOT_IDS; id++)); do
  curl -sf -o "$TMP/www/api/v1/users/$id" "http://127.0.0.1:$PORT/api/v1/users/$id" ||
    die "GET /api/v1/users/$id failed"
done
stop_server
for ((round = 1; round <= ROUNDS; round++)); do
  order="surge nginx"
  if ((round % 2 == 0)); then
    order="nginx surge"
  fi
  for side in $order; do
    if [ "$side" = surge ]; then start_surge; else start_nginx; fi
    ROUND=$round measure hot "$side" -- -s bench/wrk/users.lua "http://127.0.0.1:$PORT" -- 1 "$HOT_IDS"
    stop_server
  done
done
start_surge SURGE_CACHE_L1_ENABLED=false
measure l2 surge -- -s bench/wrk/users.lua "http://127.0.0.1:$PORT" -- 1 "$HOT_IDS"
stop_server

# --- cold ---------------------------------------------------------------------
start_surge SURGE_CACHE_L1_ENABLED=false SURGE_CACHE_L2_ENABLED=false
measure cold surge -- -s bench/wrk/users.lua "http://127.0.0.1:$PORT" -- 1 "$USERS"
stop_server
"$PGBENCH" -i -q -s 1 "$PRIMARY" >"$TMP/pgbench-init.txt" 2>&1 || die "pgbench -i failed"
psql -qAt "$PRIMARY" -c "CHECKPOINT" >/dev/null
sleep 2  # the replica replays the pgbench tables
pgbench_run cold pgbench-S "$REPLICA" -- -S -M prepared

# --- signin -------------------------------------------------------------------
"$SURGE_BIN" token --config "$SURGE_CONFIG" --users "1-$USERS" >"$TMP/tokens.txt"
start_surge
awards_before=$(psql -qAt "$PRIMARY" -c "SELECT count(*) FROM signins")
measure signin surge -- -s bench/wrk/signin.lua "http://127.0.0.1:$PORT" -- "$TMP/tokens.txt"
stop_server
awards=$(($(psql -qAt "$PRIMARY" -c "SELECT count(*) FROM signins") - awards_before))
cat >"$TMP/award.sql" <<'SQL'
\set uid random(1, 100000)
\set d random(1, 20000)
WITH ins AS (
  INSERT INTO signins (user_id, day, points) VALUES (:uid::bigint, date '1970-01-01' + :d::integer, 10)
  ON CONFLICT (user_id, day) DO NOTHING RETURNING points
)
UPDATE users SET total_points = users.total_points + ins.points, updated_at = now()
FROM ins WHERE users.id = :uid::bigint RETURNING ins.points;
SQL
pgbench_run signin pgbench "$PRIMARY" -- -M prepared -f "$TMP/award.sql"

# Nobody awarded twice: one row per user and day (the primary key), and
# every user's points are exactly the sum of their sign-ins.
duplicates=$(psql -qAt "$PRIMARY" -c "SELECT count(*) FROM (SELECT user_id, day FROM signins GROUP BY 1, 2 HAVING count(*) > 1) d")
mismatched=$(psql -qAt "$PRIMARY" -c "SELECT count(*) FROM users u LEFT JOIN (SELECT user_id, sum(points) AS p FROM signins GROUP BY user_id) s ON s.user_id = u.id WHERE u.total_points <> COALESCE(s.p, 0)")
echo "signin storm: $awards awards in ${DURATION}s; duplicate (user, day) rows: $duplicates; users whose points differ from their sign-ins: $mismatched"

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
JSON=$OUT_DIR/users-$(date -u +%Y%m%dT%H%M%SZ).json
"$BENCH_PY" - "$RESULTS" "$JSON" "$awards" "$duplicates" "$mismatched" "$DURATION" <<'PY'
import json, statistics, sys
results_file, json_file, awards, duplicates, mismatched, duration = sys.argv[1:]
rows = [json.loads(line) for line in open(results_file)]
# Several rounds of one (case, side): the median of each figure.
by = {}
for key in {(r["case"], r["side"]) for r in rows}:
    runs = [r for r in rows if (r["case"], r["side"]) == key]
    by[key] = {f: statistics.median(r[f] for r in runs if r.get(f) is not None)
               for f in ("rps", "p99_us", "cpu_us_per_request") if any(r.get(f) is not None for r in runs)}
# The hot case is judged on its paired rounds (surge and nginx back to back).
rounds = sorted({r["round"] for r in rows if r["case"] == "hot"})
pair = {(r["round"], r["side"]): r for r in rows if r["case"] == "hot"}
paired = [pair[(n, "surge")]["rps"] / pair[(n, "nginx")]["rps"] for n in rounds
          if (n, "surge") in pair and (n, "nginx") in pair and pair[(n, "nginx")]["rps"]]
paired_cpu = [pair[(n, "surge")]["cpu_us_per_request"] / pair[(n, "nginx")]["cpu_us_per_request"]
              for n in rounds if (n, "surge") in pair and (n, "nginx") in pair
              and pair[(n, "nginx")].get("cpu_us_per_request")]
checks = [
    ("hot: surge L1 hit vs nginx static file", "hot", "surge", ("hot", "nginx"), 1.0),
    ("l2: surge L2 hit vs nginx static file", "l2", "surge", ("hot", "nginx"), 0.5),
    ("cold: surge replica read vs pgbench -S -M prepared", "cold", "surge", ("cold", "pgbench-S"), None),
    ("signin: surge first sign-ins vs pgbench award statement", "signin", "surge", ("signin", "pgbench"), None),
]
print()
print(f"{'comparison':58} {'surge/s':>9} {'ref/s':>9} {'ratio':>6} {'p99 ms':>7} {'CPU µs/req':>10}  target")
report = {"results": rows, "comparisons": [], "signin": {
    "awards": int(awards), "duplicate_rows": int(duplicates), "points_mismatches": int(mismatched),
    "duration_s": int(duration)}}
for label, case, side, ref, target in checks:
    ours, theirs = by.get((case, side)), by.get(ref)
    if not ours or not theirs:
        continue
    r = ours["rps"] / theirs["rps"] if theirs["rps"] else 0
    if case == "hot" and paired:
        r = statistics.median(paired)
    verdict = "" if target is None else ("PASS" if r >= target else "MISS") + f" (>= {target}x)"
    p99 = (ours.get("p99_us") or 0) / 1000
    cpu = ours.get("cpu_us_per_request") or 0
    print(f"{label:58} {ours['rps']:9.0f} {theirs['rps']:9.0f} {r:6.2f} {p99:7.2f} {cpu:10.2f}  {verdict}")
    report["comparisons"].append({"label": label, "ratio": r, "target": target})
if paired:
    print(f"\nhot, per round (surge/nginx): req/s {' '.join(f'{x:.3f}' for x in paired)}; "
          f"CPU/req {' '.join(f'{x:.3f}' for x in paired_cpu)}")
    print(f"hot ratio = median of {len(paired)} paired round(s); CPU/req ratio median "
          f"{statistics.median(paired_cpu):.3f}")
    report["hot_paired"] = {"rps_ratios": paired, "cpu_ratios": paired_cpu}
ok = int(duplicates) == 0 and int(mismatched) == 0
print(f"\nsign-in invariants after the storm: {'OK' if ok else 'BROKEN'}")
json.dump(report, open(json_file, "w"), indent=1)
print(f"figures: {json_file}")
sys.exit(0 if ok else 4)
PY
