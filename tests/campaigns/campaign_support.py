"""Helpers of the campaign tests: creating campaigns, storms of concurrent
requests (threads, one keep-alive connection each, a barrier per user so
that a user's requests really race), stream access."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import threading
import time
from typing import Callable, Optional
from urllib.parse import urlparse

import redis

from ucenter_support import API, mint_token, sql


class Retrying:
    """A ucenter_support.Client that retries 503s (Retry-After, capped at 1 s),
    as the API asks clients to: on this shared 2-core box a Redis command
    can time out under other people's load, and a 503 is then the correct
    answer. Grabs are idempotent by nature; flash-sale orders need an
    Idempotency-Key to be retried safely (the callers send one)."""

    def __init__(self, client, attempts: int = 20):
        self.client = client
        self.attempts = attempts

    def call(self, method: str, path: str, **kw):
        for _ in range(self.attempts - 1):
            r = self.client.call(method, path, **kw)
            if r.status != 503:
                return r
            time.sleep(min(1.0, float(r.headers.get("Retry-After", "1"))))
        return self.client.call(method, path, **kw)

    def get(self, path: str, **kw):
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw):
        return self.call("POST", path, **kw)


def rfc3339(seconds_from_now: float) -> str:
    t = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def create_redpacket(client, total: int, count: int, starts_in: float = -1,
                     lasts: float = 600) -> dict:
    r = client.post(API + "/admin/redpackets", admin=True,
                    body={"total_cents": total, "count": count,
                          "starts_at": rfc3339(starts_in), "ends_at": rfc3339(starts_in + lasts)})
    assert r.status == 201, (r.status, r.body)
    return r.json


def create_product(primary: str, price: int = 1999) -> int:
    (pid,), = sql(primary, "INSERT INTO products (name, price_cents, stock) VALUES (%s, %s, 0) "
                           "RETURNING id", (f"flash-{time.time_ns()}", price))
    return pid


def create_flashsale(client, product_id: int, stock: int, limit: int, price: int = 990,
                     starts_in: float = -1, lasts: float = 600) -> dict:
    r = client.post(API + "/admin/flashsales", admin=True,
                    body={"product_id": product_id, "stock": stock, "price_cents": price,
                          "per_user_limit": limit, "starts_at": rfc3339(starts_in),
                          "ends_at": rfc3339(starts_in + lasts)})
    assert r.status == 201, (r.status, r.body)
    return r.json


class Storm:
    """`per_user` concurrent POSTs for each user, spread over `threads`
    groups of `per_user` threads. Returns {user: [(status, body), ...]}."""

    def __init__(self, base_url: str, secret: str, path: str, users: list[int], per_user: int = 2,
                 groups: int = 60, body: Optional[dict] = None,
                 on_progress: Optional[Callable[[int], None]] = None, retry_503: int = 20):
        self.url = urlparse(base_url)
        self.secret = secret
        self.path = path
        self.users = users
        self.per_user = per_user
        self.groups = groups
        self.body = json.dumps(body).encode() if body is not None else b""
        self.results: dict[int, list[tuple[int, dict]]] = {u: [] for u in users}
        self.lock = threading.Lock()
        self.done = 0
        self.on_progress = on_progress
        self.errors: list[str] = []
        self.retry_503 = retry_503
        self.retried_503 = 0

    def _post(self, conn_box: list, token: str, key: str) -> tuple[int, dict]:
        """One request; retried on a connection error and on 503 (with the
        same Idempotency-Key, so a retried flash-sale order reserves once)."""
        failures = 0
        unavailable = 0
        while True:
            conn = conn_box[0]
            try:
                conn.request("POST", self.path, body=self.body,
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/json",
                                      "Idempotency-Key": key})
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                conn_box[0] = http.client.HTTPConnection(self.url.hostname, self.url.port,
                                                         timeout=30)
                failures += 1
                if failures == 3:
                    raise
                continue
            body = json.loads(data) if data else {}
            if resp.status == 503 and unavailable < self.retry_503:
                unavailable += 1
                with self.lock:
                    self.retried_503 += 1
                time.sleep(min(1.0, float(resp.getheader("Retry-After", "1"))))
                continue
            return resp.status, body

    def _run(self, group: int, member: int, barrier: threading.Barrier) -> None:
        box = [http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)]
        try:
            for i in range(group, len(self.users), self.groups):
                user = self.users[i]
                token = mint_token(self.secret, user)
                barrier.wait()
                try:
                    status, body = self._post(box, token, f"storm-{user}-{member}")
                except Exception as e:  # noqa: BLE001 - recorded, the storm goes on
                    status, body = -1, {"exception": repr(e)}
                with self.lock:
                    self.results[user].append((status, body))
                    self.done += 1
                    done = self.done
                if self.on_progress and member == 0:
                    self.on_progress(done)
        except threading.BrokenBarrierError:
            pass
        finally:
            box[0].close()

    def run(self) -> dict[int, list[tuple[int, dict]]]:
        threads = []
        for g in range(self.groups):
            barrier = threading.Barrier(self.per_user, timeout=60)
            for m in range(self.per_user):
                threads.append(threading.Thread(target=self._run, args=(g, m, barrier), daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        return self.results


def shard_clients(stack) -> list[redis.Redis]:
    out = []
    for address in stack.vars["SURGE_REDIS"].split(","):
        host, port = address.rsplit(":", 1)
        out.append(redis.Redis(host=host, port=int(port), decode_responses=True))
    return out


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
