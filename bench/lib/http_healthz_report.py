#!/usr/bin/python3
"""Bookkeeping for bench/http_healthz.sh (not meant to be run by hand).

  http_healthz_report.py record RUNS.jsonl --load L --server S --round R
        --rounds N --wrk-out FILE --ticks-before T0 --ticks-after T1 --clk-tck HZ
        --core0 BUSY0 BUSY1 --core1 BUSY0 BUSY1 --wrk-cpu-ms MS
        --server-sched SCHED0 SCHED1 --wrk-wait-pct PCT
      Parses one wrk run, appends it as a JSON line to RUNS.jsonl (with
      "contended": true when other work shared the CPUs) and prints a one-line
      summary (plus warnings for errors and contention).

  http_healthz_report.py summary RUNS.jsonl META.json OUT.json
        [--discarded DISCARDED.jsonl] --load NAME 'WRK COMMAND' 'TARGETS' [--load ...]
      Prints one table per load (medians over rounds) and writes META, every
      run and the summary to OUT.json. TARGETS is a comma-separated list of
      rps>=X (surge/nginx req/s ratio) and cpu<=Y (surge/nginx CPU per request).
"""

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wrkparse  # noqa: E402

SERVERS = ("nginx", "surge")


def fmt_ms(us):
    return "n/a" if us is None else f"{us / 1000:.3f}"


def fmt_num(x, digits=2):
    return "-" if x is None else f"{x:,.{digits}f}"


def error_text(w):
    se = w["socket_errors"]
    return (
        f"{w['non_2xx_3xx']} non-2xx/3xx responses; socket errors: connect {se['connect']}, "
        f"read {se['read']}, write {se['write']}, timeout {se['timeout']}"
    )


def cmd_record(a):
    with open(a.wrk_out, encoding="utf-8", errors="replace") as f:
        text = f.read()
    w = wrkparse.parse(text)
    ticks = a.ticks_after - a.ticks_before
    cpu_s = ticks / a.clk_tck
    requests = w["requests"] or 0
    def busy(before, after):
        b0, t0 = map(int, before.split())
        b1, t1 = map(int, after.split())
        return 100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else None

    seconds = w["seconds"] or 0
    s0 = [int(x) for x in a.server_sched[0].split()]
    s1 = [int(x) for x in a.server_sched[1].split()]
    rec = {
        "load": a.load,
        "server": a.server,
        "round": a.round,
        "requests": w["requests"],
        "seconds": w["seconds"],
        "rps": w["rps"],
        "p50_us": w["p50_us"],
        "p99_us": w["p99_us"],
        "p75_us": w["p75_us"],
        "p90_us": w["p90_us"],
        "non_2xx_3xx": w["non_2xx_3xx"],
        "socket_errors": w["socket_errors"],
        "errors": w["errors"],
        "cpu_ticks": ticks,
        "clk_tck": a.clk_tck,
        "cpu_seconds": cpu_s,
        "cpu_us_per_req": (cpu_s * 1e6 / requests) if requests else None,
        # The server's CPU time over the run's length: 100 = one core saturated.
        "server_cpu_pct": (100.0 * cpu_s / seconds) if seconds else None,
        # Share of the run the server / wrk was runnable but not running:
        # something else held the CPU it wanted (schedstat wait time).
        "server_wait_pct": (100.0 * (s1[1] - s0[1]) / (seconds * 1e9)) if seconds else None,
        "wrk_wait_pct": a.wrk_wait_pct,
        # How busy each core was, all processes together (/proc/stat).
        "core0_busy_pct": busy(*a.core0),
        "core1_busy_pct": busy(*a.core1),
        # wrk's own CPU time over the run's length: near 100 = wrk set the pace.
        "wrk_cpu_pct": (a.wrk_cpu_ms / 10.0 / seconds) if seconds else None,
        "zero_percentiles": w["zero_percentiles"],
        "contended": None,
        "wrk_output": text,
    }
    rec["contended"] = contended(rec)
    if w["rps"] is None or w["requests"] is None:
        rec["errors"] += 1
        rec["parse_error"] = "wrk printed no Requests/sec or request count"
    with open(a.runs, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
    print(
        f"  [{a.load} {a.round}/{a.rounds}] {a.server:5s} "
        f"{fmt_num(rec['rps'], 0):>10s} req/s  "
        f"p50 {fmt_ms(rec['p50_us'])} ms  p99 {fmt_ms(rec['p99_us'])} ms  "
        f"CPU {fmt_num(rec['cpu_us_per_req'])} us/req "
        f"({ticks} ticks / {requests:,} req)  "
        f"| {a.server} {fmt_num(rec['server_cpu_pct'], 0)}% CPU, "
        f"{fmt_num(rec['server_wait_pct'], 1)}% waiting | "
        f"wrk {fmt_num(rec['wrk_cpu_pct'], 0)}% CPU, {fmt_num(rec['wrk_wait_pct'], 1)}% waiting"
    )
    if rec["contended"]:
        print(f"  !! contended: {a.server} or wrk spent over {CONTENTION_WAIT_PCT:.0f}% of the run "
              "waiting for its CPU while other work ran on it")
    if rec["zero_percentiles"]:
        print(f"  note: wrk printed {', '.join(k[:-3] for k in rec['zero_percentiles'])} as 0.00us "
              "(wrk's coordinated-omission correction bug, wg/wrk#236): shown as n/a")
    if rec["errors"]:
        print(f"  !! {a.server} ERRORS in this run: {error_text(w)}"
              + (f"; {rec['parse_error']}" if "parse_error" in rec else ""))
    sys.stdout.flush()
    return 0


# A run is contended when the server or wrk was runnable but kept off its
# CPU (by other processes) for more than this share of the run. A quiet box
# shows about 0; a busy one without the script's priority boost, 50 and more.
CONTENTION_WAIT_PCT = 10.0


def contended(rec):
    vals = (rec["server_wait_pct"], rec["wrk_wait_pct"])
    if None in vals:
        return None
    return any(v > CONTENTION_WAIT_PCT for v in vals)


def pace_notes(server, p):
    """Whether other work shared the CPUs, and who set the pace."""
    notes = []
    srv, wrk = p["server_cpu_pct"], p["wrk_cpu_pct"]
    if None in (srv, wrk, p["server_wait_pct"], p["wrk_wait_pct"]):
        return notes
    if p["contended_runs"]:
        notes.append(
            f"{p['contended_runs']} of {p['runs']} {server} run(s) were contended (median wait: "
            f"{server} {p['server_wait_pct']:.1f}%, wrk {p['wrk_wait_pct']:.1f}% of the run): "
            "rerun on a quiet machine (or with --quiet-wait 60, more --retries)")
    elif wrk + p["wrk_wait_pct"] >= 95 and srv + p["server_wait_pct"] < 90:
        notes.append(
            f"{server}: wrk wanted {wrk + p['wrk_wait_pct']:.0f}% of its core, {server} only "
            f"{srv + p['server_wait_pct']:.0f}%: wrk set the pace, so req/s understates "
            f"{server}; CPU/req still compares")
    return notes


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def paired_ratios(runs, load):
    """surge/nginx for each round in which both servers have a kept run."""
    by_round = {}
    for r in runs:
        if r["load"] == load:
            by_round.setdefault(r["round"], {})[r["server"]] = r
    pairs = []
    for rnd in sorted(by_round):
        pair = by_round[rnd]
        n, s = pair.get("nginx"), pair.get("surge")
        if not n or not s:
            continue
        pairs.append({
            "round": rnd,
            "rps": s["rps"] / n["rps"] if s.get("rps") and n.get("rps") else None,
            "cpu": (s["cpu_us_per_req"] / n["cpu_us_per_req"]
                    if s.get("cpu_us_per_req") and n.get("cpu_us_per_req") else None),
        })
    return pairs


def parse_targets(text):
    targets = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part.startswith("rps>="):
            targets["rps_ratio_min"] = float(part[5:])
        elif part.startswith("cpu<="):
            targets["cpu_ratio_max"] = float(part[5:])
        else:
            raise SystemExit(f"unknown target {part!r}")
    return targets


def cmd_summary(a):
    with open(a.meta, encoding="utf-8") as f:
        meta = json.load(f)
    runs = []
    with open(a.runs, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                runs.append(json.loads(line))

    discarded = []
    if a.discarded and os.path.exists(a.discarded):
        with open(a.discarded, encoding="utf-8") as f:
            discarded = [json.loads(line) for line in f if line.strip()]

    summary = {}
    all_pass = True
    print()
    print("=" * 78)
    print(f"GET /healthz: surge vs nginx — median of {meta.get('rounds')} round(s), "
          f"{meta.get('duration_s')} s each")
    print(f"server on CPU 0 (1 thread / 1 worker), wrk on CPU 1; {meta.get('date')}")
    print("=" * 78)
    for name, command, target_text in a.load:
        targets = parse_targets(target_text)
        per = {}
        for server in SERVERS:
            rs = [r for r in runs if r["load"] == name and r["server"] == server]
            per[server] = {
                "runs": len(rs),
                "rps": median(r["rps"] for r in rs),
                "p50_us": median(r["p50_us"] for r in rs),
                "p99_us": median(r["p99_us"] for r in rs),
                "cpu_us_per_req": median(r["cpu_us_per_req"] for r in rs),
                "server_cpu_pct": median(r.get("server_cpu_pct") for r in rs),
                "core0_busy_pct": median(r.get("core0_busy_pct") for r in rs),
                "core1_busy_pct": median(r.get("core1_busy_pct") for r in rs),
                "wrk_cpu_pct": median(r.get("wrk_cpu_pct") for r in rs),
                "server_wait_pct": median(r.get("server_wait_pct") for r in rs),
                "wrk_wait_pct": median(r.get("wrk_wait_pct") for r in rs),
                "contended_runs": sum(1 for r in rs if r.get("contended")),
                "errors": sum(r["errors"] for r in rs),
            }
        n, s = per["nginx"], per["surge"]
        # Paired ratios: each round's surge run against the nginx run next to
        # it, then the median over rounds. The box drifts between phases
        # where every request costs ~8 or ~11 us for both servers alike; a
        # ratio of medians taken over runs from different phases swings by
        # 20% (0.95 and 1.22 in two runs of the same binaries, 2026-12-03),
        # a paired ratio cancels the phase.
        pairs = paired_ratios(runs, name)
        rps_ratio = median(p["rps"] for p in pairs)
        cpu_ratio = median(p["cpu"] for p in pairs)

        checks = []
        if "rps_ratio_min" in targets:
            t = targets["rps_ratio_min"]
            ok = rps_ratio is not None and rps_ratio >= t
            checks.append(("req/s", rps_ratio, f">= {t:.2f}", ok))
        if "cpu_ratio_max" in targets:
            t = targets["cpu_ratio_max"]
            ok = cpu_ratio is not None and cpu_ratio <= t
            checks.append(("CPU/req", cpu_ratio, f"<= {t:.2f}", ok))
        # A server that errors must not look fast: any surge error is a MISS.
        surge_clean = s["errors"] == 0
        verdict = "PASS" if surge_clean and all(c[3] for c in checks) else "MISS"
        all_pass = all_pass and verdict == "PASS"

        print()
        print(f"Load {name}: {command}")
        print(f"  {'server':<8s}{'req/s':>12s}{'p50 ms':>10s}{'p99 ms':>10s}"
              f"{'CPU us/req':>12s}{'srv CPU%':>10s}{'srv wait%':>11s}{'wrk CPU%':>10s}"
              f"{'errors':>8s}")
        for server in SERVERS:
            p = per[server]
            print(f"  {server:<8s}{fmt_num(p['rps'], 0):>12s}{fmt_ms(p['p50_us']):>10s}"
                  f"{fmt_ms(p['p99_us']):>10s}{fmt_num(p['cpu_us_per_req']):>12s}"
                  f"{fmt_num(p['server_cpu_pct'], 0):>10s}{fmt_num(p['server_wait_pct'], 1):>11s}"
                  f"{fmt_num(p['wrk_cpu_pct'], 0):>10s}"
                  f"{p['errors']:>8d}")
        print(f"  surge/nginx, median of {len(pairs)} paired round(s): req/s x{fmt_num(rps_ratio, 3)}, "
              f"CPU/req x{fmt_num(cpu_ratio, 3)}")
        print("    per round: req/s " + " ".join(fmt_num(p["rps"], 3) for p in pairs)
              + "; CPU/req " + " ".join(fmt_num(p["cpu"], 3) for p in pairs))
        if s["rps"] and n["rps"] and s["cpu_us_per_req"] and n["cpu_us_per_req"]:
            print(f"    ratio of the medians: req/s x{s['rps'] / n['rps']:.3f}, "
                  f"CPU/req x{s['cpu_us_per_req'] / n['cpu_us_per_req']:.3f}")
        for label, value, target, ok in checks:
            print(f"    {label:<8s} ratio {fmt_num(value, 4):>6s}  target {target}  "
                  f"{'PASS' if ok else 'MISS'}")
        if not surge_clean:
            print(f"    surge had {s['errors']} error(s) (non-2xx/3xx or socket errors): MISS")
        for server in SERVERS:
            for note in pace_notes(server, per[server]):
                print(f"    note: {note}")
        if n["errors"]:
            print(f"    note: nginx had {n['errors']} error(s); the comparison is suspect")
        print(f"  => {verdict}")

        summary[name] = {
            "command": command,
            "targets": targets,
            "nginx": n,
            "surge": s,
            "rps_ratio": rps_ratio,
            "cpu_ratio": cpu_ratio,
            "checks": [
                {"metric": c[0], "ratio": c[1], "target": c[2], "pass": c[3]} for c in checks
            ],
            "verdict": verdict,
        }

    print()
    if discarded:
        print(f"{len(discarded)} contended run(s) were discarded and measured again.")
    print(f"Overall: {'PASS' if all_pass else 'MISS'}")
    result = {"meta": meta, "summary": summary, "runs": runs,
              "discarded_runs": discarded, "overall": all_pass}
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"JSON: {a.out}")
    return 0 if all_pass else 3


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("record")
    r.add_argument("runs")
    r.add_argument("--load", required=True)
    r.add_argument("--server", required=True, choices=SERVERS)
    r.add_argument("--round", required=True, type=int)
    r.add_argument("--rounds", required=True, type=int)
    r.add_argument("--wrk-out", required=True)
    r.add_argument("--ticks-before", required=True, type=int)
    r.add_argument("--ticks-after", required=True, type=int)
    r.add_argument("--clk-tck", required=True, type=int)
    r.add_argument("--core0", nargs=2, required=True, metavar=("BEFORE", "AFTER"),
                   help='"BUSY TOTAL" jiffies of CPU 0 before and after')
    r.add_argument("--core1", nargs=2, required=True, metavar=("BEFORE", "AFTER"))
    r.add_argument("--wrk-cpu-ms", required=True, type=int, help="wrk's CPU time (user+sys)")
    r.add_argument("--server-sched", nargs=2, required=True, metavar=("BEFORE", "AFTER"),
                   help='"RUN_NS WAIT_NS" of the server (schedstat) before and after')
    r.add_argument("--wrk-wait-pct", required=True, type=float,
                   help="share of the run wrk was runnable but not running")

    s = sub.add_parser("summary")
    s.add_argument("runs")
    s.add_argument("meta")
    s.add_argument("out")
    s.add_argument("--discarded", help="JSON lines of contended runs that were redone")
    s.add_argument("--load", nargs=3, action="append", required=True,
                   metavar=("NAME", "COMMAND", "TARGETS"))

    a = p.parse_args(argv[1:])
    return cmd_record(a) if a.cmd == "record" else cmd_summary(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
