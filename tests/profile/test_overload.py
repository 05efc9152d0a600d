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
