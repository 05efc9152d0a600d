"""Black-box tests of accounts (API.md §1–§2, §7): registration, login, user
tokens, login rate limiting, `surge token` and `surge seed`.

Runs against the session-wide `stack` (tests/conftest.py): the load balancer
at stack.url, PostgreSQL at SURGE_PG_PRIMARY, the binary and its config at
SURGE_BIN / SURGE_CONFIG. The stack is seeded with SURGE_TEST_SEED_USERS
users (default 2000). Every test uses fresh names (the stack is shared).


Run: /usr/bin/python3 -m pytest tests/users
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime
import hashlib
import hmac
import os
import random
import re
import string
import subprocess
import time
import uuid

import pytest

requests = pytest.importorskip("requests")
psycopg2 = pytest.importorskip("psycopg2")

from surge_cluster import query  # noqa: E402

TIMEOUT = 30  # argon2 on a loaded 2-core machine: generous on purpose
TOKEN_RE = re.compile(r"^([1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})\.([A-Za-z0-9_-]{43})$")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DEFAULT_TTL = 86400  # auth.token_ttl default; the cluster config keeps it

# Everything secret this module sends or receives, checked against the logs
# at the end (test_secrets_never_logged).
SECRETS_SEEN: set[str] = set()


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def fresh_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def fresh_password() -> str:
    pw = f"pw-{uuid.uuid4().hex}"
    SECRETS_SEEN.add(pw)
    return pw


def sign(secret: str, user_id: int, expires: int) -> str:
    payload = f"{user_id}.{expires}"
    mac = hmac.new(secret.encode("utf-8"), payload.encode(), hashlib.sha256).digest()
    return payload + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def assert_error(resp, status: int, code: str, field: str | None = None):
    assert resp.status_code == status, f"{resp.status_code} {resp.text}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    if field is not None:
        assert field in body["error"]["message"], body


def post(url: str, path: str, body=None, raw: bytes | None = None, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if raw is not None:
        return requests.post(url + path, data=raw, headers=h, timeout=TIMEOUT)
    return requests.post(url + path, json=body, headers=h, timeout=TIMEOUT)


def register(url: str, name: str, password: str):
    return post(url, "/api/v1/users", {"name": name, "password": password})


def login(url: str, name: str, password: str, headers=None):
    r = post(url, "/api/v1/sessions", {"name": name, "password": password}, headers=headers)
    if r.status_code == 200:
        SECRETS_SEEN.add(r.json()["token"])
    return r


def surge(stack, *args: str, env_extra: dict | None = None, timeout: float = 300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    env.update(env_extra or {})
    return subprocess.run([stack.vars["SURGE_BIN"], *args], env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def url(stack) -> str:
    return stack.url


@pytest.fixture(scope="module")
def seeded(stack) -> int:
    return int(os.environ.get("SURGE_TEST_SEED_USERS", "2000"))


@pytest.fixture(scope="module")
def routes(url):
    """The load balancer's URL, once the accounts routes answer."""
    r = post(url, "/api/v1/users", raw=b"{}")
    assert r.status_code == 400, f"POST /api/v1/users with an empty body: {r.status_code} {r.text}"
    return url


@pytest.fixture
def account(routes):
    """A freshly registered account: (name, password, id)."""
    name, password = fresh_name(), fresh_password()
    r = register(routes, name, password)
    assert r.status_code == 201, r.text
    return name, password, r.json()["id"]


# ---------------------------------------------------------------------------
# POST /api/v1/users
# ---------------------------------------------------------------------------

def test_register_returns_201_with_id_and_name(routes, seeded):
    name = fresh_name()
    r = register(routes, name, fresh_password())
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"id", "name"}, body
    assert body["name"] == name
    assert isinstance(body["id"], int) and body["id"] > seeded
    assert r.headers.get("Location") == f"/api/v1/users/{body['id']}"


def test_registration_ids_are_drawn_above_the_seeded_range(routes, stack, seeded):
    ids = []
    for _ in range(3):
        r = register(routes, fresh_name(), fresh_password())
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    assert all(i > seeded for i in ids), ids
    assert ids == sorted(ids) and len(set(ids)) == 3, ids
    # The seeded range itself is intact: user K has id K.
    rows = query(stack.vars["SURGE_PG_PRIMARY"],
                 "SELECT count(*) FROM users WHERE id BETWEEN 1 AND %s AND name = 'user' || id",
                 (seeded,))
    assert rows == [(seeded,)]


def test_stored_hash_is_argon2id(routes, stack):
    name = fresh_name()
    r = register(routes, name, fresh_password())
    assert r.status_code == 201, r.text
    [(h,)] = query(stack.vars["SURGE_PG_PRIMARY"], "SELECT password_hash FROM users WHERE name = %s",
                   (name,))
    assert h.startswith("$argon2id$v=19$m=65536,t=2,p=1$"), h


def test_duplicate_name_is_409_name_taken(account, routes):
    name, _, _ = account
    r = register(routes, name, fresh_password())
    assert_error(r, 409, "name_taken")


def test_seeded_name_is_taken(routes):
    assert_error(register(routes, "user1", fresh_password()), 409, "name_taken")


def test_concurrent_registrations_of_one_name_create_one_account(routes, stack):
    name = fresh_name()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: register(routes, name, fresh_password()), range(4)))
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) == 1, [(r.status_code, r.text) for r in results]
    for r in results:
        if r.status_code != 201:
            assert_error(r, 409, "name_taken")
    rows = query(stack.vars["SURGE_PG_PRIMARY"], "SELECT count(*) FROM users WHERE name = %s", (name,))
    assert rows == [(1,)]


def test_names_are_case_sensitive(routes):
    base = fresh_name("c")
    assert register(routes, base, fresh_password()).status_code == 201
    assert register(routes, base.upper(), fresh_password()).status_code == 201


NAME_ALPHABET = string.ascii_letters + string.digits + "_"


@pytest.mark.parametrize("length", [3, 4, 17, 31, 32])
def test_register_accepts_valid_names(routes, length):
    rng = random.Random()
    name = "".join(rng.choice(NAME_ALPHABET) for _ in range(length))
    r = register(routes, name, fresh_password())
    if r.status_code == 409 and length <= 4:
        # A short random name may exist already (shared stack): try once more.
        name = "".join(rng.choice(NAME_ALPHABET) for _ in range(length))
        r = register(routes, name, fresh_password())
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name


@pytest.mark.parametrize("password", [
    "8chars!!",                      # exactly 8
    "p\u00e4ssw\u00f6rt",            # 8 code points, 10 UTF-8 bytes
    "x" * 128,                       # exactly 128
    "\U0001F600" * 128,              # 128 code points, 512 bytes
    "        ",                      # spaces are characters
])
def test_register_accepts_password_lengths_in_code_points(routes, password):
    name = fresh_name()
    if password.strip():
        SECRETS_SEEN.add(password)
    r = register(routes, name, password)
    assert r.status_code == 201, r.text
    # And the same password logs in.
    r = login(routes, name, password)
    assert r.status_code == 200, r.text


BAD_REGISTRATIONS = [
    # (body, field named in the message)
    ({"password": "password123"}, "name"),
    ({"name": "validname"}, "password"),
    ({}, "name"),
    ({"name": None, "password": "password123"}, "name"),
    ({"name": 123, "password": "password123"}, "name"),
    ({"name": ["abc"], "password": "password123"}, "name"),
    ({"name": {"a": 1}, "password": "password123"}, "name"),
    ({"name": True, "password": "password123"}, "name"),
    ({"name": "VALIDNAME", "password": 12345678}, "password"),
    ({"name": "VALIDNAME", "password": None}, "password"),
    ({"name": "VALIDNAME", "password": ["password123"]}, "password"),
    ({"name": "", "password": "password123"}, "name"),
    ({"name": "ab", "password": "password123"}, "name"),
    ({"name": "x" * 33, "password": "password123"}, "name"),
    ({"name": "has-dash", "password": "password123"}, "name"),
    ({"name": "has space", "password": "password123"}, "name"),
    ({"name": "dot.name", "password": "password123"}, "name"),
    ({"name": "n\u00e4me", "password": "password123"}, "name"),
    ({"name": "name\n", "password": "password123"}, "name"),
    ({"name": "VALIDNAME", "password": ""}, "password"),
    ({"name": "VALIDNAME", "password": "1234567"}, "password"),
    ({"name": "VALIDNAME", "password": "\u00e4" * 7}, "password"),  # 14 bytes, 7 characters
    ({"name": "VALIDNAME", "password": "x" * 129}, "password"),
    ({"name": "VALIDNAME", "password": "\U0001F600" * 129}, "password"),
]


@pytest.mark.parametrize("body,field", BAD_REGISTRATIONS)
def test_register_400_names_the_field(routes, body, field):
    assert_error(post(routes, "/api/v1/users", body), 400, "invalid_request", field)


@pytest.mark.parametrize("raw", [
    b"", b"{", b"not json", b"[]", b'"name"', b"null", b'{"name":"abc","password":"password1"',
    b'{"name":"abc",}', b"\xff\xfe",
    b'{"name":"abc\xff","password":"password123"}',  # invalid UTF-8 inside a string
])
def test_register_malformed_json_is_400(routes, raw):
    assert_error(post(routes, "/api/v1/users", raw=raw), 400, "invalid_request")


def test_sessions_wrong_method_is_405(routes):
    r = requests.get(routes + "/api/v1/sessions", timeout=TIMEOUT)
    assert_error(r, 405, "method_not_allowed")


# ---------------------------------------------------------------------------
# POST /api/v1/sessions
# ---------------------------------------------------------------------------

def test_login_returns_token_user_id_and_expiry(account, routes, stack):
    name, password, user_id = account
    before = int(time.time())
    r = login(routes, name, password)
    after = int(time.time())
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token", "user_id", "expires_at"}, body
    assert body["user_id"] == user_id
    m = TOKEN_RE.match(body["token"])
    assert m, body["token"]
    assert int(m.group(1)) == user_id
    expires = int(m.group(2))
    assert before + DEFAULT_TTL - 5 <= expires <= after + DEFAULT_TTL + 5
    # expires_at is the same instant, RFC 3339 UTC.
    assert RFC3339_UTC.match(body["expires_at"]), body
    parsed = datetime.datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert int(parsed.replace(tzinfo=datetime.timezone.utc).timestamp()) == expires
    # The signature is HMAC-SHA256 with the configured secret (API.md §1).
    assert body["token"] == sign(stack.vars["SURGE_TOKEN_SECRET"], user_id, expires)
    assert r.headers.get("Cache-Control") == "no-store"


def test_login_token_works_on_a_protected_route(account, routes):
    name, password, user_id = account
    token = login(routes, name, password).json()["token"]
    r = requests.get(routes + "/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                     timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == user_id
    # The same route refuses a token with a broken signature and an expired one.
    bad = token[:-1] + ("A" if token[-1] != "A" else "B")
    r = requests.get(routes + "/api/v1/me", headers={"Authorization": f"Bearer {bad}"},
                     timeout=TIMEOUT)
    assert_error(r, 401, "unauthorized")


def test_seeded_user_logs_in_with_the_demo_password(routes, seeded):
    for k in sorted({1, seeded}):
        r = login(routes, f"user{k}", "surge-demo")
        assert r.status_code == 200, r.text
        assert r.json()["user_id"] == k


def test_wrong_password_is_401_invalid_credentials(account, routes):
    name, password, _ = account
    assert_error(login(routes, name, password + "x"), 401, "invalid_credentials")


def test_unknown_name_answers_like_a_wrong_password(account, routes):
    name, password, _ = account
    wrong = login(routes, name, "not-the-password")
    unknown = login(routes, fresh_name("nobody"), "not-the-password")
    assert_error(wrong, 401, "invalid_credentials")
    assert_error(unknown, 401, "invalid_credentials")
    assert wrong.json() == unknown.json()


def test_unknown_name_costs_a_password_verification(account, routes):
    # Without the dummy verification an unknown name would answer in about a
    # millisecond and a known one in about 0.2 s (argon2): an account probe.
    name, _, _ = account

    def timed(n):
        start = time.monotonic()
        r = login(routes, n, "not-the-password")
        assert r.status_code == 401, r.text
        return time.monotonic() - start

    known = min(timed(name) for _ in range(2))
    unknown = min(timed(fresh_name("nobody")) for _ in range(2))
    assert unknown > 0.4 * known, (known, unknown)


@pytest.mark.parametrize("name,password", [
    ("ab", "password123"),          # no such name can exist
    ("has-dash", "password123"),
    ("validname", "short"),         # no such password can exist
    ("validname", "x" * 129),
])
def test_impossible_credentials_are_401(routes, name, password):
    assert_error(login(routes, name, password), 401, "invalid_credentials")


@pytest.mark.parametrize("body,field", [
    ({"password": "password123"}, "name"),
    ({"name": "validname"}, "password"),
    ({"name": 5, "password": "password123"}, "name"),
    ({"name": "validname", "password": 12345678}, "password"),
])
def test_login_400_names_the_field(routes, body, field):
    assert_error(post(routes, "/api/v1/sessions", body), 400, "invalid_request", field)


@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b'{"name":"a"'])
def test_login_malformed_json_is_400(routes, raw):
    assert_error(post(routes, "/api/v1/sessions", raw=raw), 400, "invalid_request")


# ---------------------------------------------------------------------------
# Login rate limiting (defaults: 10 failed attempts per name, 50 per address,
# per minute)
# ---------------------------------------------------------------------------

def start_of_a_window(window: int = 60, need: float = 20.0) -> None:
    """Limits count per fixed window (aligned to the epoch): a test that
    needs one window for its attempts starts early enough in one."""
    left = window - time.time() % window
    if left < need:
        time.sleep(left + 0.25)


def test_failed_logins_per_name_are_limited(stack, account):
    # Straight to one app server with an address of our own, so that only
    # the per-name limit can trip (the load balancer's 127.0.0.1 budget is
    # shared with every other test).
    app = f"http://127.0.0.1:{stack.port('app-0')}"
    headers = {"X-Real-IP": f"203.0.113.{uuid.uuid4().int % 250 + 1}"}
    name, password, _ = account
    start_of_a_window()
    for i in range(10):
        r = login(app, name, f"wrong-{i}-password", headers=headers)
        assert_error(r, 401, "invalid_credentials")
    r = login(app, name, "wrong-again-password", headers=headers)
    assert_error(r, 429, "rate_limited")
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 61, retry
    # The right password waits too, from any address: the account is under attack.
    assert_error(login(app, name, password, headers=headers), 429, "rate_limited")
    assert_error(login(app, name, password, headers={"X-Real-IP": "198.51.100.77"}), 429,
                 "rate_limited")


def test_successful_logins_do_not_use_up_the_limit(account, routes):
    name, password, _ = account
    for _ in range(12):
        r = login(routes, name, password)
        assert r.status_code == 200, r.text


def test_failed_logins_per_address_are_limited(stack, account):
    # Straight to one app server, which trusts X-Real-IP (normally set by the
    # load balancer): a documentation-range address of our own, so other
    # tests behind the load balancer (127.0.0.1) keep their budget.
    app = f"http://127.0.0.1:{stack.port('app-0')}"
    address = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    headers = {"X-Real-IP": address}
    start_of_a_window()
    # Impossible passwords fail without argon2, so this is quick; each name
    # is fresh, so only the address limit can trip.
    for i in range(50):
        r = login(app, fresh_name("probe"), "short", headers=headers)
        assert_error(r, 401, "invalid_credentials")
    r = login(app, fresh_name("probe"), "short", headers=headers)
    assert_error(r, 429, "rate_limited")
    assert 1 <= int(r.headers["Retry-After"]) <= 61
    # Even a correct login from that address waits; another address does not.
    name, password, _ = account
    assert_error(login(app, name, password, headers=headers), 429, "rate_limited")
    r = login(app, name, password, headers={"X-Real-IP": "198.51.100.9"})
    assert r.status_code == 200, r.text


def test_login_fails_open_when_redis_is_down(stack, server, account):
    # A server of our own whose only Redis shard is a closed port: the
    # limiter cannot count, and logins go on (fail open), counted in a metric.
    from surge_http import free_port
    srv = server(SURGE_DATABASE_PRIMARY=stack.vars["SURGE_PG_PRIMARY"],
                 SURGE_REDIS_SHARDS=f"127.0.0.1:{free_port()}",
                 SURGE_AUTH_TOKEN_SECRET=stack.vars["SURGE_TOKEN_SECRET"],
                 SURGE_AUTH_ADMIN_TOKEN=stack.vars["SURGE_ADMIN_TOKEN"])
    base = f"http://127.0.0.1:{srv.port}"
    name, password, user_id = account
    for _ in range(3):
        assert_error(login(base, name, "wrong-password"), 401, "invalid_credentials")
    r = login(base, name, password)
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == user_id
    metrics = requests.get(base + "/metrics", timeout=TIMEOUT).text
    m = re.search(r"^surge_users_login_limit_errors_total (\d+)", metrics, re.M)
    assert m and int(m.group(1)) >= 1, metrics[-2000:]
    assert srv.has_log("login rate limit unavailable, failing open")


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------

def test_metrics_count_registrations_and_logins(account, routes):
    text = requests.get(routes + "/metrics", timeout=TIMEOUT).text
    for series in ['surge_users_registrations_total{result="created"}',
                   'surge_users_logins_total{result="ok"}',
                   'surge_users_password_seconds_count{op="hash"}',
                   "surge_users_password_jobs"]:
        assert series in text, series


# ---------------------------------------------------------------------------
# surge token
# ---------------------------------------------------------------------------

def test_surge_token_prints_verifiable_tokens(stack):
    secret = stack.vars["SURGE_TOKEN_SECRET"]
    now = int(time.time())
    p = surge(stack, "token", "--config", stack.vars["SURGE_CONFIG"], "--users", "7-11", "--ttl", "600")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert [int(line.split(" ")[0]) for line in lines] == [7, 8, 9, 10, 11]
    for line in lines:
        user_id, token = line.split(" ")
        SECRETS_SEEN.add(token)
        m = TOKEN_RE.match(token)
        assert m and int(m.group(1)) == int(user_id), line
        expires = int(m.group(2))
        assert now + 600 - 5 <= expires <= now + 600 + 60
        assert token == sign(secret, int(user_id), expires)
    assert secret not in p.stdout + p.stderr


def test_surge_token_default_ttl_and_single_user(stack):
    now = int(time.time())
    p = surge(stack, "token", "--config", stack.vars["SURGE_CONFIG"], "--users", "3")
    assert p.returncode == 0, p.stderr
    [line] = p.stdout.splitlines()
    user_id, token = line.split(" ")
    SECRETS_SEEN.add(token)
    assert user_id == "3"
    expires = int(token.split(".")[1])
    assert now + DEFAULT_TTL - 5 <= expires <= now + DEFAULT_TTL + 60


def test_surge_token_works_on_a_protected_route(stack, routes):
    p = surge(stack, "token", "--config", stack.vars["SURGE_CONFIG"], "--users", "1")
    token = p.stdout.split()[1]
    SECRETS_SEEN.add(token)
    r = requests.get(routes + "/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                     timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["id"] == 1, r.text


@pytest.mark.parametrize("args,env,message", [
    (["--users", "1-3"], {}, "token_secret"),
    (["--users", "5-1"], {"SURGE_AUTH_TOKEN_SECRET": "k"}, "--users"),
    (["--users", "0-3"], {"SURGE_AUTH_TOKEN_SECRET": "k"}, "--users"),
    (["--users", "a-b"], {"SURGE_AUTH_TOKEN_SECRET": "k"}, "--users"),
    ([], {"SURGE_AUTH_TOKEN_SECRET": "k"}, "--users"),
    (["--users", "1-2", "--ttl", "0"], {"SURGE_AUTH_TOKEN_SECRET": "k"}, "--ttl"),
])
def test_surge_token_usage_errors(stack, args, env, message):
    p = surge(stack, "token", *args, env_extra=env)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert message in p.stderr
    assert p.stdout == ""


# ---------------------------------------------------------------------------
# surge seed
# ---------------------------------------------------------------------------

def test_seed_is_idempotent(stack, seeded):
    pg = stack.vars["SURGE_PG_PRIMARY"]
    [(before,)] = query(pg, "SELECT count(*) FROM users WHERE id <= %s", (seeded,))
    [(products_before,)] = query(pg, "SELECT count(*) FROM products")
    p = surge(stack, "seed", "--config", stack.vars["SURGE_CONFIG"], "--users", str(seeded))
    assert p.returncode == 0, p.stderr
    assert f"seeded {seeded} users (0 new" in p.stdout, p.stdout
    # A progress line on stderr.
    assert re.search(rf"seed: users {seeded}/{seeded}", p.stderr), p.stderr
    assert query(pg, "SELECT count(*) FROM users WHERE id <= %s", (seeded,)) == [(before,)]
    assert before == seeded
    assert query(pg, "SELECT count(*) FROM products") == [(products_before,)]
    assert products_before >= 1
    # Every seeded user shares the one hash of "surge-demo".
    assert query(pg, "SELECT count(DISTINCT password_hash) FROM users WHERE id <= %s",
                 (seeded,)) == [(1,)]


def test_registration_after_reseeding_draws_above_the_range(stack, routes, seeded):
    p = surge(stack, "seed", "--config", stack.vars["SURGE_CONFIG"], "--users", str(seeded))
    assert p.returncode == 0, p.stderr
    r = register(routes, fresh_name(), fresh_password())
    assert r.status_code == 201, r.text
    assert r.json()["id"] > seeded


def test_seed_over_a_registered_account_is_a_clear_error(stack, account):
    _, _, user_id = account
    pg = stack.vars["SURGE_PG_PRIMARY"]
    [(count_before,)] = query(pg, "SELECT count(*) FROM users")
    p = surge(stack, "seed", "--config", stack.vars["SURGE_CONFIG"], "--users", str(user_id))
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    # Names an id of the range held by a registered account (the lowest one).
    [(first,)] = query(pg, "SELECT min(id) FROM users WHERE name <> 'user' || id")
    assert f"user id {first} " in p.stderr, p.stderr
    # Nothing was inserted.
    assert query(pg, "SELECT count(*) FROM users WHERE name = %s", (f"user{user_id}",)) == [(0,)]
    assert query(pg, "SELECT count(*) FROM users")[0][0] >= count_before


def test_seed_usage_errors(stack):
    p = surge(stack, "seed", "--config", stack.vars["SURGE_CONFIG"])
    assert p.returncode == 2 and "--users" in p.stderr, p.stderr
    p = surge(stack, "seed", "--users", "5")  # no database configured
    assert p.returncode == 2 and "database.primary" in p.stderr, p.stderr


# ---------------------------------------------------------------------------
# Last: nothing secret reached the logs of any component.
# ---------------------------------------------------------------------------

def test_secrets_never_logged(stack):
    secrets = {stack.vars["SURGE_TOKEN_SECRET"], stack.vars["SURGE_ADMIN_TOKEN"], "surge-demo"}
    secrets |= {s for s in SECRETS_SEEN if len(s) >= 8}
    logs = sorted((stack.var / "log").glob("*.log"))
    assert logs
    for log in logs:
        if log.name.startswith("lb-access"):
            continue  # nginx's access log: request lines only, no bodies
        text = log.read_text(errors="replace")
        for s in secrets:
            assert s not in text, f"a secret ({s[:4]}...) appears in {log.name}"
