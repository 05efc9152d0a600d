"""DESIGN.md principle 4 for the user center: a dead cache shard or a dead
replica means slower reads, not errors. The shared stack is never touched:
each scenario runs a `surge serve` of its own, pointed at the stack's
database with a Redis shard or a replica address where nothing listens.
"""

from __future__ import annotations

import time

from ucenter_support import (API, Client, create_user, dead_address, metric_value, own_server_env,
                             unused_user_id, wait_subscribed)


def own_client(server, stack, **env) -> tuple[Client, object]:
    srv = server(**own_server_env(stack, **env))
    return Client(f"http://127.0.0.1:{srv.port}", stack.vars["SURGE_TOKEN_SECRET"],
                  stack.vars["SURGE_ADMIN_TOKEN"]), srv


def exercise_profile(client: Client, primary: str) -> None:
    uid, name = create_user(primary)
    for _ in range(3):
        me = client.get(API + "/me", user=uid)
        assert me.status == 200, me.body
        assert me.json["name"] == name
    pub = client.get(f"{API}/users/{uid}")
    assert pub.status == 200 and pub.json["id"] == uid
    assert client.get(f"{API}/users/{uid}", headers={"If-None-Match": pub.headers["ETag"]}).status == 304
    for i in range(3):
        r = client.patch(API + "/me", user=uid, body={"nickname": f"degraded-{i}"})
        assert r.status == 200, r.body
        assert client.get(API + "/me", user=uid).json["nickname"] == f"degraded-{i}"
        assert client.get(f"{API}/users/{uid}").json["nickname"] == f"degraded-{i}"
    assert client.get(f"{API}/users/{unused_user_id(primary)}").status == 404


def test_every_cache_shard_down_reads_from_the_database(server, stack, uc, primary):
    client, srv = own_client(server, stack,
                             SURGE_REDIS_SHARDS=f"{dead_address()},{dead_address()}")
    exercise_profile(client, primary)
    text = srv.metrics_text()
    # L2 errors were counted and degraded to the loader (no 5xx above).
    assert metric_value(text, "surge_cache_errors_total", cache="profile", tier="l2") > 0
    # The write marker was unreadable: loads went to the primary.
    assert metric_value(text, "surge_profile_primary_reads_total") > 0


def test_one_cache_shard_down_keeps_working(server, stack, uc, primary):
    live = stack.vars["SURGE_REDIS"].split(",")[0]
    client, _ = own_client(server, stack, SURGE_REDIS_SHARDS=f"{live},{dead_address()}")
    for _ in range(3):  # users land on both shards
        exercise_profile(client, primary)


def test_replica_down_reads_from_the_primary(server, stack, uc, primary):
    client, srv = own_client(server, stack,
                             SURGE_DATABASE_REPLICAS=f"postgresql://surge@{dead_address()}/surge")
    exercise_profile(client, primary)


def test_no_redis_at_all(server, stack, uc, primary):
    """Redis not configured: L1 + database only."""
    client, _ = own_client(server, stack, SURGE_REDIS_SHARDS="")
    exercise_profile(client, primary)


def test_own_server_and_stack_agree(server, stack, uc, primary):
    """A third server sharing the stack's Redis sees the stack's writes at
    once and vice versa (invalidation broadcast + shared write markers)."""
    client, srv = own_client(server, stack)
    wait_subscribed(srv, len(stack.vars["SURGE_REDIS"].split(",")))
    uid, _ = create_user(primary)
    lb = uc["lb"]
    assert client.get(API + "/me", user=uid).status == 200
    assert lb.get(API + "/me", user=uid).status == 200
    for i in range(10):
        assert lb.patch(API + "/me", user=uid, body={"nickname": f"lb-{i}"}).status == 200
        assert client.get(API + "/me", user=uid).json["nickname"] == f"lb-{i}"
        assert client.patch(API + "/me", user=uid, body={"nickname": f"own-{i}"}).status == 200
        assert lb.get(API + "/me", user=uid).json["nickname"] == f"own-{i}"


def test_primary_down_at_start_serves_and_is_not_ready(server, stack, uc, primary):
    """A server (re)started during a primary outage comes up: live, not
    ready (503 with Retry-After, naming the primary), and writes answer 503
    unavailable instead of the server staying down."""
    client, srv = own_client(server, stack,
                             SURGE_DATABASE_PRIMARY=f"postgresql://surge@{dead_address()}/surge")
    assert client.get("/healthz").status == 200
    # The replica is up once its first health check answered; the server
    # stays not ready throughout, the primary down.
    deadline = time.monotonic() + 15
    while True:
        ready = client.get("/readyz")
        assert ready.status == 503 and int(ready.headers["Retry-After"]) >= 1
        deps = {d["name"]: d for d in ready.json["dependencies"]}
        assert deps["database.primary"]["state"] == "down"
        if deps["database.replica-0"]["state"] == "up":
            break
        assert time.monotonic() < deadline, deps
        time.sleep(0.1)
    uid, _ = create_user(primary)
    r = client.post(API + "/signin", user=uid)
    assert r.status == 503 and r.error_code() == "unavailable", r.body
    assert int(r.headers["Retry-After"]) >= 1
