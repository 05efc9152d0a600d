"""Black-box test of scripts/cluster (API.md §7).

Runs a whole cluster (PostgreSQL primary + streaming replica, two Redis
shards, two app servers, nginx) in a private var folder on free ports:
SURGE_CLUSTER_VAR, SURGE_CLUSTER_BASE_PORT, and SURGE_CLUSTER_SEED_USERS=0
(no 100 000-user seed). The binary is SURGE_BIN when set (as for the other
black-box tests), else build/surge (`up` builds it when missing).

As root, PostgreSQL runs as the system user surge-pg, so the var folder
lives in a world-traversable temporary folder. The cluster is taken down at
the end of the module, also when a test fails.

Run: /usr/bin/python3 -m pytest tests/cluster
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
import uuid
from pathlib import Path

import pytest

requests = pytest.importorskip("requests")
psycopg2 = pytest.importorskip("psycopg2")
redis = pytest.importorskip("redis")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "cluster"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
COMPONENTS = ["pg-primary", "pg-replica", "redis-0", "redis-1", "app-0", "app-1", "worker-0", "lb"]
PORT_OFFSETS = {"lb": 0, "app-0": 1, "app-1": 2, "pg-primary": 10, "pg-replica": 11,
                "redis-0": 20, "redis-1": 21}
ENV_KEYS = ["SURGE_URL", "SURGE_ADMIN_TOKEN", "SURGE_TOKEN_SECRET", "SURGE_BIN", "SURGE_CONFIG",
            "SURGE_PG_PRIMARY", "SURGE_PG_REPLICA", "SURGE_REDIS"]
STATUS_LINE = re.compile(r"^(\S+) (running|stopped) (\d+|-)$")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (PG_BIN / "postgres").exists(), reason="PostgreSQL 15 server not installed"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed"),
]


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


@pytest.fixture(scope="module")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="surge-cluster-test-"))
    # As root, PostgreSQL runs as surge-pg, which must traverse to var/data.
    root.chmod(0o755)
    c = Cluster(root, pick_base_port())
    try:
        c.run("up", timeout=900)  # may build surge first
        yield c
    finally:
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
            shutil.rmtree(root, ignore_errors=True)


def expected_running(cluster: Cluster) -> list[str]:
    names = list(COMPONENTS)
    if not worker_available(cluster.env):
        names.remove("worker-0")
    return names


def test_status_has_every_component_running(cluster):
    status = cluster.status()
    for name in expected_running(cluster):
        state, pid = status[name]
        assert state == "running" and pid.isdigit(), f"{name}: {status[name]}\n{cluster.logs()}"
    if "worker-0" not in expected_running(cluster):
        assert status["worker-0"] == ("stopped", "-")


def test_env_has_every_key(cluster):
    env = cluster.env_vars()
    assert list(env) == ENV_KEYS
    assert env["SURGE_URL"] == f"http://127.0.0.1:{cluster.base}"
    assert len(env["SURGE_ADMIN_TOKEN"]) >= 32 and len(env["SURGE_TOKEN_SECRET"]) >= 32
    assert env["SURGE_ADMIN_TOKEN"] != env["SURGE_TOKEN_SECRET"]
    assert Path(env["SURGE_BIN"]).is_absolute() and os.access(env["SURGE_BIN"], os.X_OK)
    assert env["SURGE_CONFIG"] == str(cluster.var / "surge.toml")
    assert Path(env["SURGE_CONFIG"]).is_file()
    assert env["SURGE_PG_PRIMARY"].startswith(f"postgresql://surge@127.0.0.1:{cluster.port('pg-primary')}/surge")
    assert env["SURGE_PG_REPLICA"] == f"postgresql://surge@127.0.0.1:{cluster.port('pg-replica')}/surge"
    assert env["SURGE_REDIS"] == f"127.0.0.1:{cluster.port('redis-0')},127.0.0.1:{cluster.port('redis-1')}"
    # The generated config passes the binary's own check.
    proc = subprocess.run([env["SURGE_BIN"], "config", "--config", env["SURGE_CONFIG"]],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_healthz_through_lb(cluster):
    url = cluster.env_vars()["SURGE_URL"]
    r = requests.get(f"{url}/healthz", timeout=5)
    assert r.status_code == 200, r.text
    # The client's request id passes through nginx and comes back.
    r = requests.get(f"{url}/healthz", headers={"X-Request-Id": "cluster-test-1"}, timeout=5)
    assert r.status_code == 200
    assert r.headers.get("X-Request-Id") == "cluster-test-1"


def test_static_cache_headers(cluster):
    url = cluster.env_vars()["SURGE_URL"]
    static = cluster.var / "static"
    (static / "catalog.0123456789abcdef.json").write_text('{"v":1}\n')
    (static / "manifest.json").write_text('{"catalog":"catalog.0123456789abcdef.json"}\n')
    r = requests.get(f"{url}/static/catalog.0123456789abcdef.json", timeout=5)
    assert r.status_code == 200 and r.json() == {"v": 1}
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    r = requests.get(f"{url}/static/manifest.json", timeout=5)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "public, max-age=5"


def test_replica_streams_rows_from_primary(cluster):
    env = cluster.env_vars()
    query(env["SURGE_PG_PRIMARY"],
          "CREATE TABLE IF NOT EXISTS cluster_probe (id serial PRIMARY KEY, note text NOT NULL)")
    note = f"stream-{uuid.uuid4()}"
    query(env["SURGE_PG_PRIMARY"], "INSERT INTO cluster_probe (note) VALUES (%s)", (note,))
    assert query(env["SURGE_PG_REPLICA"], "SELECT pg_is_in_recovery()") == [(True,)]
    assert query(env["SURGE_PG_PRIMARY"], "SELECT pg_is_in_recovery()") == [(False,)]
    wait_for(lambda: query(env["SURGE_PG_REPLICA"],
                           "SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'cluster_probe'")
             and query(env["SURGE_PG_REPLICA"], "SELECT 1 FROM cluster_probe WHERE note = %s", (note,)),
             15, "the row on the replica")
    streaming = query(env["SURGE_PG_REPLICA"], "SELECT status FROM pg_stat_wal_receiver")
    assert streaming == [("streaming",)]


def test_redis_shards_use_aof_always(cluster):
    for shard in cluster.env_vars()["SURGE_REDIS"].split(","):
        host, port = shard.split(":")
        client = redis.Redis(host=host, port=int(port), socket_timeout=5)
        try:
            assert client.ping()
            assert client.config_get("appendonly") == {"appendonly": "yes"}
            assert client.config_get("appendfsync") == {"appendfsync": "always"}
            assert client.config_get("save") == {"save": ""}
        finally:
            client.close()


def test_up_again_changes_nothing(cluster):
    before = cluster.status()
    started = time.monotonic()
    cluster.run("up")
    elapsed = time.monotonic() - started
    assert cluster.status() == before
    assert elapsed < 20, f"a no-op up took {elapsed:.1f}s"


def test_unknown_component_is_rejected(cluster):
    for verb in ("kill", "stop", "start"):
        proc = cluster.run(verb, "no-such-thing", check=False)
        assert proc.returncode == 2, proc.stderr
        for name in COMPONENTS:
            assert name in proc.stderr


def test_killed_app_server_lb_serves_from_the_other(cluster):
    url = cluster.env_vars()["SURGE_URL"]
    old_pid = cluster.status()["app-0"][1]
    cluster.run("kill", "app-0")
    assert cluster.status()["app-0"] == ("stopped", "-")
    # nginx retries the refused connection on app-1: no request fails.
    codes = [requests.get(f"{url}/healthz", timeout=5).status_code for _ in range(20)]
    assert codes == [200] * 20, codes
    cluster.run("start", "app-0")
    state, pid = cluster.status()["app-0"]
    assert state == "running" and pid != old_pid
    r = requests.get(f"http://127.0.0.1:{cluster.port('app-0')}/healthz", timeout=5)
    assert r.status_code == 200


def test_down_then_up_keeps_data(cluster):
    env = cluster.env_vars()
    note = f"durable-{uuid.uuid4()}"
    query(env["SURGE_PG_PRIMARY"],
          "CREATE TABLE IF NOT EXISTS cluster_probe (id serial PRIMARY KEY, note text NOT NULL)")
    query(env["SURGE_PG_PRIMARY"], "INSERT INTO cluster_probe (note) VALUES (%s)", (note,))
    shard = env["SURGE_REDIS"].split(",")[0].split(":")
    client = redis.Redis(host=shard[0], port=int(shard[1]), socket_timeout=5)
    client.set("cluster-test-key", note)
    client.close()

    cluster.run("down")
    status = cluster.status()
    assert all(state == ("stopped", "-") for state in status.values()), status
    for name in PORT_OFFSETS:
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex(("127.0.0.1", cluster.port(name))) != 0, f"{name} still listens"

    cluster.run("up")
    status = cluster.status()
    for name in expected_running(cluster):
        assert status[name][0] == "running", f"{name}: {status[name]}"
    assert cluster.env_vars() == env, "secrets or addresses changed across down/up"
    assert query(env["SURGE_PG_PRIMARY"], "SELECT count(*) FROM cluster_probe WHERE note = %s",
                 (note,)) == [(1,)]
    wait_for(lambda: query(env["SURGE_PG_REPLICA"],
                           "SELECT 1 FROM cluster_probe WHERE note = %s", (note,)),
             15, "the row on the replica after down/up")
    client = redis.Redis(host=shard[0], port=int(shard[1]), socket_timeout=5)
    try:
        assert client.get("cluster-test-key") == note.encode()  # from the AOF
    finally:
        client.close()
    r = requests.get(f"{env['SURGE_URL']}/healthz", timeout=5)
    assert r.status_code == 200
