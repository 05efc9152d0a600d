# shellcheck shell=bash disable=SC2034
# Shared helpers of scripts/cluster: settings, paths, process bookkeeping,
# waiting with deadlines, template rendering. Sourced, never run.

# ---------------------------------------------------------------------------
# Settings (environment overrides; see scripts/cluster --help)
# ---------------------------------------------------------------------------

COMPONENTS=(pg-primary pg-replica redis-0 redis-1 app-0 app-1 worker-0 lb)

VAR=${SURGE_CLUSTER_VAR:-$REPO/var}
# The ports belong to the var folder: `up` records them in PORT_FILE, so a
# cluster brought up with SURGE_CLUSTER_BASE_PORT=18000 is managed (status,
# down, kill, env, ...) without repeating the variable. Components are
# recognised by their ports: without this, `down` under another base port
# would leave them running.
PORT_FILE=$VAR/base_port
if [ -n "${SURGE_CLUSTER_BASE_PORT:-}" ]; then
  BASE_PORT=$SURGE_CLUSTER_BASE_PORT
elif [ -r "$PORT_FILE" ]; then
  BASE_PORT=$(head -n 1 "$PORT_FILE")
else
  BASE_PORT=17000
fi
SEED_USERS=${SURGE_CLUSTER_SEED_USERS:-100000}
READY_TIMEOUT=${SURGE_CLUSTER_TIMEOUT:-60}
SURGE_BIN=${SURGE_CLUSTER_BIN:-$REPO/build/surge}
PG_BIN=${SURGE_CLUSTER_PG_BIN:-/usr/lib/postgresql/15/bin}
LB_WORKERS=${SURGE_CLUSTER_LB_WORKERS:-auto}

TEMPLATES=$REPO/config/cluster
CONFIG=$VAR/surge.toml
SECRETS=$VAR/secrets
PG_SOCKET_DIR=$VAR/run/pg
PG_SLOT=surge_replica
PG_SUPERUSER=postgres  # initdb's bootstrap superuser (not the OS user's name)
DB_NAME=surge
DB_USER=surge
PG_OS_USER=surge-pg    # PostgreSQL refuses to run as root: as root, it runs as this user
SEEDED_MARKER=$VAR/data/.surge-seeded
MIGRATED_MARKER=$VAR/data/.surge-migrated

# libpq reads these; the script names host, port, user and database itself.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGDATA PGSERVICE PGSERVICEFILE \
  PGOPTIONS PGTARGETSESSIONATTRS PGPASSWORD PGPASSFILE 2>/dev/null || true

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------

say() { printf '%s\n' "$*"; }
note() { printf 'surge cluster: %s\n' "$*" >&2; }
warn() { printf 'surge cluster: warning: %s\n' "$*" >&2; }
die() {
  printf 'surge cluster: error: %s\n' "$*" >&2
  exit 1
}

# A component failed: name it, show the end of its log, exit non-zero.
fail_component() {
  local c=$1
  shift
  local log
  log=$(log_file "$c")
  printf 'surge cluster: error: %s: %s\n' "$c" "$*" >&2
  if [ -s "$log" ]; then
    printf -- '--- last 30 lines of %s ---\n' "$log" >&2
    tail -n 30 "$log" >&2
    printf -- '---\n' >&2
  else
    printf '(no log output in %s)\n' "$log" >&2
  fi
  exit 1
}

# ---------------------------------------------------------------------------
# Validation of the settings
# ---------------------------------------------------------------------------

validate_settings() {
  case $VAR in
    /*) ;;
    *) die "SURGE_CLUSTER_VAR must be an absolute path (got '$VAR')" ;;
  esac
  # The path ends up unquoted-safe in nginx, PostgreSQL and Redis configs.
  if [[ $VAR =~ [[:space:]\'\"\;\{\}\$\\] ]]; then
    die "the var folder path must not contain spaces, quotes or ;{}\$\\ (got '$VAR')"
  fi
  # PostgreSQL's socket path (.s.PGSQL.NNNNN) must fit sun_path (108 bytes).
  if [ $((${#PG_SOCKET_DIR} + 18)) -gt 107 ]; then
    die "the var folder path is too long for PostgreSQL's Unix socket ($PG_SOCKET_DIR)"
  fi
  if ! [[ $BASE_PORT =~ ^[0-9]+$ ]] || [ "$BASE_PORT" -lt 1024 ] || [ "$BASE_PORT" -gt 65514 ]; then
    die "SURGE_CLUSTER_BASE_PORT must be an integer in 1024..65514 (got '$BASE_PORT')"
  fi
  if ! [[ $SEED_USERS =~ ^[0-9]+$ ]]; then
    die "SURGE_CLUSTER_SEED_USERS must be a non-negative integer (got '$SEED_USERS')"
  fi
  if ! [[ $READY_TIMEOUT =~ ^[0-9]+$ ]] || [ "$READY_TIMEOUT" -lt 1 ]; then
    die "SURGE_CLUSTER_TIMEOUT must be a positive number of seconds (got '$READY_TIMEOUT')"
  fi
}

is_component() {
  local c
  for c in "${COMPONENTS[@]}"; do
    [ "$c" = "$1" ] && return 0
  done
  return 1
}

# ---------------------------------------------------------------------------
# Ports and paths
# ---------------------------------------------------------------------------

port_of() {
  case $1 in
    lb) echo "$BASE_PORT" ;;
    app-0) echo $((BASE_PORT + 1)) ;;
    app-1) echo $((BASE_PORT + 2)) ;;
    worker-0) echo $((BASE_PORT + 3)) ;;  # /healthz, /readyz, /metrics of `surge worker`
    pg-primary) echo $((BASE_PORT + 10)) ;;
    pg-replica) echo $((BASE_PORT + 11)) ;;
    redis-0) echo $((BASE_PORT + 20)) ;;
    redis-1) echo $((BASE_PORT + 21)) ;;
    *) echo "" ;;
  esac
}

pid_file() { echo "$VAR/run/$1.pid"; }
log_file() { echo "$VAR/log/$1.log"; }
data_dir() { echo "$VAR/data/$1"; }

pg_primary_uri() { echo "postgresql://$DB_USER@127.0.0.1:$(port_of pg-primary)/$DB_NAME?target_session_attrs=read-write"; }
pg_replica_uri() { echo "postgresql://$DB_USER@127.0.0.1:$(port_of pg-replica)/$DB_NAME"; }
redis_list() { echo "127.0.0.1:$(port_of redis-0),127.0.0.1:$(port_of redis-1)"; }

# Folders every component needs. var/, var/data and var/run stay traversable
# (0755) so the PostgreSQL user reaches its data and socket folders.
ensure_dirs() {
  mkdir -p "$VAR" "$VAR/data" "$VAR/run" "$VAR/log" "$VAR/static"
  chmod 0755 "$VAR" "$VAR/data" "$VAR/run" "$VAR/log" "$VAR/static"
}

# ---------------------------------------------------------------------------
# Secrets: generated once, kept across ups (delete var/secrets to rotate)
# ---------------------------------------------------------------------------

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

ensure_secrets() {
  if [ ! -s "$SECRETS" ]; then
    mkdir -p "$VAR"
    local tmp="$SECRETS.tmp.$$"
    (
      umask 077
      {
        echo "# Generated once by scripts/cluster; kept across ups. Delete this file to rotate."
        echo "token_secret=$(random_hex 32)"
        echo "admin_token=$(random_hex 24)"
      } >"$tmp"
    )
    mv -f "$tmp" "$SECRETS"
  fi
  TOKEN_SECRET=$(sed -n 's/^token_secret=//p' "$SECRETS" | head -n 1)
  ADMIN_TOKEN=$(sed -n 's/^admin_token=//p' "$SECRETS" | head -n 1)
  if [ -z "$TOKEN_SECRET" ] || [ -z "$ADMIN_TOKEN" ]; then
    die "$SECRETS lacks token_secret= or admin_token= (delete it to regenerate)"
  fi
}

# ---------------------------------------------------------------------------
# Templates: @KEY@ placeholders, replaced literally
# ---------------------------------------------------------------------------

# write_if_changed FILE TEXT: keeps the file (and its mtime) when unchanged.
write_if_changed() {
  local file=$1 text=$2
  if [ -f "$file" ] && [ "$(cat "$file"; echo x)" = "${text}x" ]; then
    return 0
  fi
  local tmp="$file.tmp.$$"
  printf '%s' "$text" >"$tmp"
  mv -f "$tmp" "$file"
}

# render TEMPLATE OUT KEY=VALUE...
render() {
  local tpl=$TEMPLATES/$1 out=$2
  shift 2
  [ -f "$tpl" ] || die "missing template $tpl"
  local text kv
  text=$(cat "$tpl")
  for kv in "$@"; do
    text=${text//"@${kv%%=*}@"/"${kv#*=}"}
  done
  if [[ $text =~ @[A-Z0-9_]+@ ]]; then
    die "template $tpl: placeholder ${BASH_REMATCH[0]} has no value"
  fi
  write_if_changed "$out" "$text"$'\n'
}

# ---------------------------------------------------------------------------
# Processes: pid files plus liveness by kill -0 and /proc/PID/cmdline
# ---------------------------------------------------------------------------

cmdline_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

# env_of PID NAME: the value of NAME in the process's initial environment.
env_of() {
  tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | sed -n "s/^$2=//p" | head -n 1
}

# Does PID look like component C? Guards against a recycled pid.
pid_matches() {
  local c=$1 pid=$2 cmd
  cmd=$(cmdline_of "$pid")
  [ -n "$cmd" ] || return 1  # gone, or a zombie
  case $c in
    pg-*) [[ $cmd == *postgres* && $cmd == *"$(data_dir "$c")"* ]] ;;
    redis-*) [[ $cmd == *redis-server* && $cmd == *":$(port_of "$c")"* ]] ;;
    app-*)
      [[ $cmd == *"$SURGE_BIN"* && $cmd == *" serve "* && $cmd == *"$CONFIG"* ]] || return 1
      local p
      p=$(env_of "$pid" SURGE_SERVER_PORT)
      [ -z "$p" ] || [ "$p" = "$(port_of "$c")" ]
      ;;
    worker-*) [[ $cmd == *"$SURGE_BIN"* && $cmd == *" worker "* && $cmd == *"$CONFIG"* ]] ;;
    lb) [[ $cmd == *nginx* && $cmd == *"$(data_dir lb)/nginx.conf"* ]] ;;
    *) return 1 ;;
  esac
}

# Prints the pid of C when it runs; fails otherwise.
running_pid() {
  local c=$1 f pid
  f=$(pid_file "$c")
  # PostgreSQL's own postmaster.pid is the reference for its pid; the copy
  # in var/run is for people.
  case $c in pg-*) [ -r "$(data_dir "$c")/postmaster.pid" ] && f=$(data_dir "$c")/postmaster.pid ;; esac
  [ -r "$f" ] || return 1
  read -r pid <"$f" 2>/dev/null || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  pid_matches "$c" "$pid" || return 1
  echo "$pid"
}

is_running() { running_pid "$1" >/dev/null; }

# Is something listening on 127.0.0.1:PORT?
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts a command detached from this script: its own session (setsid), stdin
# from /dev/null, output appended to the component's log. Prints the pid.
# In a non-interactive shell a background job is not a process-group leader,
# so setsid execs in place and $! is the command's own pid.
spawn() {
  local c=$1
  shift
  local log
  log=$(log_file "$c")
  # 9>&-: the lock of scripts/cluster must not outlive the script in a child.
  setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$(pid_file "$c")"
  echo "$pid"
}

# wait_gone PID SECONDS [reaped]: true once the process has exited. An
# exited process may stay a zombie until init reaps it (here that can take
# a second or two); it holds no port, so it counts as gone, except with
# "reaped": PostgreSQL's stale-lock-file check sees a zombie postmaster as
# alive. A zombie nobody reaps in time counts as gone anyway.
wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2)) mode=${3:-}
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$(cmdline_of "$pid")" ]; then
      [ "$mode" = reaped ] || return 0
      [ "$SECONDS" -ge "$deadline" ] && return 0
    elif [ "$SECONDS" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.05
  done
  return 0
}

# SIGKILL the whole component: its process group (its session, from setsid)
# and its direct children. kill -9 of the nginx master alone would leave the
# workers holding the port; PostgreSQL's backends each lead their own session
# and would linger until they notice the postmaster's death.
kill_component_pid() {
  local pid=$1 pgid own children
  children=$(pgrep -P "$pid" 2>/dev/null || true)
  pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
  own=$(ps -o pgid= -p $$ | tr -d ' ')
  if [ "$pgid" = "$pid" ] && [ "$pgid" != "$own" ]; then
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
  kill -KILL "$pid" 2>/dev/null || true
  local child
  for child in $children; do
    kill -KILL "$child" 2>/dev/null || true
  done
}

# HTTP status of GET URL ("000" when there is no answer).
http_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
}
