"""DESIGN.md principle 4: overload answers 503 (with Retry-After) quickly
instead of queueing forever. Password hashing (argon2id) is the one
CPU-bound step of the API; its queue is bounded by users.hash_max_pending."""

from __future__ import annotations

import concurrent.futures
import time
import uuid

from ucenter_support import API, Client, own_server_env, sql


def test_registrations_beyond_the_hash_queue_get_503_at_once(server, stack, uc, primary):
    srv = server(**own_server_env(stack, SURGE_USERS_HASH_THREADS="1",
                                  SURGE_USERS_HASH_MAX_PENDING="2"))
    client = Client(f"http://127.0.0.1:{srv.port}", stack.vars["SURGE_TOKEN_SECRET"],
                    stack.vars["SURGE_ADMIN_TOKEN"])
    names = [f"ovl_{uuid.uuid4().hex[:12]}" for _ in range(40)]

    def register(name):
        started = time.monotonic()
        r = client.post(API + "/users", body={"name": name, "password": "overload-pass"})
        return name, r, time.monotonic() - started
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(register, names))
    created = [n for n, r, _ in results if r.status == 201]
    refused = [(r, took) for _, r, took in results if r.status != 201]
    assert created, "no registration went through"
    assert refused, "40 concurrent registrations never exceeded a queue of 2"
    for r, took in refused:
        assert r.status == 503 and r.error_code() == "unavailable", (r.status, r.body)
        assert int(r.headers["Retry-After"]) >= 1
        assert took < 2.0, f"a refusal took {took:.2f}s: it queued"
    # Exactly the accepted ones exist.
    rows = sql(primary, "SELECT name FROM users WHERE name = ANY(%s)", (names,))
    assert sorted(n for (n,) in rows) == sorted(created)


def test_logins_refused_for_overload_do_not_count_against_the_address(server, stack, uc,
                                                                       primary):
    # Login attempts are counted per client address before the password is
    # checked, and refunded when it matched. A login refused with 503 (hash
    # queue full) checked nothing: it must be refunded too, or a burst of
    # good logins from one office leaves its address throttled.
    per_address = 20
    srv = server(**own_server_env(stack, SURGE_USERS_HASH_THREADS="1",
                                  SURGE_USERS_HASH_MAX_PENDING="2",
                                  SURGE_USERS_LOGIN_LIMIT_PER_ADDRESS=str(per_address),
                                  SURGE_USERS_LOGIN_LIMIT_WINDOW_S="3600"))
    client = Client(f"http://127.0.0.1:{srv.port}", stack.vars["SURGE_TOKEN_SECRET"],
                    stack.vars["SURGE_ADMIN_TOKEN"])
    address = {"X-Real-IP": f"198.51.100.{uuid.uuid4().int % 250 + 1}"}
    # Nine logins per name (the per-name limit is 10), 18 from the address.
    names = [f"burst_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    for name in names:
        r = client.post(API + "/users", body={"name": name, "password": "burst-pass"})
        assert r.status == 201, r.body

    def login(name):
        return client.post(API + "/sessions", body={"name": name, "password": "burst-pass"},
                           headers=address)
    with concurrent.futures.ThreadPoolExecutor(18) as pool:
        burst = list(pool.map(login, names * 9))
    assert {r.status for r in burst} == {200, 503}, [r.status for r in burst]
    # The burst left nothing counted: a full window of failures is still
    # answered 401 (per name, the limit is 10: use other names).
    for i in range(per_address):
        r = client.post(API + "/sessions", body={"name": f"ghost_{i}_{names[0]}"[:32],
                                                 "password": "wrong-pass"}, headers=address)
        assert r.status == 401, (i, r.status, r.body)
    r = client.post(API + "/sessions", body={"name": names[1], "password": "burst-pass"},
                    headers=address)
    assert r.status == 429 and r.error_code() == "rate_limited", (r.status, r.body)
