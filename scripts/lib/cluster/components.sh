# shellcheck shell=bash disable=SC2034,SC2094
# Start, readiness and stop of each component of scripts/cluster, plus the
# generated surge.toml and the one-time migrate/seed. Sourced, never run.

NOTES=()  # printed at the end of `up`

# ---------------------------------------------------------------------------
# The surge binary
# ---------------------------------------------------------------------------

SURGE_HELP=""
load_surge_help() {
  [ -n "$SURGE_HELP" ] || SURGE_HELP=$("$SURGE_BIN" --help 2>&1 || true)
}

# Does this build have subcommand $1? (`surge --help` lists them.)
surge_has() {
  load_surge_help
  sed -n '/^Subcommands:/,/^$/p' <<<"$SURGE_HELP" | grep -Eq "^[[:space:]]+$1([[:space:]]|$)"
}

require_binary() {
  [ -x "$SURGE_BIN" ] || die "$SURGE_BIN is missing: run scripts/cluster up (it builds it) or scripts/build"
}

# ---------------------------------------------------------------------------
# var/surge.toml: the template minus what this build's loader rejects
# ---------------------------------------------------------------------------

DROPPED_CONFIG=()
CONFIG_CHANGED=0

drop_section() {  # FILE SECTION
  awk -v sec="$2" '
    /^[[:space:]]*\[/ {
      hdr = $0
      sub(/^[[:space:]]*\[+[[:space:]]*/, "", hdr)
      sub(/[[:space:]]*\].*$/, "", hdr)
      skip = (hdr == sec)
    }
    !skip { print }' "$1" >"$1.tmp" && mv -f "$1.tmp" "$1"
}

drop_setting() {  # FILE SECTION KEY
  awk -v sec="$2" -v key="$3" '
    /^[[:space:]]*\[/ {
      cur = $0
      sub(/^[[:space:]]*\[+[[:space:]]*/, "", cur)
      sub(/[[:space:]]*\].*$/, "", cur)
    }
    cur == sec && $0 ~ ("^[[:space:]]*" key "[[:space:]]*=") { next }
    { print }' "$1" >"$1.tmp" && mv -f "$1.tmp" "$1"
}

# The [database], [redis] and [auth] sections join the C++ config loader
# over time; until then `surge config` rejects them ("unknown section") and
# so would `surge serve`. Each rejected section (or setting) is dropped with
# a warning, so the cluster runs with whatever this build supports.
generate_config() {
  require_binary
  ensure_secrets
  local candidate="$VAR/surge.toml.candidate"
  render surge.toml.in "$candidate" \
    APP0_PORT="$(port_of app-0)" APP1_PORT="$(port_of app-1)" \
    PG_PRIMARY_URI="$(pg_primary_uri)" PG_REPLICA_URI="$(pg_replica_uri)" \
    REDIS0_PORT="$(port_of redis-0)" REDIS1_PORT="$(port_of redis-1)" \
    TOKEN_SECRET="$TOKEN_SECRET" ADMIN_TOKEN="$ADMIN_TOKEN" STATIC_DIR="$VAR/static"
  chmod 0600 "$candidate"
  local out rc i
  DROPPED_CONFIG=()
  for ((i = 0; i < 50; i++)); do
    rc=0
    out=$("$SURGE_BIN" config --config "$candidate" 2>&1 >/dev/null) || rc=$?
    [ "$rc" -eq 0 ] && break
    if [[ $out =~ configuration\ error:\ ([A-Za-z0-9_.-]+):\ unknown\ section ]]; then
      DROPPED_CONFIG+=("[${BASH_REMATCH[1]}]")
      drop_section "$candidate" "${BASH_REMATCH[1]}"
    elif [[ $out =~ configuration\ error:\ ([A-Za-z0-9_.-]+)\.([A-Za-z0-9_-]+):\ unknown\ setting ]]; then
      DROPPED_CONFIG+=("${BASH_REMATCH[1]}.${BASH_REMATCH[2]}")
      drop_setting "$candidate" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    else
      rm -f "$candidate"
      die "the generated configuration is rejected by \`surge config\`: $out"
    fi
  done
  [ "$rc" -eq 0 ] || die "could not make the generated configuration acceptable: $out"
  if [ ${#DROPPED_CONFIG[@]} -gt 0 ]; then
    warn "surge.toml: left out ${DROPPED_CONFIG[*]}: this build's config loader rejects them as unknown (\`surge config\`)"
    printf '\n# Dropped because this build does not support them yet: %s\n' "${DROPPED_CONFIG[*]}" >>"$candidate"
    NOTES+=("surge.toml: not supported by this build yet, left out: ${DROPPED_CONFIG[*]}")
  fi
  local before=""
  [ -f "$CONFIG" ] && before=$(cat "$CONFIG")
  write_if_changed "$CONFIG" "$(cat -s "$candidate")"$'\n'
  if [ -n "$before" ] && [ "$before" != "$(cat "$CONFIG")" ]; then
    CONFIG_CHANGED=1
  fi
  chmod 0600 "$CONFIG"
  rm -f "$candidate"
}

# ---------------------------------------------------------------------------
# PostgreSQL (runs as $PG_OS_USER when this script runs as root)
# ---------------------------------------------------------------------------

ensure_pg_user() {
  [ "$IS_ROOT" = 1 ] || return 0
  if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    note "creating system user $PG_OS_USER (PostgreSQL refuses to run as root)"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER"
  fi
}

# Runs a command as the PostgreSQL user, from /, without our lock fd.
as_pg() {
  if [ "$IS_ROOT" = 1 ]; then
    (cd / && runuser -u "$PG_OS_USER" -- "$@") 9>&-
  else
    "$@" 9>&-
  fi
}

pg_own() {
  [ "$IS_ROOT" = 1 ] && chown "$PG_OS_USER:" "$@"
  return 0
}

# The data folder must be reachable by the PostgreSQL user.
check_pg_access() {
  [ "$IS_ROOT" = 1 ] || return 0
  as_pg test -x "$VAR/data" -a -x "$VAR/run" && return 0
  local p="" part
  local IFS=/
  for part in ${VAR#/}/data; do
    p="$p/$part"
    if ! as_pg test -x "$p"; then
      die "PostgreSQL runs as $PG_OS_USER, which cannot enter $p: make it traversable (chmod o+x $p) or set SURGE_CLUSTER_VAR to a folder below traversable ones"
    fi
  done
}

prepare_pg_dirs() {  # COMPONENT
  local c=$1 dir log
  dir=$(data_dir "$c")
  log=$(log_file "$c")
  check_pg_access
  mkdir -p "$dir" "$PG_SOCKET_DIR"
  chmod 0700 "$dir"
  chmod 0755 "$PG_SOCKET_DIR"
  touch "$log"
  pg_own "$dir" "$PG_SOCKET_DIR" "$log"
}

pg_sql() {  # PORT DB SQL
  PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$1" -U "$PG_SUPERUSER" -d "$2" -c "$3" 2>&1
}

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -U "$PG_SUPERUSER" -d postgres -t 2 >/dev/null 2>&1; }

render_pg_conf() {  # COMPONENT
  local c=$1 dir extra=""
  dir=$(data_dir "$c")
  if [ "$c" = pg-replica ]; then
    # Rendered here rather than left in postgresql.auto.conf (where
    # pg_basebackup -R puts them) so a changed base port reaches the replica.
    extra="primary_conninfo = 'host=127.0.0.1 port=$(port_of pg-primary) user=$PG_SUPERUSER application_name=pg-replica'
primary_slot_name = '$PG_SLOT'"
  fi
  render postgresql.conf.in "$dir/surge-cluster.conf" \
    NAME="$c" PORT="$(port_of "$c")" SOCKET_DIR="$PG_SOCKET_DIR" REPLICA_SETTINGS="$extra"
  pg_own "$dir/surge-cluster.conf"
}

# The children of a SIGKILLed postmaster keep its shared memory until they
# notice; a new postmaster refuses to start while they live.
wait_pg_leftovers() {  # COMPONENT
  local c=$1 deadline=$((SECONDS + 15)) old
  # A dead postmaster not yet reaped still "runs" for the lock-file check.
  if read -r old 2>/dev/null <"$(data_dir "$c")/postmaster.pid" && [[ $old =~ ^[0-9]+$ ]] &&
    [ -z "$(cmdline_of "$old")" ]; then
    wait_gone "$old" 10 reaped || true
  fi
  while pgrep -f "^postgres: $c-$(port_of "$c"): " >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 0
    sleep 0.2
  done
}

pg_ctl_start() {  # COMPONENT
  local c=$1 dir log port pid
  dir=$(data_dir "$c")
  log=$(log_file "$c")
  port=$(port_of "$c")
  wait_pg_leftovers "$c"
  as_pg "$PG_BIN/pg_ctl" -D "$dir" -l "$log" -w -t "$READY_TIMEOUT" start >>"$log" 2>&1 ||
    fail_component "$c" "pg_ctl start failed"
  read -r pid <"$dir/postmaster.pid" || fail_component "$c" "no postmaster.pid after start"
  echo "$pid" >"$(pid_file "$c")"
  wait_for "$c" "$pid" "pg_isready on port $port" pg_ready "$port"
}

start_pg_primary() {
  local c=pg-primary dir port out
  dir=$(data_dir "$c")
  port=$(port_of "$c")
  prepare_pg_dirs "$c"
  if [ ! -f "$dir/PG_VERSION" ]; then
    if [ -n "$(ls -A "$dir")" ]; then
      die "$dir is not empty but holds no PostgreSQL cluster: move it away to start over"
    fi
    note "pg-primary: fresh data folder: initdb"
    # --auth=trust: a local development cluster on loopback only; see
    # config/cluster/pg_hba.conf.in.
    as_pg "$PG_BIN/initdb" -D "$dir" --auth=trust --username="$PG_SUPERUSER" \
      --encoding=UTF8 --locale=C >>"$(log_file "$c")" 2>&1 ||
      fail_component "$c" "initdb failed"
    echo "include_if_exists = 'surge-cluster.conf'" >>"$dir/postgresql.conf"
    render pg_hba.conf.in "$dir/pg_hba.conf"
    pg_own "$dir/pg_hba.conf"
    # A new primary: whatever came from the old one is void.
    rm -f "$SEEDED_MARKER" "$MIGRATED_MARKER"
    local rdir
    rdir=$(data_dir pg-replica)
    if [ -e "$rdir" ]; then
      is_running pg-replica && stop_component pg-replica
      note "pg-replica: discarding its copy of the previous primary"
      rm -rf "$rdir"
    fi
  fi
  render_pg_conf "$c"
  pg_ctl_start "$c"
  # Role, database and replication slot; idempotent.
  out=$(pg_sql "$port" postgres "DO \$\$BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
        CREATE ROLE $DB_USER LOGIN SUPERUSER;  -- local cluster: superuser is fine
      END IF;
    END\$\$;
    SELECT pg_create_physical_replication_slot('$PG_SLOT')
      WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = '$PG_SLOT');") ||
    fail_component "$c" "creating role $DB_USER / slot $PG_SLOT failed: $out"
  if [ "$(pg_sql "$port" postgres "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]; then
    out=$(pg_sql "$port" postgres "CREATE DATABASE $DB_NAME OWNER $DB_USER") ||
      fail_component "$c" "CREATE DATABASE $DB_NAME failed: $out"
  fi
}

start_pg_replica() {
  local c=pg-replica dir port log
  dir=$(data_dir "$c")
  port=$(port_of "$c")
  log=$(log_file "$c")
  prepare_pg_dirs "$c"
  if [ ! -f "$dir/PG_VERSION" ]; then
    is_running pg-primary || fail_component "$c" "its base backup needs pg-primary running (scripts/cluster start pg-primary)"
    # Only ever a copy of the primary: a half-made one is simply redone.
    find "$dir" -mindepth 1 -delete
    note "pg-replica: base backup from pg-primary (slot $PG_SLOT)"
    as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$(port_of pg-primary)" -U "$PG_SUPERUSER" \
      -D "$dir" -R -S "$PG_SLOT" -X stream -c fast >>"$log" 2>&1 ||
      fail_component "$c" "pg_basebackup from pg-primary failed"
    # -R wrote standby.signal and the connection settings; the latter are
    # rendered into surge-cluster.conf on every start instead.
    sed -i '/^primary_conninfo/d;/^primary_slot_name/d' "$dir/postgresql.auto.conf"
  fi
  [ -f "$dir/standby.signal" ] || fail_component "$c" "$dir/standby.signal is missing: not a replica (delete $dir to make a new one)"
  render_pg_conf "$c"
  pg_ctl_start "$c"
  local pid
  pid=$(running_pid "$c") || fail_component "$c" "exited after start"
  wait_for "$c" "$pid" "pg_is_in_recovery()" pg_in_recovery "$port"
  if is_running pg-primary; then
    wait_for "$c" "$pid" "streaming from pg-primary (pg_stat_wal_receiver)" pg_streaming "$port"
  else
    warn "pg-replica: pg-primary is not running: replica up in recovery, not streaming"
  fi
}

pg_in_recovery() { [ "$(pg_sql "$1" postgres "SELECT pg_is_in_recovery()")" = t ]; }
pg_streaming() { [ "$(pg_sql "$1" postgres "SELECT status FROM pg_stat_wal_receiver")" = streaming ]; }

stop_pg() {  # COMPONENT PID
  local c=$1 pid=$2
  as_pg "$PG_BIN/pg_ctl" -D "$(data_dir "$c")" -m fast -w -t 60 stop >>"$(log_file "$c")" 2>&1 || true
  if ! wait_gone "$pid" 5; then
    warn "$c: did not stop in time: SIGKILL"
    kill_component_pid "$pid"
    wait_gone "$pid" 5 reaped || true
  fi
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------

redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }

start_redis() {  # COMPONENT
  local c=$1 dir port pid
  dir=$(data_dir "$c")
  port=$(port_of "$c")
  mkdir -p "$dir"
  render redis.conf.in "$dir/redis.conf" NAME="$c" PORT="$port" DIR="$dir"
  pid=$(spawn "$c" redis-server "$dir/redis.conf")
  wait_for "$c" "$pid" "redis-cli -p $port ping" redis_ping "$port"
}

stop_redis() {  # COMPONENT PID
  local c=$1 pid=$2
  # SHUTDOWN (not NOSAVE): fsyncs and closes the AOF; no RDB (save "").
  redis-cli -h 127.0.0.1 -p "$(port_of "$c")" shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  stop_wait "$c" "$pid" 30
}

# ---------------------------------------------------------------------------
# App servers and the worker
# ---------------------------------------------------------------------------

app_healthy() { [ "$(http_status "http://127.0.0.1:$1/healthz")" = 200 ]; }

# 200: ready. 404: the route does not exist in this build: fine.
app_ready() {
  local code
  code=$(http_status "http://127.0.0.1:$1/readyz")
  case $code in
    200) return 0 ;;
    404) return 0 ;;
  esac
  return 1
}

start_app() {  # COMPONENT
  local c=$1 port pid
  port=$(port_of "$c")
  pid=$(spawn "$c" env SURGE_SERVER_ADDRESS=127.0.0.1 SURGE_SERVER_PORT="$port" \
    "$SURGE_BIN" serve --config "$CONFIG")
  wait_for "$c" "$pid" "GET /healthz = 200 on port $port" app_healthy "$port"
  if ! wait_for_quiet "$pid" app_ready "$port"; then
    local body
    body=$(curl -s --max-time 2 "http://127.0.0.1:$port/readyz" 2>/dev/null || true)
    fail_component "$c" "not ready after ${READY_TIMEOUT}s: GET /readyz = $(http_status "http://127.0.0.1:$port/readyz") ${body}"
  fi
}

start_worker() {  # COMPONENT
  local c=$1 port pid
  port=$(port_of "$c")
  pid=$(spawn "$c" env SURGE_WORKER_ADDRESS=127.0.0.1 SURGE_WORKER_PORT="$port" \
    "$SURGE_BIN" worker --config "$CONFIG")
  wait_for "$c" "$pid" "GET /healthz = 200 on port $port" app_healthy "$port"
}

stop_process() {  # COMPONENT PID: SIGTERM, wait (the app's shutdown timeout + margin), SIGKILL
  kill -TERM "$2" 2>/dev/null || true
  stop_wait "$1" "$2" 20
}

# ---------------------------------------------------------------------------
# Load balancer (nginx)
# ---------------------------------------------------------------------------

render_lb_conf() {
  local dir user_line nofile
  dir=$(data_dir lb)
  mkdir -p "$dir/tmp" "$VAR/static"
  if [ "$IS_ROOT" = 1 ]; then
    # The master runs as root; its workers drop to an unprivileged user
    # (they read var/static; the temp folders are made theirs by nginx).
    if id -u www-data >/dev/null 2>&1; then
      user_line="user www-data;"
    else
      user_line="user nobody nogroup;"
    fi
  else
    user_line="# (not root: the workers run as the invoking user)"
  fi
  # nginx's workers may raise their soft limit up to the hard one only.
  nofile=$(ulimit -Hn)
  if [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; then
    nofile=65536
  fi
  render nginx.conf.in "$dir/nginx.conf" \
    NOFILE="$nofile" WORKER_CONNECTIONS="$((nofile > 1280 ? nofile - 256 : 1024))" \
    USER_LINE="$user_line" WORKERS="$LB_WORKERS" RUN_DIR="$VAR/run" LOG_DIR="$VAR/log" \
    LB_DIR="$dir" STATIC_DIR="$VAR/static" LB_PORT="$(port_of lb)" \
    APP0_PORT="$(port_of app-0)" APP1_PORT="$(port_of app-1)"
}

nginx_cmd() {
  local dir
  dir=$(data_dir lb)
  echo nginx -p "$dir/" -c "$dir/nginx.conf" -e "$(log_file lb)"
}

lb_answers() {  # PORT: 200 when an app is up, any HTTP answer otherwise
  local code
  code=$(http_status "http://127.0.0.1:$1/healthz")
  if is_running app-0 || is_running app-1; then
    [ "$code" = 200 ]
  else
    [ "$code" != 000 ]
  fi
}

start_lb() {
  local c=lb port pid
  port=$(port_of lb)
  render_lb_conf
  # shellcheck disable=SC2046
  $(nginx_cmd) -t -q >>"$(log_file lb)" 2>&1 || fail_component lb "nginx -t rejected $(data_dir lb)/nginx.conf"
  # shellcheck disable=SC2046
  pid=$(spawn lb $(nginx_cmd))
  wait_for lb "$pid" "GET /healthz through the lb on port $port" lb_answers "$port"
  if ! is_running app-0 && ! is_running app-1; then
    warn "lb: no app server is running: the lb answers 503"
  fi
}

stop_lb() {  # PID
  kill -QUIT "$1" 2>/dev/null || true  # graceful: finish requests in flight
  stop_wait lb "$1" 20
}

# ---------------------------------------------------------------------------
# Generic start / stop / kill
# ---------------------------------------------------------------------------

# wait_for COMPONENT PID DESCRIPTION CHECK ARGS...: polls CHECK until it
# succeeds; fails the component when the process dies or the deadline passes.
wait_for() {
  local c=$1 pid=$2 what=$3
  shift 3
  local deadline=$((SECONDS + READY_TIMEOUT))
  while ! "$@"; do
    if ! kill -0 "$pid" 2>/dev/null || [ -z "$(cmdline_of "$pid")" ]; then
      fail_component "$c" "exited during startup (waiting for $what)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail_component "$c" "not ready after ${READY_TIMEOUT}s (waiting for $what)"
    fi
    sleep 0.1
  done
}

# wait_for_quiet PID CHECK ARGS...: like wait_for, but returns 1 on timeout.
wait_for_quiet() {
  local pid=$1
  shift
  local deadline=$((SECONDS + READY_TIMEOUT))
  while ! "$@"; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

stop_wait() {  # COMPONENT PID SECONDS
  if ! wait_gone "$2" "$3"; then
    warn "$1: did not stop within $3s: SIGKILL"
    kill_component_pid "$2"
    wait_gone "$2" 5 || true
  fi
}

# Starts C unless it runs. Prints one progress line. Sets UNAVAILABLE=1
# when the component does not exist in this build (worker-0 without
# `surge worker`). Never called in a condition: errexit stays in force.
UNAVAILABLE=0
start_component() {
  local c=$1 pid port
  UNAVAILABLE=0
  if pid=$(running_pid "$c"); then
    note "$c: already running (pid $pid)"
    case $c in
      app-* | worker-*)
        [ "$CONFIG_CHANGED" = 1 ] &&
          NOTES+=("$c: var/surge.toml changed since it started: apply with scripts/cluster stop $c && scripts/cluster start $c")
        ;;
    esac
    return 0
  fi
  port=$(port_of "$c")
  if [ -n "$port" ] && port_busy "$port"; then
    local holder
    holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:.*' | head -n 1 || true)
    die "$c: port $port on 127.0.0.1 is taken by another process${holder:+ ($holder)}; stop it or set SURGE_CLUSTER_BASE_PORT to move the cluster"
  fi
  rm -f "$(pid_file "$c")"
  printf -- '--- scripts/cluster: starting %s at %s ---\n' "$c" "$(date -Is)" >>"$(log_file "$c")"
  case $c in
    pg-primary) start_pg_primary ;;
    pg-replica) start_pg_replica ;;
    redis-*) start_redis "$c" ;;
    app-*) start_app "$c" ;;
    worker-*)
      if ! surge_has worker; then
        UNAVAILABLE=1
        return 0
      fi
      start_worker "$c"
      ;;
    lb) start_lb ;;
  esac
  pid=$(running_pid "$c") || fail_component "$c" "not running after start"
  note "$c: started (pid $pid${port:+, port $port})"
}

stop_component() {
  local c=$1 pid
  if ! pid=$(running_pid "$c"); then
    rm -f "$(pid_file "$c")"
    note "$c: not running"
    return 0
  fi
  case $c in
    pg-*) stop_pg "$c" "$pid" ;;
    redis-*) stop_redis "$c" "$pid" ;;
    app-* | worker-*) stop_process "$c" "$pid" ;;
    lb) stop_lb "$pid" ;;
  esac
  rm -f "$(pid_file "$c")"
  note "$c: stopped"
}

kill_component() {
  local c=$1 pid
  if ! pid=$(running_pid "$c"); then
    note "$c: not running"
    return 0
  fi
  kill_component_pid "$pid"
  local mode=""
  case $c in pg-*) mode=reaped ;; esac
  wait_gone "$pid" 10 $mode || warn "$c: pid $pid still present after SIGKILL"
  rm -f "$(pid_file "$c")"
  note "$c: killed (SIGKILL, pid $pid)"
}

# ---------------------------------------------------------------------------
# Schema and demo data: once per data folder
# ---------------------------------------------------------------------------

# Before app servers start. migrate runs on a fresh data folder and whenever
# an app server or the worker is (re)started (migrations are idempotent and
# a rebuilt binary may bring new ones); seed runs once per data folder.
migrate_and_seed() {
  if surge_has migrate; then
    note "migrate: surge migrate"
    "$SURGE_BIN" migrate --config "$CONFIG" >>"$(log_file migrate)" 2>&1 9>&- ||
      fail_component migrate "surge migrate failed"
    touch "$MIGRATED_MARKER"
  fi
  if [ "$SEED_USERS" -eq 0 ]; then
    note "seed: skipped (SURGE_CLUSTER_SEED_USERS=0)"
  elif [ -f "$SEEDED_MARKER" ]; then
    : # seeded before, on this data folder
  elif surge_has seed; then
    note "seed: surge seed --users $SEED_USERS (once per data folder)"
    "$SURGE_BIN" seed --config "$CONFIG" --users "$SEED_USERS" 9>&- 2>&1 | tee -a "$(log_file seed)" >&2 ||
      fail_component seed "surge seed --users $SEED_USERS failed"
    echo "$SEED_USERS" >"$SEEDED_MARKER"
  fi
  # The static catalog (served by lb under /static/): once per `up`, so
  # /static/manifest.json exists; the worker republishes on its timer.
  if surge_has publish; then
    note "publish: surge publish (into $VAR/static)"
    SURGE_PUBLISH_DIR="$VAR/static" "$SURGE_BIN" publish --config "$CONFIG" >>"$(log_file publish)" 2>&1 9>&- ||
      fail_component publish "surge publish failed"
  fi
}

# What this build lacks, for the notes at the end of `up`.
capability_notes() {
  surge_has migrate || NOTES+=("migrate: not available in this build (no \`surge migrate\`): schema not created")
  if [ "$SEED_USERS" -gt 0 ] && ! surge_has seed; then
    NOTES+=("seed: not available in this build (no \`surge seed\`): no demo users")
  fi
  surge_has worker || NOTES+=("worker-0: not available in this build (no \`surge worker\`): shown as stopped")
  local c
  for c in app-0 app-1; do
    if is_running "$c"; then
      if [ "$(http_status "http://127.0.0.1:$(port_of "$c")/readyz")" = 404 ]; then
        NOTES+=("readyz: GET /readyz is 404 in this build: app servers counted ready on /healthz alone")
      fi
      break
    fi
  done
}
