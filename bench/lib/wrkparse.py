#!/usr/bin/python3
"""Parse the text that wrk 4.x prints into a JSON object.

Usage: wrkparse.py WRK_OUTPUT_FILE   (prints one JSON object on stdout)

Fields (None when wrk did not print them):
  requests        completed responses ("N requests in 10.00s, ...")
  seconds         measured duration ("... in 10.00s")
  rps             "Requests/sec"
  p50_us, p75_us, p90_us, p99_us
                  latency percentiles in microseconds (needs --latency)
  non_2xx_3xx     "Non-2xx or 3xx responses: N" (0 when absent)
  socket_errors   {"connect", "read", "write", "timeout"} (0 when absent)
  errors          non_2xx_3xx + all socket errors
  zero_percentiles
                  percentiles wrk printed as 0.00us although requests completed
                  (a wrk bug, see below); those are set to None

Debian's /usr/bin/python3 on purpose: the python3 on PATH may be a bare build.
"""

import json
import re
import sys

_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_DURATION = re.compile(r"^([0-9.]+)(us|ms|s|m|h)$")


def duration_us(text):
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS_US[m.group(2)]


def parse(text):
    out = {
        "requests": None,
        "seconds": None,
        "rps": None,
        "p50_us": None,
        "p75_us": None,
        "p90_us": None,
        "p99_us": None,
        "non_2xx_3xx": 0,
        "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
    }
    in_dist = False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Latency Distribution"):
            in_dist = True
            continue
        if in_dist:
            m = re.match(r"^(50|75|90|99)%\s+(\S+)$", s)
            if m:
                out[f"p{m.group(1)}_us"] = duration_us(m.group(2))
                continue
            in_dist = False
        m = re.match(r"^(\d+) requests in ([0-9.]+\w+),", s)
        if m:
            out["requests"] = int(m.group(1))
            out["seconds"] = duration_us(m.group(2)) / 1e6
            continue
        m = re.match(r"^Requests/sec:\s+([0-9.]+)", s)
        if m:
            out["rps"] = float(m.group(1))
            continue
        m = re.match(r"^Non-2xx or 3xx responses:\s+(\d+)", s)
        if m:
            out["non_2xx_3xx"] = int(m.group(1))
            continue
        m = re.match(
            r"^Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", s
        )
        if m:
            out["socket_errors"] = dict(
                zip(("connect", "read", "write", "timeout"), map(int, m.groups()))
            )
    out["errors"] = out["non_2xx_3xx"] + sum(out["socket_errors"].values())
    # wrk 4.x "corrects" for coordinated omission by adding synthetic samples
    # below each slow one; some can land below the recorded minimum, where the
    # percentile scan never looks, and then a percentile prints as 0.00us
    # (wg/wrk#236, #354). It happens most with pipelining, where wrk records
    # one latency per batch but derives the expected interval from the
    # number of responses. A 0 with requests completed is that bug, not a
    # measurement: report it as unknown.
    out["zero_percentiles"] = []
    if out["requests"]:
        for key in ("p50_us", "p75_us", "p90_us", "p99_us"):
            if out[key] == 0:
                out[key] = None
                out["zero_percentiles"].append(key)
    return out


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8", errors="replace") as f:
        print(json.dumps(parse(f.read())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
