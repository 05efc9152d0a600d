#!/usr/bin/env bash
# The worker's drain rate into PostgreSQL beside a pgbench batched-insert
# ceiling in the same run (DESIGN.md "Targets": consumer drain >= 0.7x).
#
#   scripts/cluster up && bench/worker_drain.sh [--grabs 100000] [--seconds 10] [--rounds 3]
#
# 1. stops worker-0, creates a red packet of --grabs packets and grabs all of
#    them through the load balancer (wrk, one user per request): the grabs
#    pile up in the campaign shard's stream;
# 2. starts worker-0 and times how long until every granted grab is a row of
#    redpacket_grabs: drain rate = grabs / seconds;
# 3. pgbench runs the sink's statement shape (one INSERT ... SELECT of
#    worker.batch_size rows from arrays, ON CONFLICT DO NOTHING, one
#    transaction) over the same rows (users 1..--grabs, a fresh red packet)
#    with as many clients as the worker has consumers on that stream:
#    rows/s = tps x batch size.
# Then it checks that nothing was lost or doubled: rows = granted, sum of
# amounts = granted cents. --rounds N repeats 1-3 N times (the order of drain
# and pgbench swapped every other round) and prints the per-round ratios and
# their median: a drain lasts seconds, and this box drifts by ±20% between
# minutes (CPU steal), so one pair decides little.
# Each round ends by deleting its red packet's keys from the shard. Before
# each phase (settle below) the shards rewrite their AOF, redpacket_grabs is
# vacuumed, PostgreSQL checkpoints and the page cache is synced, so that no
# phase pays for the one before: a rewrite Redis started by itself inside
# one phase once decided a round alone (1 212 rows/s, 20 000 the round after).
set -euo pipefail

GRABS=100000
SECONDS_PG=10
ROUNDS=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --grabs) GRABS=$2; shift 2 ;;
    --seconds) SECONDS_PG=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "worker_drain: unknown option $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
eval "$(scripts/cluster env | sed 's/^/export /')"
TMP=$(mktemp -d /tmp/surge-worker-drain.XXXXXX)
trap 'rm -rf "$TMP"; scripts/cluster start worker-0 >/dev/null 2>&1 || true' EXIT
PG_BIN=/usr/lib/postgresql/15/bin
PGBENCH=$(command -v pgbench || echo "$PG_BIN/pgbench")
[[ -x $PG_BIN/pgbench ]] && PGBENCH=$PG_BIN/pgbench
psql_q() { psql -qAt "$SURGE_PG_PRIMARY" -c "$1"; }
BATCH=$("$SURGE_BIN" config --config "$SURGE_CONFIG" | awk -F' = ' '/^batch_size/ {print $2; exit}')
CONSUMERS=$("$SURGE_BIN" config --config "$SURGE_CONFIG" | awk -F' = ' '/^consumers/ {print $2; exit}')

# Rewrites every shard's AOF now and waits for it: the rewrite Redis would
# otherwise start by itself once the AOF doubled lands outside the phases.
IFS=, read -ra SHARDS <<<"${SURGE_REDIS}"
rewrite_aof() {
  local shard host port
  for shard in "${SHARDS[@]}"; do
    host=${shard%:*} port=${shard##*:}
    redis-cli -h "$host" -p "$port" BGREWRITEAOF >/dev/null 2>&1 || true
  done
  for shard in "${SHARDS[@]}"; do
    host=${shard%:*} port=${shard##*:}
    for _ in $(seq 1 600); do
      redis-cli -h "$host" -p "$port" INFO persistence 2>/dev/null |
        grep -Eq '^(aof_rewrite_in_progress|aof_rewrite_scheduled):1' || break
      sleep 0.1
    done
  done
}
# Before each phase: no AOF rewrite, no autovacuum of the rows the last
# phase inserted (VACUUM ANALYZE now, so that autovacuum has no reason to
# start inside the next one), and a checkpoint (see drain()).
settle() {
  rewrite_aof
  psql_q "VACUUM (ANALYZE) redpacket_grabs" >/dev/null
  psql_q "CHECKPOINT" >/dev/null
  # The page cache's dirty pages (the rewrite's new AOF, the last phase's
  # heap) would otherwise be written back during the next phase: without
  # this, whichever phase came second in a round was the slower one
  # (drain first: 0.73 1.44 1.44 1.03; pgbench first: 0.57 0.81 0.47 0.57).
  sync
}
# The round's red packet leaves the shard (its rows stay).
forget_keys() {  # ID
  local shard host port
  for shard in "${SHARDS[@]}"; do
    host=${shard%:*} port=${shard##*:}
    redis-cli -h "$host" -p "$port" UNLINK "rp:{$1}:meta" "rp:{$1}:amounts" "rp:{$1}:grabs" >/dev/null 2>&1 || true
  done
}

admin() { curl -sf -H "Authorization: Bearer $SURGE_ADMIN_TOKEN" "$@"; }
now() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; }
create() {  # COUNT → red packet id
  admin -X POST -H 'Content-Type: application/json' "$SURGE_URL/api/v1/admin/redpackets" \
    -d "{\"total_cents\":$(($1 * 100)),\"count\":$1,\"starts_at\":\"$(now -5)\",\"ends_at\":\"$(now 3600)\"}" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

"$SURGE_BIN" token --config "$SURGE_CONFIG" --users "1-$GRABS" --ttl 3600 >"$TMP/tokens"

# --- 1. a backlog ---------------------------------------------------------------
backlog() {  # → ID GRANTED_COUNT GRANTED_CENTS: a fresh red packet, all grabbed, none persisted
  scripts/cluster stop worker-0 >/dev/null
  ID=$(create "$GRABS")
  echo "worker-0 stopped; grabbing all $GRABS packets of red packet $ID through the load balancer ..."
  # One pass over the tokens: each user grabs once; the run ends when sold out.
  TOKENS_FILE="$TMP/tokens" GRAB_PATH="/api/v1/redpackets/$ID/grab" \
    wrk -t2 -c128 -d120s -s bench/wrk/grab.lua "$SURGE_URL" >"$TMP/wrk.txt" 2>&1 &
  local wrk_pid=$! left
  while kill -0 "$wrk_pid" 2>/dev/null; do
    left=$(curl -sf "$SURGE_URL/api/v1/redpackets/$ID" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["remaining"])')
    [[ "$left" == 0 ]] && break
    sleep 0.5
  done
  kill "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" 2>/dev/null || true
  read -r GRANTED_COUNT GRANTED_CENTS <<<"$(admin "$SURGE_URL/api/v1/admin/redpackets/$ID/summary" |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["granted_count"], d["granted_cents"])')"
  echo "backlog: $GRANTED_COUNT grabs in the stream, $(psql_q "SELECT count(*) FROM redpacket_grabs WHERE redpacket_id = $ID") persisted"
}

# --- 2. drain -------------------------------------------------------------------
# Timed from the first persisted entry (process start and connection set-up
# are not the drain) to the last, on worker-0's own counter
# (surge_queue_persisted_total, from its ops port): polling count(*) on the
# database instead would load the very server being measured (a scan of the
# red packet's rows 20 times a second) and slow the drain it times.
WORKER_METRICS="http://127.0.0.1:$((${SURGE_URL##*:} + 3))/metrics"
drain() {  # → DRAIN rows/s; checks persisted = granted
  # Both phases start right after a checkpoint (settle): one falling inside
  # only one of them (every max_wal_size of WAL) would decide the ratio by
  # itself.
  settle
  scripts/cluster start worker-0 >/dev/null
  [[ -n "${DRAIN_HOOK:-}" ]] && eval "$DRAIN_HOOK"
  # One process polls every 50 ms (a curl, awk and sleep per poll would cost
  # the measured machine about 15% of its CPU); prints "n0 t0 t1". The
  # counter is cumulative over the worker's life: the round's rows are the
  # ones counted after the first increase.
  local n0 t0 t1 rows cents
  read -r n0 t0 t1 < <(/usr/bin/python3 - "$WORKER_METRICS" "$GRANTED_COUNT" <<'PY'
import sys, time, urllib.request
url, total = sys.argv[1], int(sys.argv[2])
def persisted():
    try:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return 0
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("surge_queue_persisted_total{") and 'stream="rp:stream"' in line)
while (n0 := persisted()) == 0:
    time.sleep(0.005)
t0 = time.monotonic()
while persisted() < total:
    time.sleep(0.05)
print(n0, t0, time.monotonic())
PY
  )
  DRAIN=$(/usr/bin/python3 -c "print(round(($GRANTED_COUNT - $n0) / ($t1 - $t0)))")
  echo "drain: $((GRANTED_COUNT - n0)) rows in $(/usr/bin/python3 -c "print(round($t1 - $t0, 2))") s = $DRAIN rows/s"
  # The counter also counts entries persisted twice (an ack lost in a stall
  # redelivers them), so it can reach the total a moment before the rows do.
  for _ in $(seq 1 600); do
    read -r rows cents <<<"$(psql_q "SELECT count(*), COALESCE(sum(amount_cents), 0) FROM redpacket_grabs WHERE redpacket_id = $ID" | tr '|' ' ')"
    [[ "$rows" == "$GRANTED_COUNT" ]] && break
    sleep 0.1
  done
  if [[ "$rows" == "$GRANTED_COUNT" && "$cents" == "$GRANTED_CENTS" ]]; then
    echo "persisted = granted: $rows rows, $cents cents: OK"
  else
    echo "MISMATCH: persisted $rows rows / $cents cents, granted $GRANTED_COUNT / $GRANTED_CENTS" >&2
    exit 4
  fi
}

# --- 3. pgbench ceiling ------------------------------------------------------------
# The ceiling inserts the rows a drain inserts: users 1..--grabs into a fresh
# red packet, --batch consecutive users per transaction. Where the keys land
# decides PostgreSQL's cost: real user ids sit among every earlier red
# packet's rows in redpacket_grabs' user index, so after a checkpoint most
# batches dirty index pages that need a full-page image in the WAL (0.13 per
# row measured, ~770 bytes of WAL per row), while random ids from 1..10^12
# (the script's first version) land in an empty part of the index (0.03
# full-page images and ~280 bytes per row) and ran ~11% faster: a ceiling
# PostgreSQL cannot reach for the rows the worker actually writes.
# Client c's k-th transaction takes batch g = k x clients + c (pgbench keeps
# variables per client): red packet REF_0 + g / batches-per-packet, users
# (g mod batches-per-packet) x batch + 1..batch, so no row repeats and the
# reference packets fill one after another, as a drain fills its one.
PER_PACKET=$((GRABS / BATCH))
((PER_PACKET >= 1)) || { echo "worker_drain: --grabs must be at least worker.batch_size ($BATCH)" >&2; exit 2; }
# Enough packets for 2 000 transactions a second (well above this box's ~450).
REF_COUNT=$(((2000 * SECONDS_PG + PER_PACKET - 1) / PER_PACKET + 1))
REF_FIRST=$(create 1)
for ((i = 1; i < REF_COUNT; i++)); do
  id=$(create 1)
  [[ "$id" == "$((REF_FIRST + i))" ]] ||
    { echo "worker_drain: reference red packets are not consecutive ($REF_FIRST + $i -> $id): is something else creating red packets?" >&2; exit 1; }
done
REF_LAST=$((REF_FIRST + REF_COUNT - 1))
cat >"$TMP/batch.sql" <<SQL
\\set k :k + 1
\\set g :k * $CONSUMERS + :client_id
\\set rp $REF_FIRST + :g / $PER_PACKET
\\set base (:g % $PER_PACKET) * $BATCH
INSERT INTO redpacket_grabs (redpacket_id, user_id, amount_cents, grabbed_at)
SELECT g.rp, g.u, g.a, to_timestamp(g.t / 1000.0)
FROM unnest(array_fill(:rp::bigint, ARRAY[$BATCH]),
            ARRAY(SELECT :base::bigint + i FROM generate_series(1, $BATCH) i),
            array_fill(1::bigint, ARRAY[$BATCH]),
            array_fill(1700000000000::bigint, ARRAY[$BATCH])) AS g(rp, u, a, t)
ON CONFLICT (redpacket_id, user_id) DO NOTHING;
SQL
ceiling() {  # → CEILING rows/s
  settle
  "$PGBENCH" -n -M prepared -D k=-1 -c "$CONSUMERS" -j 1 -T "$SECONDS_PG" -f "$TMP/batch.sql" "$SURGE_PG_PRIMARY" >"$TMP/pgbench.txt" 2>&1 ||
    { cat "$TMP/pgbench.txt" >&2; exit 1; }
  local tps inserted
  tps=$(awk '/^tps = / {print $3; exit}' "$TMP/pgbench.txt")
  CEILING=$(/usr/bin/python3 -c "print(round($tps * $BATCH))")
  inserted=$(psql_q "SELECT count(*) FROM redpacket_grabs WHERE redpacket_id BETWEEN $REF_FIRST AND $REF_LAST")
  psql_q "DELETE FROM redpacket_grabs WHERE redpacket_id BETWEEN $REF_FIRST AND $REF_LAST" >/dev/null
  echo "pgbench: $CONSUMERS clients, $BATCH-row batches of users 1..$GRABS: $tps tps = $CEILING rows/s ($inserted rows inserted)"
}

RATIOS=()
for round in $(seq 1 "$ROUNDS"); do
  echo "--- round $round of $ROUNDS"
  backlog
  if ((round % 2 == 1)); then drain; ceiling; else ceiling; drain; fi
  forget_keys "$ID"
  RATIOS+=("$(/usr/bin/python3 -c "print(f'{$DRAIN / $CEILING:.2f}')")")
  echo "drain/ceiling = ${RATIOS[-1]}"
done
echo
/usr/bin/python3 - "${RATIOS[@]}" <<'PY'
import statistics, sys
r = [float(x) for x in sys.argv[1:]]
m = statistics.median(r)
print(f"drain/ceiling per round: {' '.join(sys.argv[1:])}")
g = statistics.geometric_mean(r)
print(f"geometric mean = {g:.2f}")
print(f"median drain/ceiling = {m:.2f}  (target >= 0.7: {'PASS' if m >= 0.7 else 'MISS'})")
PY
