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

import json
import os
import resource
import selectors
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

requests = pytest.importorskip("requests")
psycopg2 = pytest.importorskip("psycopg2")
redis = pytest.importorskip("redis")

from surge_cluster import (COMPONENTS, ENV_KEYS, PG_BIN, PORT_OFFSETS, REPO, SCRIPT,  # noqa: E402
                           Cluster, query, start_cluster, stop_cluster, wait_for,
                           worker_available)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (PG_BIN / "postgres").exists(), reason="PostgreSQL 15 server not installed"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed"),
]


@pytest.fixture(scope="module")
def cluster():
    c = start_cluster(seed_users=0)
    try:
        yield c
    finally:
        stop_cluster(c)


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


def api_error(r, status: int, code: str) -> None:
    """r is the API's error (API.md §1): status, JSON body, a request id."""
    assert r.status_code == status, (r.status_code, r.text[:200])
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.json()["error"]["code"] == code, r.text
    assert r.json()["error"]["message"]
    assert r.headers.get("X-Request-Id")


def test_errors_the_lb_answers_itself_are_api_json(cluster):
    url = cluster.env_vars()["SURGE_URL"]
    api_error(requests.get(f"{url}/static/no-such-file.json", timeout=5), 404, "not_found")
    api_error(requests.get(f"{url}/static/", timeout=5), 404, "not_found")
    r = requests.post(f"{url}/static/manifest.json", data="x", timeout=5)
    api_error(r, 405, "method_not_allowed")
    # Over the app's header limit (16 KiB) but within nginx's buffers: the
    # app's own 431; past nginx's buffers: nginx's, in the same shape, with
    # the client's request id (nginx read it before the oversized header).
    r = requests.get(f"{url}/healthz", headers={"X-Big": "a" * 20_000}, timeout=5)
    api_error(r, 431, "request_header_fields_too_large")
    r = requests.get(f"{url}/healthz", headers={"X-Request-Id": "big-lb", "X-Big": "a" * 40_000},
                     timeout=5)
    api_error(r, 431, "request_header_fields_too_large")
    assert r.headers["X-Request-Id"] == "big-lb"
    api_error(requests.get(f"{url}/" + "a" * 40_000, timeout=5), 431,
              "request_header_fields_too_large")
    # A malformed request line: 400 invalid_request, then the close.
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=5) as s:
        s.sendall(b"GARBAGE\r\n\r\n")
        raw = b""
        while chunk := s.recv(4096):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), raw
    assert json.loads(body)["error"]["code"] == "invalid_request"
    # What nginx refuses before any location, answered like the app does.
    port = int(url.rsplit(":", 1)[1])
    for raw_request, status, code in [
        (b"GET /healthz HTTP/2.0\r\nHost: x\r\nX-Request-Id: lb-505\r\n\r\n", 505,
         "http_version_not_supported"),
        (b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nX-Request-Id: lb-501\r\n"
         b"Transfer-Encoding: gzip\r\n\r\n", 400, "invalid_request"),
        (b"TRACE /api/v1/users HTTP/1.1\r\nHost: x\r\nX-Request-Id: lb-405\r\n\r\n", 405,
         "method_not_allowed"),
    ]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(raw_request)
            raw = b""
            while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 %d" % status), raw
        assert b"content-type: application/json" in head.lower(), raw
        assert b"\r\nx-request-id: " in head.lower(), raw
        assert json.loads(body)["error"]["code"] == code, raw
    r = requests.get(f"{url}/static/manifest.json", headers={"Range": "bytes=999999-"}, timeout=5)
    api_error(r, 416, "range_not_satisfiable")


def test_bodies_over_the_limit_get_413_through_the_lb_and_take_no_server_out(cluster):
    # nginx admits bodies up to 4 MiB and sends each whole to an app server
    # before it reads the answer, so the app's 413 (1 MiB limit) must survive
    # a body still arriving. Enough of them in a row to exhaust max_fails=3
    # on both servers if any were counted as a failure.
    url = cluster.env_vars()["SURGE_URL"]
    lb_log = cluster.var / "log" / "lb.log"
    logged_before = lb_log.stat().st_size
    body = b"a" * (1024 * 1024 + 100_000)
    for i in range(8):
        r = requests.post(f"{url}/api/v1/users", data=body,
                          headers={"Content-Type": "application/json", "X-Request-Id": f"big-{i}"},
                          timeout=10)
        api_error(r, 413, "payload_too_large")
        assert r.headers["X-Request-Id"] == f"big-{i}"
    for _ in range(4):
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
    with lb_log.open("rb") as f:
        f.seek(logged_before)
        logged = f.read().decode(errors="replace")
    assert "upstream" not in logged, logged[-2000:]


CROWD = 9_000


def complete_response(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def test_a_crowd_of_connections_is_held_and_served_at_once(cluster):
    # A flash sale opens thousands of connections within a second. Each must
    # be held by the lb while idle and answered once its request arrives: a
    # worker short of connections closes idle ones ("reusing connections"),
    # which drops exactly the clients that were about to buy.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * CROWD + 1_000:
        pytest.skip(f"descriptor limit {hard} is too low for {CROWD} connections on each side")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = cluster.port("lb")
    sel = selectors.DefaultSelector()
    socks = []
    try:
        for _ in range(CROWD):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
        time.sleep(1)  # every connection idle and held at once
        request = b"GET /healthz HTTP/1.1\r\nHost: surge\r\n\r\n"
        answers = {}
        for s in socks:
            s.sendall(request)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            answers[s] = b""
        done = closed = 0
        deadline = time.monotonic() + 60
        while done + closed < CROWD and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                try:
                    chunk = s.recv(4096)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    chunk = b""
                if not chunk:
                    closed += 1
                    sel.unregister(s)
                    continue
                answers[s] += chunk
                if complete_response(answers[s]):
                    done += 1
                    sel.unregister(s)
        statuses = [a.split(b"\r\n", 1)[0] for a in answers.values()]
        ok = sum(1 for line in statuses if line.startswith(b"HTTP/1.1 200"))
        assert closed == 0 and ok == CROWD, (ok, closed, CROWD)
    finally:
        sel.close()
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_both_app_servers_down_is_a_json_503_with_retry_after(cluster):
    url = cluster.env_vars()["SURGE_URL"]
    cluster.run("kill", "app-0")
    cluster.run("kill", "app-1")
    try:
        r = requests.get(f"{url}/api/v1/products", headers={"X-Request-Id": "both-down"},
                         timeout=10)
        api_error(r, 503, "unavailable")
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers["X-Request-Id"] == "both-down"
    finally:
        cluster.run("start", "app-0")
        cluster.run("start", "app-1")
    assert requests.get(f"{url}/healthz", timeout=5).status_code == 200


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


def test_migrate_again_is_a_no_op(cluster):
    env = cluster.env_vars()
    for _ in range(2):
        out = subprocess.run([env["SURGE_BIN"], "migrate", "--config", env["SURGE_CONFIG"]],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    (n,), = query(env["SURGE_PG_PRIMARY"], "SELECT count(*) FROM schema_migrations")[0:1]
    assert n >= 1


def test_later_commands_reuse_the_ports_of_up(cluster):
    """`up` records its base port in the var folder: status and env work
    without SURGE_CLUSTER_BASE_PORT (and so does down, which recognises
    components by their ports)."""
    env = {k: v for k, v in cluster.env.items() if k != "SURGE_CLUSTER_BASE_PORT"}

    def run(*args: str) -> str:
        out = subprocess.run([str(SCRIPT), *args], env=env, cwd=str(REPO), text=True,
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert run("status") == cluster.run("status").stdout
    assert f"SURGE_URL=http://127.0.0.1:{cluster.port('lb')}\n" in run("env")


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
