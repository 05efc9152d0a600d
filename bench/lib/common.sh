# shellcheck shell=bash
# Helpers shared by the load benchmarks in bench/ (source it; needs bash).
#
#   bench_track PID        remember a process; bench_cleanup stops it
#   bench_untrack PID      forget it (after it was stopped on purpose)
#   bench_stop PID         TERM, then KILL after 5 s; waits for it; untracks
#   bench_cleanup          stops every tracked process (use in an EXIT trap)
#   bench_free_port        prints a free TCP port on 127.0.0.1
#   bench_wait_http URL PID [SECONDS]
#                          waits until URL answers 200; fails at once if PID
#                          has exited, or after SECONDS (default 10)
#   bench_cpu_ticks PID    prints utime+stime of PID in clock ticks
#                          (fields 14 and 15 of /proc/PID/stat: the sum over
#                          all threads of the process; see getconf CLK_TCK)
#   bench_children PID     prints the pids of PID's child processes
#   bench_core_jiffies N   prints "BUSY TOTAL" jiffies of CPU N (/proc/stat)
#   bench_boost PID        autogroup nice -20 for PID (a session leader)
#   bench_sched_ns PID     sets BENCH_SCHED="RUN_NS WAIT_NS" (schedstat, all threads)
#   bench_exited PID       true once PID is gone or a zombie
#   bench_times_children_ms FILE
#                          CPU ms of reaped children, from `times >FILE`
#
# Debian's python is used for anything non-trivial: the `python3` first on
# PATH may be a bare pyenv build without the standard modules we rely on.

BENCH_PY=/usr/bin/python3
BENCH_PIDS=()

bench_track() { BENCH_PIDS+=("$1"); }

bench_untrack() {
  local keep=() p
  for p in "${BENCH_PIDS[@]}"; do
    [[ "$p" == "$1" ]] || keep+=("$p")
  done
  BENCH_PIDS=("${keep[@]}")
}

# True while PID exists and is not a zombie.
bench_alive() {
  local state
  [[ -r "/proc/$1/stat" ]] || return 1
  state=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ "$state" != "Z" && -n "$state" ]]
}

bench_stop() {
  local pid=$1 i
  if bench_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      bench_alive "$pid" || break
      sleep 0.1
    done
    if bench_alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # Reap it when it is our child (no-op otherwise).
  wait "$pid" 2>/dev/null || true
  bench_untrack "$pid"
}

bench_cleanup() {
  local p i
  # Stop the newest first (e.g. the load generator before the server).
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    p=${BENCH_PIDS[i]}
    bench_stop "$p"
  done
  BENCH_PIDS=()
}

bench_free_port() {
  "$BENCH_PY" - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

bench_wait_http() {
  local url=$1 pid=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    if ! bench_alive "$pid"; then
      return 1
    fi
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null)" == "200" ]]; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

bench_cpu_ticks() {
  # Field 2 (comm) may hold spaces: cut everything up to the last ')'.
  # What remains starts at field 3, so utime (14) and stime (15) are the
  # 12th and 13th words.
  local rest
  rest=$(sed -E 's/^.*\) //' "/proc/$1/stat")
  awk '{ print $12 + $13 }' <<<"$rest"
}

bench_children() {
  pgrep -P "$1" || true
}

# bench_core_jiffies N: prints "BUSY TOTAL" jiffies of CPU N since boot, from
# /proc/stat (busy = user+nice+system+irq+softirq+steal; total adds idle and
# iowait). The difference of two readings gives how busy the core was.
bench_core_jiffies() {
  awk -v cpu="cpu$1" '$1 == cpu {
    busy = $2 + $3 + $4 + $7 + $8 + $9
    print busy, busy + $5 + $6
  }' /proc/stat
}

# bench_times_children_ms FILE: FILE holds the output of bash's `times`, run
# in the main shell (`times >FILE`; not inside $(...), which would report a
# fresh subshell). Prints the user+system CPU milliseconds of all reaped
# children: the difference around a `wait` for one child is that child's CPU.
bench_times_children_ms() {
  awk 'NR == 2 {
    total = 0
    for (i = 1; i <= 2; i++) {
      split($i, p, "m")
      sub("s", "", p[2])
      total += p[1] * 60000 + p[2] * 1000
    }
    printf "%d\n", total + 0.5
  }' "$1"
}

# bench_boost PID: give PID (started with `setsid nice -n -20 ...`, so that it
# leads a session and thus an autogroup of its own) the autogroup nice -20.
# Without it, autogroup scheduling shares a CPU between sessions equally,
# whatever the nice values inside them. No-op where autogroups don't exist.
bench_boost() {
  local pid=$1 i sid
  [[ -e "/proc/$pid/autogroup" ]] || return 0
  # $! is known before the child has exec'd setsid: until it leads its own
  # session, the autogroup is still ours, and must not be touched.
  for ((i = 0; i < 200; i++)); do
    sid=$(sed -E 's/^.*\) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $4 }') || return 0
    [[ -n "$sid" ]] || return 0
    if [[ "$sid" == "$pid" ]]; then
      echo -20 >"/proc/$pid/autogroup" 2>/dev/null || true
      return 0
    fi
    sleep 0.005
  done
  echo "bench_boost: pid $pid never became a session leader; left at normal priority" >&2
}

# bench_sched_ns PID: sets BENCH_SCHED to "RUN_NS WAIT_NS" summed over PID's
# threads (/proc/PID/task/*/schedstat: time on a CPU, and time runnable but
# waiting for one). Bash builtins only: cheap enough to poll. WAIT_NS growing
# means something else held the CPU the process wanted.
bench_sched_ns() {
  local f run_ns wait_ns r=0 w=0
  for f in /proc/"$1"/task/*/schedstat; do
    [[ -r "$f" ]] || continue
    read -r run_ns wait_ns _ 2>/dev/null <"$f" || continue
    r=$((r + run_ns))
    w=$((w + wait_ns))
  done
  # shellcheck disable=SC2034  # read by the caller
  BENCH_SCHED="$r $w"
}

# bench_exited PID: true once PID is gone or a zombie (bash builtins only).
bench_exited() {
  local line state
  read -r line 2>/dev/null <"/proc/$1/stat" || return 0
  state=${line##*) }
  state=${state%% *}
  [[ "$state" == Z || "$state" == X ]]
}
