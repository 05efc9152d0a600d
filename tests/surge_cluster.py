"""A whole Surge stack for black-box tests: scripts/cluster run in a private
var folder on free ports (SURGE_CLUSTER_VAR, SURGE_CLUSTER_BASE_PORT), with
SURGE_BIN as the binary when set. Shared by tests/cluster (which kills and
restarts components) and the business-module tests (which use one stack per
session through the `stack` fixture of tests/conftest.py).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import psycopg2

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "cluster"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
COMPONENTS = ["pg-primary", "pg-replica", "redis-0", "redis-1", "app-0", "app-1", "worker-0", "lb"]
PORT_OFFSETS = {"lb": 0, "app-0": 1, "app-1": 2, "worker-0": 3, "pg-primary": 10, "pg-replica": 11,
                "redis-0": 20, "redis-1": 21}
ENV_KEYS = ["SURGE_URL", "SURGE_ADMIN_TOKEN", "SURGE_TOKEN_SECRET", "SURGE_BIN", "SURGE_CONFIG",
            "SURGE_PG_PRIMARY", "SURGE_PG_REPLICA", "SURGE_REDIS"]
STATUS_LINE = re.compile(r"^(\S+) (running|stopped) (\d+|-)$")



def ports_free(base: int) -> bool:
    for offset in PORT_OFFSETS.values():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", base + offset))
            except OSError:
                return False
    return True


def pick_base_port() -> int:
    # Below Linux's ephemeral range (32768+), so no outgoing connection
    # takes one of the ports between this check and the start.
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32700, 25)
        if ports_free(base):
            return base
    raise RuntimeError("no free block of ports for the test cluster")


class Cluster:
    def __init__(self, root: Path, base: int):
        self.root = root
        self.var = root / "var"
        self.base = base
        self.env = os.environ.copy()
        for key in list(self.env):
            if key.startswith("SURGE_CLUSTER_"):
                del self.env[key]
        self.env.update({
            "SURGE_CLUSTER_VAR": str(self.var),
            "SURGE_CLUSTER_BASE_PORT": str(base),
            "SURGE_CLUSTER_SEED_USERS": "0",
        })
        if os.environ.get("SURGE_BIN"):
            self.env["SURGE_CLUSTER_BIN"] = str(Path(os.environ["SURGE_BIN"]).resolve())

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(SCRIPT), *args], env=self.env, cwd=str(REPO), text=True,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"scripts/cluster {' '.join(args)} exited {proc.returncode}\n"
                        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}\n{self.logs()}")
        return proc

    def status(self) -> dict[str, tuple[str, str]]:
        out = self.run("status").stdout
        lines = out.splitlines()
        assert len(lines) == len(COMPONENTS), out
        result = {}
        for line in lines:
            m = STATUS_LINE.match(line)
            assert m, f"malformed status line {line!r}"
            result[m.group(1)] = (m.group(2), m.group(3))
        assert list(result) == COMPONENTS, out
        return result

    def env_vars(self) -> dict[str, str]:
        out = self.run("env").stdout
        values = {}
        for line in out.splitlines():
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_]+", key), f"not a KEY=value line: {line!r}"
            values[key] = value
        return values

    def port(self, component: str) -> int:
        return self.base + PORT_OFFSETS[component]

    def logs(self, lines: int = 25) -> str:
        parts = []
        for log in sorted((self.var / "log").glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name} (last {lines} lines) ---\n" + "\n".join(text))
        return "\n".join(parts)


def worker_available(env: dict) -> bool:
    binary = env.get("SURGE_CLUSTER_BIN") or str(REPO / "build" / "surge")
    out = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    section = out.split("Subcommands:", 1)[-1]
    return re.search(r"^\s+worker(\s|$)", section, re.M) is not None


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def pg(uri: str):
    conn = psycopg2.connect(uri, connect_timeout=5)
    conn.autocommit = True
    return conn


def query(uri: str, sql: str, args=()) -> list[tuple]:
    conn = pg(uri)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()




def start_cluster(seed_users: int = 0) -> Cluster:
    """Brings a private cluster up; the caller MUST call stop_cluster()."""
    root = Path(tempfile.mkdtemp(prefix="surge-cluster-test-"))
    # As root, PostgreSQL runs as surge-pg, which must traverse to var/data.
    root.chmod(0o755)
    c = Cluster(root, pick_base_port())
    c.env["SURGE_CLUSTER_SEED_USERS"] = str(seed_users)
    # The worker republishes the static catalog often enough to test it.
    c.env.setdefault("SURGE_WORKER_PUBLISH_INTERVAL_S", "2")
    c.run("up", timeout=900)  # may build surge first
    return c


def stop_cluster(c: Cluster) -> None:
    c.run("down", check=False, timeout=180)
    # Whatever did not stop gracefully is killed, by the script itself
    # (it checks each pid against its component).
    try:
        for name, (state, _) in c.status().items():
            if state == "running":
                c.run("kill", name, check=False, timeout=60)
    except BaseException:  # noqa: BLE001 - teardown must go on
        pass
    if not os.environ.get("SURGE_CLUSTER_TEST_KEEP"):
        shutil.rmtree(c.root, ignore_errors=True)
