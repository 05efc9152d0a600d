"""User center black-box tests (API.md §1, §2, §7): GET/PATCH /api/v1/me,
GET /api/v1/users/{id}, the admin cache invalidation, through the shared
stack's load balancer and each of its app servers.

Run: SURGE_BIN=<surge with the routes wired> /usr/bin/python3 -m pytest tests/profile
"""

from __future__ import annotations

import re
import uuid

import pytest

import redis

from ucenter_support import API, create_user, metric_value, mint_token, sql, unused_user_id

PRIVATE_FIELDS = {"id", "name", "nickname", "avatar_url", "total_points", "level", "created_at"}
PUBLIC_FIELDS = {"id", "name", "nickname", "avatar_url", "level"}
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def assert_error(reply, status: int, code: str, field: str | None = None):
    assert reply.status == status, (reply.status, reply.body)
    assert reply.headers.get("Content-Type", "").startswith("application/json")
    assert reply.error_code() == code, reply.body
    if field is not None:
        assert reply.error_message().startswith(field + ":"), reply.body


# ---------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------

def test_me_needs_a_valid_user_token(uc, primary, stack):
    lb = uc["lb"]
    uid, _ = create_user(primary)
    secret = stack.vars["SURGE_TOKEN_SECRET"]
    bad_tokens = [
        "garbage",
        f"{uid}.9999999999.AAAA",                                   # bad signature
        mint_token(secret, uid, expires=1),                        # expired
        mint_token("another-secret", uid),                         # other secret
        mint_token(secret, uid)[:-2],                              # truncated
        stack.vars["SURGE_ADMIN_TOKEN"],                           # admin token is no user token
    ]
    for method in ("GET", "PATCH"):
        assert_error(lb.call(method, API + "/me", body={} if method == "PATCH" else None),
                     401, "unauthorized")
        for token in bad_tokens:
            assert_error(lb.call(method, API + "/me", token=token,
                                 body={} if method == "PATCH" else None), 401, "unauthorized")
    assert lb.get(API + "/me", user=uid).status == 200


# ---------------------------------------------------------------------------
# GET /api/v1/me and /api/v1/users/{id}
# ---------------------------------------------------------------------------

def test_me_returns_the_profile_with_an_etag(uc, primary):
    lb = uc["lb"]
    uid, name = create_user(primary)
    r = lb.get(API + "/me", user=uid)
    assert r.status == 200, r.body
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json
    assert set(body) == PRIVATE_FIELDS
    assert body["id"] == uid and body["name"] == name
    assert body["nickname"] == "" and body["avatar_url"] == ""
    assert body["total_points"] == 0 and body["level"] == 1
    assert RFC3339_UTC.match(body["created_at"]), body["created_at"]
    (created,), = sql(primary, "SELECT to_char(created_at AT TIME ZONE 'UTC', "
                               "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM users WHERE id = %s", (uid,))
    assert body["created_at"] == created

    etag = r.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag)
    again = lb.get(API + "/me", user=uid, headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    assert again.headers["ETag"] == etag
    other = lb.get(API + "/me", user=uid, headers={"If-None-Match": '"0000000000000000"'})
    assert other.status == 200 and other.body == r.body
    # Every server gives the same ETag for the same data (API.md §1).
    for app in ("app-0", "app-1"):
        direct = uc[app].get(API + "/me", user=uid)
        assert direct.status == 200 and direct.headers["ETag"] == etag and direct.body == r.body


def test_public_profile_needs_no_token_and_shows_public_fields_only(uc, primary):
    lb = uc["lb"]
    uid, name = create_user(primary)
    r = lb.get(f"{API}/users/{uid}")
    assert r.status == 200, r.body
    assert set(r.json) == PUBLIC_FIELDS
    assert r.json == {"id": uid, "name": name, "nickname": "", "avatar_url": "", "level": 1}
    etag = r.headers["ETag"]
    assert lb.get(f"{API}/users/{uid}", headers={"If-None-Match": etag}).status == 304
    assert lb.get(f"{API}/users/{uid}", headers={"If-None-Match": f'W/{etag}, "x"'}).status == 304
    assert lb.get(f"{API}/users/{uid}", headers={"If-None-Match": "*"}).status == 304
    for app in ("app-0", "app-1"):
        direct = uc[app].get(f"{API}/users/{uid}")
        assert direct.headers["ETag"] == etag and direct.body == r.body
    # A token does not change the public view.
    assert lb.get(f"{API}/users/{uid}", user=uid).body == r.body


def test_unknown_and_malformed_user_ids_are_404(uc, primary):
    lb = uc["lb"]
    missing = unused_user_id(primary)
    for ident in [str(missing), "0", "-1", "abc", "007", "1.5", "9223372036854775808",
                  "99999999999999999999999", "%20"]:
        assert_error(lb.get(f"{API}/users/{ident}"), 404, "not_found")
    # Twice: the second answer comes from the negative cache, same contract.
    assert_error(lb.get(f"{API}/users/{missing}"), 404, "not_found")


def test_user_registered_after_a_404_is_found_at_once(uc, primary):
    # The ids the next registration can take are cached as absent on every
    # server; the new account is visible on all of them at once all the same.
    (next_id,), = sql(primary, "SELECT last_value + 1 FROM users_id_seq")
    candidates = range(next_id - 1, next_id + 3)
    for app in ("app-0", "app-1"):
        for uid in candidates:
            uc[app].get(f"{API}/users/{uid}")
    name = f"neg_{uuid.uuid4().hex[:12]}"
    r = uc["lb"].post(API + "/users", body={"name": name, "password": "correct horse"})
    assert r.status == 201, r.body
    uid = r.json["id"]
    assert uid in candidates, (uid, list(candidates))
    for client in (uc["lb"], uc["app-0"], uc["app-1"]):
        got = client.get(f"{API}/users/{uid}")
        assert got.status == 200 and got.json["id"] == uid, (got.status, got.body)
    # The other candidates stay cached as absent for a while: forget them, so
    # users later tests insert straight into the database are not hidden.
    for other in candidates:
        r = uc["lb"].post(API + "/admin/cache/invalidate", admin=True,
                          body={"scope": "user", "id": other})
        assert r.status == 200, r.body


def test_token_of_a_user_that_does_not_exist_gets_404(uc, primary):
    ghost = unused_user_id(primary) + 7
    assert_error(uc["lb"].get(API + "/me", user=ghost), 404, "not_found")
    assert_error(uc["lb"].patch(API + "/me", user=ghost, body={"nickname": "x"}), 404, "not_found")
    assert_error(uc["lb"].patch(API + "/me", user=ghost, body={}), 404, "not_found")


# ---------------------------------------------------------------------------
# PATCH /api/v1/me
# ---------------------------------------------------------------------------

def test_patch_changes_nickname_and_avatar(uc, primary):
    lb = uc["lb"]
    uid, name = create_user(primary)
    before = lb.get(API + "/me", user=uid)
    r = lb.patch(API + "/me", user=uid, body={"nickname": "Zoë 中文 😀", "avatar_url": "https://img.example/z.png"})
    assert r.status == 200, r.body
    assert set(r.json) == PRIVATE_FIELDS
    assert r.json["nickname"] == "Zoë 中文 😀"
    assert r.json["avatar_url"] == "https://img.example/z.png"
    assert r.json["name"] == name and r.json["id"] == uid
    # The PATCH answer carries the ETag the next GET has.
    me = lb.get(API + "/me", user=uid)
    assert me.json == r.json and me.headers["ETag"] == r.headers["ETag"]
    assert me.headers["ETag"] != before.headers["ETag"]
    pub = lb.get(f"{API}/users/{uid}").json
    assert pub["nickname"] == "Zoë 中文 😀" and pub["avatar_url"] == "https://img.example/z.png"

    # One field at a time leaves the other alone; "" clears.
    r = lb.patch(API + "/me", user=uid, body={"nickname": "second"})
    assert r.json["nickname"] == "second" and r.json["avatar_url"] == "https://img.example/z.png"
    r = lb.patch(API + "/me", user=uid, body={"avatar_url": ""})
    assert r.json["nickname"] == "second" and r.json["avatar_url"] == ""
    (row,) = sql(primary, "SELECT nickname, avatar_url FROM users WHERE id = %s", (uid,))
    assert row == ("second", "")


def test_empty_patch_changes_nothing(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary)
    lb.patch(API + "/me", user=uid, body={"nickname": "keep"})
    me = lb.get(API + "/me", user=uid)
    (updated_before,), = sql(primary, "SELECT updated_at FROM users WHERE id = %s", (uid,))
    r = lb.patch(API + "/me", user=uid, body={})
    assert r.status == 200 and r.json == me.json
    (updated_after,), = sql(primary, "SELECT updated_at FROM users WHERE id = %s", (uid,))
    assert updated_after == updated_before


def test_patch_limits(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary)
    ok = [
        {"nickname": "n" * 64},
        {"nickname": "中" * 64},          # 64 code points, 192 bytes
        {"nickname": "😀" * 64},
        {"nickname": ""},
        {"avatar_url": "http://a.example/" + "p" * (512 - len("http://a.example/"))},
        {"avatar_url": "HTTPS://A.EXAMPLE/x?y=1#z"},
    ]
    for body in ok:
        r = lb.patch(API + "/me", user=uid, body=body)
        assert r.status == 200, (body, r.body)
        for key, value in body.items():
            assert r.json[key] == value


def test_patch_errors_name_the_field(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary)
    cases = [
        ({"nickname": "n" * 65}, "nickname"),
        ({"nickname": "中" * 65}, "nickname"),
        ({"nickname": 5}, "nickname"),
        ({"nickname": None}, "nickname"),
        ({"nickname": ["a"]}, "nickname"),
        ({"nickname": "line\nbreak"}, "nickname"),
        ({"nickname": "nul\u0000"}, "nickname"),
        ({"avatar_url": "ftp://a.example/x.png"}, "avatar_url"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"avatar_url": "https://"}, "avatar_url"),
        ({"avatar_url": "https://a.example/a b.png"}, "avatar_url"),
        ({"avatar_url": "http://a.example/" + "p" * 600}, "avatar_url"),
        ({"avatar_url": False}, "avatar_url"),
        ({"total_points": 1_000_000}, "total_points"),
        ({"name": "hijack"}, "name"),
        ({"nickname": "fine", "level": 99}, "level"),
    ]
    for body, field in cases:
        assert_error(lb.patch(API + "/me", user=uid, body=body), 400, "invalid_request", field)
    for raw in [b"", b"{", b"[]", b'"x"', b"null", b"{\"nickname\": }"]:
        assert_error(lb.patch(API + "/me", user=uid, raw=raw), 400, "invalid_request", "body")
    # Nothing was changed by any of them.
    (row,) = sql(primary, "SELECT nickname, avatar_url, total_points FROM users WHERE id = %s", (uid,))
    assert row == ("", "", 0)


def test_patch_then_get_alternating_is_always_fresh(uc, primary):
    """API.md §2: a change is visible to every following read, through any
    server, at once. Both apps hold the profile in L1 between rounds."""
    uid, _ = create_user(primary)
    apps = [uc["app-0"], uc["app-1"]]
    for app in apps:  # warm both L1s (and L2)
        assert app.get(API + "/me", user=uid).status == 200
        assert app.get(f"{API}/users/{uid}").status == 200
    for i in range(20):
        writer, reader = apps[i % 2], apps[(i + 1) % 2]
        nick = f"round-{i}"
        assert writer.patch(API + "/me", user=uid, body={"nickname": nick}).status == 200
        assert reader.get(API + "/me", user=uid).json["nickname"] == nick, i
        assert reader.get(f"{API}/users/{uid}").json["nickname"] == nick, i
        assert writer.get(API + "/me", user=uid).json["nickname"] == nick, i
    # The same through the load balancer.
    lb = uc["lb"]
    for i in range(20):
        nick = f"lb-{i}"
        assert lb.patch(API + "/me", user=uid, body={"nickname": nick}).status == 200
        for _ in range(2):  # consecutive GETs land on both apps
            assert lb.get(API + "/me", user=uid).json["nickname"] == nick, i
            assert lb.get(f"{API}/users/{uid}").json["nickname"] == nick, i


def test_profile_cache_metrics_are_exported(uc, primary):
    uid, _ = create_user(primary)
    app = uc["app-0"]
    stored_before = metric_value(app.get("/metrics").body.decode(), "surge_profile_l2_fills_total",
                                 result="stored")
    app.get(f"{API}/users/{uid}")
    app.get(f"{API}/users/{uid}")
    text = app.get("/metrics").body.decode()
    # The first GET missed both tiers and filled L2 (the fence held).
    assert metric_value(text, "surge_profile_l2_fills_total", result="stored") >= stored_before + 1
    assert 'surge_cache_hits_total{cache="profile",tier="l1"}' in text
    assert 'surge_cache_misses_total{cache="profile",tier="l2"}' in text
    assert "surge_profile_updates_total" in text
    assert "surge_profile_l2_fills_total" in text


def find_key(stack, key: str):
    """(shard client, value) of `key` on whichever shard holds it."""
    for address in stack.vars["SURGE_REDIS"].split(","):
        host, port = address.rsplit(":", 1)
        client = redis.Redis(host=host, port=int(port), socket_timeout=5)
        value = client.get(key)
        if value is not None:
            return client, value
    return None, None


def test_redis_layout_entry_marker_and_fence(uc, stack, primary):
    """src/profile/README.md: the entry user:{id} holds both bodies, a write
    deletes it and bumps the marker user:{id}:lsn."""
    lb = uc["lb"]
    uid, _ = create_user(primary)
    me = lb.get(API + "/me", user=uid)
    pub = lb.get(f"{API}/users/{uid}")
    _, entry = find_key(stack, f"user:{{{uid}}}")
    assert entry is not None
    fence, private, public = entry.split(b"\n")
    assert fence == b"" and private == me.body and public == pub.body
    assert find_key(stack, f"user:{{{uid}}}:lsn") == (None, None)

    markers = []
    for i in range(3):
        assert lb.patch(API + "/me", user=uid, body={"nickname": f"m{i}"}).status == 200
        shard, marker = find_key(stack, f"user:{{{uid}}}:lsn")
        assert re.fullmatch(rb"[0-9a-f]{16}\.\d+", marker), marker
        assert 0 < shard.ttl(f"user:{{{uid}}}:lsn") <= 60
        markers.append(marker)
        # The entry is re-filled by the next miss, fenced by the new marker.
        lb.get(API + "/me", user=uid)
        _, entry = find_key(stack, f"user:{{{uid}}}")
        if entry is not None:
            assert entry.split(b"\n")[0] == marker
    counts = [int(m.split(b".")[1]) for m in markers]
    assert counts == sorted(counts) and len(set(counts)) == 3
    lsns = [int(m.split(b".")[0], 16) for m in markers]
    assert lsns == sorted(lsns)


# ---------------------------------------------------------------------------
# POST /api/v1/admin/cache/invalidate
# ---------------------------------------------------------------------------

INVALIDATE = API + "/admin/cache/invalidate"


def test_admin_invalidate_needs_the_admin_token(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary)
    assert_error(lb.post(INVALIDATE, body={"scope": "user", "id": uid}), 401, "unauthorized")
    assert_error(lb.post(INVALIDATE, token="nope", body={"scope": "user", "id": uid}), 401, "unauthorized")
    assert_error(lb.post(INVALIDATE, user=uid, body={"scope": "user", "id": uid}), 403, "forbidden")


def test_admin_invalidate_user_refreshes_every_server(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary)
    for app in ("app-0", "app-1"):
        assert uc[app].get(API + "/me", user=uid).json["nickname"] == ""
        uc[app].get(f"{API}/users/{uid}")
    # A change behind the application's back (an operator's SQL).
    sql(primary, "UPDATE users SET nickname = 'from-sql' WHERE id = %s", (uid,))
    r = lb.post(INVALIDATE, admin=True, body={"scope": "user", "id": uid})
    assert r.status == 200, r.body
    assert r.json == {"scope": "user", "id": uid, "invalidated": True}
    for app in ("app-0", "app-1"):
        assert uc[app].get(API + "/me", user=uid).json["nickname"] == "from-sql", app
        assert uc[app].get(f"{API}/users/{uid}").json["nickname"] == "from-sql", app
    # Unknown ids are fine (idempotent, nothing cached).
    assert lb.post(INVALIDATE, admin=True, body={"scope": "user", "id": unused_user_id(primary)}).status == 200


def test_admin_invalidate_rejects_bad_requests(uc):
    lb = uc["lb"]
    cases = [
        ({"scope": "user"}, "id"),
        ({"scope": "user", "id": 0}, "id"),
        ({"scope": "user", "id": -4}, "id"),
        ({"scope": "user", "id": "12"}, "id"),
        ({"scope": "weather"}, "scope"),
        ({"id": 3}, "scope"),
        ({"scope": 3}, "scope"),
        ({"scope": "user", "id": 3, "extra": 1}, "extra"),
    ]
    for body, field in cases:
        assert_error(lb.post(INVALIDATE, admin=True, body=body), 400, "invalid_request", field)
    assert_error(lb.post(INVALIDATE, admin=True, raw=b"{"), 400, "invalid_request", "body")


@pytest.mark.parametrize("scope", ["products", "catalog"])
def test_admin_scopes_of_other_modules(uc, scope):
    """Registered by the catalog module once it exists; until then 400."""
    r = uc["lb"].post(INVALIDATE, admin=True, body={"scope": scope})
    if r.status == 200:
        assert r.json["scope"] == scope and r.json["invalidated"] is True
    else:
        assert_error(r, 400, "invalid_request", None)
