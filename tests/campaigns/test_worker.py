"""`surge worker` as a component of the shared stack: its ops port, its
metric families, and the stream trim (never past unacknowledged entries)."""

from __future__ import annotations

import requests

from campaign_support import create_redpacket, shard_clients, wait_until
from ucenter_support import API

QUEUE_FAMILIES = ["surge_queue_persisted_total", "surge_queue_batches_total",
                  "surge_queue_dead_letters_total", "surge_queue_claimed_total",
                  "surge_queue_errors_total", "surge_queue_lag_entries",
                  "surge_queue_pending_entries", "surge_queue_depth_entries",
                  "surge_queue_oldest_pending_age_ms"]


def test_worker_ops_port(stack):
    base = f"http://127.0.0.1:{stack.port('worker-0')}"
    assert requests.get(base + "/healthz", timeout=5).status_code == 200
    ready = requests.get(base + "/readyz", timeout=5)
    assert ready.status_code == 200
    names = {d["name"] for d in ready.json()["dependencies"]}
    assert {"database.primary", "queue", "queue.consumers", "cache.shard-0",
            "cache.shard-1"} <= names
    consumers = [d for d in ready.json()["dependencies"] if d["name"] == "queue.consumers"][0]
    # 2 streams x 2 shards x worker.consumers (2).
    assert consumers["state"] == "up" and consumers["running"] == consumers["consumers"] == 8
    assert consumers["required"] is True
    text = requests.get(base + "/metrics", timeout=5).text
    for family in QUEUE_FAMILIES:
        assert f"# TYPE {family} " in text, family
    for stream in ("rp:stream", "fs:stream"):
        for shard in ("0", "1"):
            assert f'surge_queue_depth_entries{{shard="{shard}",stream="{stream}"}}' in text


def test_queue_depth_and_lag_behind_the_load_balancer(uc, stack):
    # API.md §7: GET /metrics shows queue depth and consumer lag — on the app
    # servers too, not only on the worker's own port.
    rp = create_redpacket(uc["lb"], total=100, count=10)
    for user in range(301, 311):
        assert uc["lb"].post(f"{API}/redpackets/{rp['id']}/grab", user=user).status == 200
    for port in (stack.port("app-0"), stack.port("app-1")):
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        for family in QUEUE_FAMILIES[5:]:
            assert f"# TYPE {family} gauge" in text, (port, family)
        for stream in ("rp:stream", "fs:stream"):
            for shard in ("0", "1"):
                assert f'surge_queue_lag_entries{{shard="{shard}",stream="{stream}"}}' in text

    def drained():
        text = requests.get(stack.vars["SURGE_URL"] + "/metrics", timeout=5).text
        return all(line.endswith(" 0") for line in text.splitlines()
                   if line.startswith(("surge_queue_lag_entries{", "surge_queue_depth_entries{")))
    wait_until(drained, 30, "every grab persisted: lag and depth 0 through the load balancer")


def test_app_readyz_and_metrics_name_every_dependency(stack):
    # API.md §7: /readyz names each dependency (primary, replicas, each
    # cache shard, queue) with its state; /metrics has cache hits and misses
    # per tier and database and cache pool use.
    for app in ("app-0", "app-1"):
        base = f"http://127.0.0.1:{stack.port(app)}"
        r = requests.get(base + "/readyz", timeout=5)
        assert r.status_code == 200 and r.json()["status"] == "ready", r.text
        deps = {d["name"]: d for d in r.json()["dependencies"]}
        assert {"database.primary", "database.replica-0", "cache.shard-0", "cache.shard-1",
                "queue"} <= set(deps), deps
        assert all(d["state"] == "up" for d in deps.values()), deps
        live = requests.get(base + "/healthz", timeout=5)
        assert live.status_code == 200 and live.json()
        text = requests.get(base + "/metrics", timeout=5).text
        for family in ("surge_cache_hits_total", "surge_cache_misses_total",
                       "surge_pg_pool_in_use", "surge_redis_pool_connections"):
            assert f"# TYPE {family} " in text, (app, family)
        assert 'tier="l1"' in text and 'tier="l2"' in text


def test_streams_are_trimmed_once_acknowledged(uc, stack):
    rp = create_redpacket(uc["lb"], total=300, count=30)
    for user in range(101, 131):
        assert uc["lb"].post(f"{API}/redpackets/{rp['id']}/grab", user=user).status == 200
    shards = shard_clients(stack)

    def trimmed():
        for shard in shards:
            pending = shard.xpending("rp:stream", "persist")["pending"]
            # Everything acknowledged and trimmed but the last delivered entry.
            if pending != 0 or shard.xlen("rp:stream") > 1:
                return False
        return True
    wait_until(trimmed, 30, "rp:stream trimmed to its last delivered entry")


def test_a_second_worker_drains_and_exits_0_on_sigterm(stack, tmp_path):
    import json
    import os
    import signal
    import subprocess

    from ucenter_support import own_server_env
    from surge_http import free_port

    env = dict(os.environ)
    env.update(own_server_env(stack))
    port = free_port()
    env.update({"SURGE_WORKER_PORT": str(port), "SURGE_WORKER_CONSUMERS": "1"})
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen([stack.vars["SURGE_BIN"], "worker"], env=env, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    try:
        def up():
            try:
                return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except requests.RequestException:
                return False
        wait_until(up, 20, "the second worker ready")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    messages = [json.loads(line).get("msg") for line in (tmp_path / "worker.log").read_text()
                .splitlines() if line.startswith("{")]
    assert "worker ready" in messages and "worker stopped" in messages
