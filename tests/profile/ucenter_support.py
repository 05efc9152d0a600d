"""Helpers for the user-center and sign-in black-box tests (tests/profile,
tests/signin): tokens per API.md §1, users inserted straight into the
stack's primary, a small JSON client, and `surge serve` processes of our own
pointed at the stack's database and Redis (for degradation scenarios, which
MUST NOT touch the shared stack's components).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Optional

import psycopg2
import pytest
import requests

API = "/api/v1"


def mint_token(secret: str, user_id: int, ttl: int = 3600, expires: Optional[int] = None) -> str:
    """`<user_id>.<expires_unix>.<sig>`, sig = base64url(HMAC-SHA256(secret, "<id>.<exp>"))."""
    exp = int(time.time()) + ttl if expires is None else expires
    msg = f"{user_id}.{exp}".encode()
    sig = hmac.new(secret.encode(), msg, hashlib.sha256).digest()
    return f"{user_id}.{exp}." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def pg_connect(uri: str):
    conn = psycopg2.connect(uri, connect_timeout=5)
    conn.autocommit = True
    return conn


def sql(uri: str, statement: str, args=()) -> list[tuple]:
    conn = pg_connect(uri)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


# Replicas of the stack (set by the `uc` fixtures): rows the tests write
# straight into the primary bypass the application's read-your-writes
# markers, so the tests wait until the replicas have them — as for data that
# has been there for a while.
REPLICAS: list[str] = []


def wait_replicas(primary: str, timeout: float = 15.0) -> None:
    (lsn,), = sql(primary, "SELECT pg_current_wal_lsn()::text")
    for replica in REPLICAS:
        deadline = time.monotonic() + timeout
        while True:
            (done,), = sql(replica, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))
            if done:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"replica {replica} did not replay {lsn} in {timeout}s")
            time.sleep(0.01)


def create_user(primary: str, prefix: str = "uc") -> tuple[int, str]:
    """A fresh user (id from the sequence, so above any seeded range), already
    replayed by the replicas."""
    name = f"{prefix}_{uuid.uuid4().hex[:20]}"
    rows = sql(primary, "INSERT INTO users (name, password_hash) VALUES (%s, 'test-only') RETURNING id",
               (name,))
    wait_replicas(primary)
    return rows[0][0], name


def wait_subscribed(srv, shards: int) -> None:
    """Until `srv` (a conftest SurgeServer) has subscribed to the invalidation
    channel on every shard: broadcasts sent before that are lost to it."""
    deadline = time.monotonic() + 15.0
    while sum(1 for rec in srv.log_records() if rec.get("msg") == "redis subscriber connected") < shards:
        if time.monotonic() > deadline:
            raise AssertionError("own server did not subscribe on every shard")
        time.sleep(0.02)


def unused_user_id(primary: str) -> int:
    """An id no user has (far above the sequence)."""
    (top,), = sql(primary, "SELECT COALESCE(max(id), 0) FROM users")
    return top + 10_000_000


@dataclass
class Reply:
    status: int
    headers: requests.structures.CaseInsensitiveDict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)

    def error_code(self) -> Optional[str]:
        try:
            return self.json["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None

    def error_message(self) -> str:
        try:
            return self.json["error"]["message"]
        except (ValueError, KeyError, TypeError):
            return ""


class Client:
    """JSON over HTTP against one base URL (the load balancer or one app)."""

    def __init__(self, base: str, secret: str = "", admin_token: str = ""):
        self.base = base.rstrip("/")
        self.secret = secret
        self.admin_token = admin_token
        self.session = requests.Session()

    def token(self, user_id: int) -> str:
        return mint_token(self.secret, user_id)

    def call(self, method: str, path: str, *, user: Optional[int] = None, token: Optional[str] = None,
             admin: bool = False, body=None, raw: Optional[bytes] = None, headers=None) -> Reply:
        h = dict(headers or {})
        if user is not None:
            token = self.token(user)
        if admin:
            token = self.admin_token
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
        elif raw is not None:
            data = raw
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        r = self.session.request(method, self.base + path, data=data, headers=h, timeout=15)
        return Reply(r.status_code, r.headers, r.content)

    def get(self, path: str, **kw) -> Reply:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw) -> Reply:
        return self.call("POST", path, **kw)

    def patch(self, path: str, **kw) -> Reply:
        return self.call("PATCH", path, **kw)


def routes_served(base: str) -> bool:
    """Whether the server behind `base` has the user-center routes: a known
    route without a token answers 401, an unknown one 404."""
    try:
        r = requests.get(base.rstrip("/") + API + "/signin", timeout=10)
    except requests.RequestException:
        return False
    return r.status_code == 401


def stack_clients(stack) -> dict[str, Client]:
    """Clients for the load balancer and each app server of the stack."""
    secret = stack.vars["SURGE_TOKEN_SECRET"]
    admin = stack.vars["SURGE_ADMIN_TOKEN"]
    out = {"lb": Client(stack.url, secret, admin)}
    for app in ("app-0", "app-1"):
        out[app] = Client(f"http://127.0.0.1:{stack.port(app)}", secret, admin)
    return out


def require_routes(stack) -> None:
    REPLICAS[:] = [u for u in stack.vars.get("SURGE_PG_REPLICA", "").split(",") if u]
    assert routes_served(stack.url), "the stack's surge does not serve the user-center routes"


def dead_address() -> str:
    """host:port where nothing listens (a port that was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def own_server_env(stack, **overrides) -> dict:
    """Settings for `server(**env)` (tests/conftest.py): the stack's database,
    Redis and secrets, then the overrides (SURGE_... names)."""
    env = {
        "SURGE_DATABASE_PRIMARY": stack.vars["SURGE_PG_PRIMARY"],
        "SURGE_DATABASE_REPLICAS": stack.vars["SURGE_PG_REPLICA"],
        "SURGE_REDIS_SHARDS": stack.vars["SURGE_REDIS"],
        "SURGE_AUTH_TOKEN_SECRET": stack.vars["SURGE_TOKEN_SECRET"],
        "SURGE_AUTH_ADMIN_TOKEN": stack.vars["SURGE_ADMIN_TOKEN"],
        "SURGE_SERVER_ACCESS_LOG": "false",
    }
    env.update(overrides)
    return env


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        rest = line[len(name):]
        if rest and rest[0] not in "{ ":
            continue
        label_text = ""
        if rest.startswith("{"):
            label_text, _, rest = rest[1:].partition("}")
        got = {}
        for part in label_text.split(","):
            if "=" in part:
                k, _, v = part.partition("=")
                got[k.strip()] = v.strip().strip('"')
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(rest.split()[0])
    return total
