#!/usr/bin/env bash
# Orders under load, through the running cluster's load balancer:
#   GET /api/v1/orders (page 1: Redis; page 2: replica), POST /api/v1/orders,
#   and pgbench -N (simple-update TPC-B without the branch/teller hot rows)
#   on the same primary in the same run, as the reference for placement.
#
#   scripts/cluster up && bench/orders.sh [--duration 10] [--users 10000] [--connections 64]
#
# Setup (idempotent per cluster): tokens for users 1..N (`surge token`),
# 45 orders per user inserted by SQL (so page 2 exists), one product with a
# practically endless stock, a pgbench database `surge_pgbench`.
# Output: one line per run (req/s, p50/p99, non-2xx) and a JSON file.
# Needs: wrk, pgbench, psql, curl, /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10
USERS=10000
CONNECTIONS=64
OUT_DIR=${BENCH_OUT:-/tmp}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --out) OUT_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "orders.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

eval "$(scripts/cluster env | sed 's/^/export /')"
: "${SURGE_URL:?run scripts/cluster up first}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PY=/usr/bin/python3

psql_primary() { psql -X -q -v ON_ERROR_STOP=1 "$SURGE_PG_PRIMARY" "$@"; }

echo "setup: tokens for users 1-$USERS" >&2
"$SURGE_BIN" token --config "$SURGE_CONFIG" --users "1-$USERS" --ttl 86400 >"$TMP/tokens.txt"

echo "setup: product and 45 orders per user (once per cluster)" >&2
new_product() {
  curl -fsS -X POST "$SURGE_URL/api/v1/admin/products" \
    -H "Authorization: Bearer $SURGE_ADMIN_TOKEN" -H 'Content-Type: application/json' \
    -d '{"name":"bench product","price_cents":100,"stock":1000000000000}' |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
# PRODUCTS products with consecutive ids: placement spreads over them (one
# hot product row would serialise every order on its row lock).
PRODUCTS=64
product=$(new_product)
for ((k = 1; k < PRODUCTS; k++)); do
  last=$(new_product)
  [ "$last" -eq $((product + k)) ] || { echo "orders.sh: product ids not consecutive" >&2; exit 1; }
done
have=$(psql_primary -tA -c "SELECT count(*) FROM orders WHERE user_id = $USERS")
if [ "$have" -lt 45 ]; then
  psql_primary -c "
    INSERT INTO orders (user_id, status, total_cents, source)
      SELECT u, 'created', 100, 'checkout' FROM generate_series(1, $USERS) u, generate_series(1, 45);
    INSERT INTO order_items (order_id, product_id, quantity, price_cents)
      SELECT o.id, $product, 1, 100 FROM orders o
      WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id);
    ANALYZE orders; ANALYZE order_items;"
fi

echo "setup: pgbench database" >&2
pgbench_uri=${SURGE_PG_PRIMARY%%\?*}
pgbench_uri=${pgbench_uri%/*}/surge_pgbench
if ! psql -X -tA "$pgbench_uri" -c 'SELECT 1' >/dev/null 2>&1; then
  psql_primary -c "CREATE DATABASE surge_pgbench"
  pgbench -q -i -s 10 "$pgbench_uri" >/dev/null 2>&1
fi

results=()
run_wrk() {  # name method path [body]
  local name=$1 out="$TMP/$1.txt"
  shift
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/wrk/tokens.lua "$SURGE_URL" \
    -- "$TMP/tokens.txt" "$@" >"$out"
  local json
  json=$($PY bench/lib/wrkparse.py "$out")
  results+=("\"$name\": $json")
  $PY - "$name" "$json" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
p = lambda v: "-" if v is None else f"{v / 1000:.2f} ms"
print(f"{sys.argv[1]:<22} {r['rps'] or 0:>10.0f} req/s  p50 {p(r['p50_us'])}  p99 {p(r['p99_us'])}  errors {r['errors']}")
PY
}

# Page 1 twice: the first run fills the cache (a miss is marker GET + replica
# read + fenced fill), the second is the steady state.
run_wrk orders_page1_cold GET "/api/v1/orders"
run_wrk orders_page1 GET "/api/v1/orders"
run_wrk orders_page2 GET "/api/v1/orders?page=2"
run_wrk orders_place POST "/api/v1/orders" '{"items":[{"product_id":{pid},"quantity":1}]}' \
  "$product" "$PRODUCTS"

pgbench -n -N -c "$CONNECTIONS" -j 2 -T "$DURATION" "$pgbench_uri" >"$TMP/pgbench.txt" 2>&1
tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$TMP/pgbench.txt" | head -1)
printf '%-22s %10.0f tps (reference for orders_place: one transaction per order)\n' "pgbench -N" "$tps"
results+=("\"pgbench_N\": {\"tps\": ${tps:-null}}")

mkdir -p "$OUT_DIR"
out="$OUT_DIR/orders-$(date -u +%Y%m%dT%H%M%SZ).json"
(IFS=,; echo "{${results[*]}, \"duration_s\": $DURATION, \"users\": $USERS, \"connections\": $CONNECTIONS}") >"$out"
echo "result: $out" >&2
