"""Daily sign-in black-box tests (API.md §3): awards exactly once per user
and day under any concurrency, total_points = sum of awards, streaks and
month days (past days seeded straight into the database), the time zone,
and degradation with the cache shards down — through the shared stack and
`surge serve` processes of our own.

Run: SURGE_BIN=<surge with the routes wired> /usr/bin/python3 -m pytest tests/signin
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import threading
from zoneinfo import ZoneInfo

import pytest

from ucenter_support import (API, Client, create_user, dead_address, metric_value, mint_token,
                             own_server_env, sql, unused_user_id, wait_replicas)

SIGNIN = API + "/signin"
POST_FIELDS = {"date", "awarded_points", "already_signed_in", "streak_days", "total_points", "month_days"}
GET_FIELDS = {"date", "signed_in_today", "streak_days", "total_points", "month_days"}

# Default settings (signin/status.hpp): 10 points, +2 per day of streak
# before today, capped after 5 days.
BASE, BONUS, CAP = 10, 2, 5


def award_for(streak_before: int) -> int:
    return BASE + BONUS * min(streak_before, CAP)


def db_today(primary: str, tz: str = "UTC") -> dt.date:
    (d,), = sql(primary, "SELECT (now() AT TIME ZONE %s)::date", (tz,))
    return d


def seed_days(primary: str, uid: int, days: list[dt.date], points: int = 10) -> int:
    """Past sign-ins inserted directly, total_points kept equal to their sum."""
    for d in days:
        sql(primary, "INSERT INTO signins (user_id, day, points) VALUES (%s, %s, %s)", (uid, d, points))
    sql(primary, "UPDATE users SET total_points = total_points + %s WHERE id = %s",
        (points * len(days), uid))
    wait_replicas(primary)
    return points * len(days)


def check_invariant(primary: str, uid: int) -> tuple[int, int]:
    (total, summed, rows), = sql(
        primary,
        "SELECT u.total_points, COALESCE(sum(s.points), 0), count(s.day) "
        "FROM users u LEFT JOIN signins s ON s.user_id = u.id WHERE u.id = %s GROUP BY u.id",
        (uid,))
    assert total == summed, (total, summed)
    return total, rows


def same_day_or_skip(primary: str, before: dt.date, tz: str = "UTC") -> None:
    if db_today(primary, tz) != before:
        pytest.skip("the day changed during the test (midnight)")


# ---------------------------------------------------------------------------
# Contract basics
# ---------------------------------------------------------------------------

def test_signin_needs_a_user_token(uc, stack):
    lb = uc["lb"]
    for method in ("GET", "POST"):
        r = lb.call(method, SIGNIN)
        assert r.status == 401 and r.error_code() == "unauthorized"
        r = lb.call(method, SIGNIN, token="1.99999999999.bad")
        assert r.status == 401 and r.error_code() == "unauthorized"
        r = lb.call(method, SIGNIN, token=stack.vars["SURGE_ADMIN_TOKEN"])
        assert r.status == 401 and r.error_code() == "unauthorized"


def test_first_signin_awards_then_repeats_award_nothing(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary, "si")
    today = db_today(primary)

    g = lb.get(SIGNIN, user=uid)
    assert g.status == 200, g.body
    assert set(g.json) == GET_FIELDS
    assert g.json == {"date": today.isoformat(), "signed_in_today": False, "streak_days": 0,
                      "total_points": 0, "month_days": []}

    first = lb.post(SIGNIN, user=uid)
    assert first.status == 200, first.body
    assert first.headers["Content-Type"].startswith("application/json")
    assert set(first.json) == POST_FIELDS
    same_day_or_skip(primary, today)
    assert first.json == {"date": today.isoformat(), "awarded_points": award_for(0),
                          "already_signed_in": False, "streak_days": 1,
                          "total_points": award_for(0), "month_days": [today.day]}

    for client in (lb, uc["app-0"], uc["app-1"], lb):
        again = client.post(SIGNIN, user=uid)
        assert again.status == 200
        assert again.json == dict(first.json, awarded_points=0, already_signed_in=True)
        status = client.get(SIGNIN, user=uid)
        assert status.json == {"date": today.isoformat(), "signed_in_today": True, "streak_days": 1,
                               "total_points": award_for(0), "month_days": [today.day]}
    assert check_invariant(primary, uid) == (award_for(0), 1)


def test_points_show_in_the_profile_at_once_on_every_server(uc, primary):
    uid, _ = create_user(primary, "si")
    for app in ("app-0", "app-1"):  # both L1s hold total_points = 0
        me = uc[app].get(API + "/me", user=uid).json
        assert me["total_points"] == 0 and me["level"] == 1
        uc[app].get(f"{API}/users/{uid}")
    r = uc["app-0"].post(SIGNIN, user=uid)
    assert r.json["awarded_points"] == award_for(0)
    for app in ("app-1", "app-0"):
        me = uc[app].get(API + "/me", user=uid).json
        assert me["total_points"] == award_for(0), app
        assert me["level"] == 2, app  # 10 points → level 2
        assert uc[app].get(f"{API}/users/{uid}").json["level"] == 2


def test_unknown_user_gets_404(uc, primary):
    ghost = unused_user_id(primary) + 11
    for method in ("GET", "POST"):
        r = uc["lb"].call(method, SIGNIN, user=ghost)
        assert r.status == 404 and r.error_code() == "not_found", r.body
    assert sql(primary, "SELECT count(*) FROM signins WHERE user_id = %s", (ghost,)) == [(0,)]


# ---------------------------------------------------------------------------
# Exactly once under concurrency
# ---------------------------------------------------------------------------

def fire_at_once(port: int, requests_: list[tuple[str, str]], timeout: float = 60.0) -> list[tuple[int, dict]]:
    """Opens one connection per request, waits until all are connected, then
    sends every request at the same instant. Returns (status, body) each."""
    results: list = [None] * len(requests_)
    barrier = threading.Barrier(len(requests_))

    def run(i: int, token: str, method: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.connect()
            barrier.wait(timeout=timeout)
            conn.request(method, SIGNIN, headers={"Authorization": f"Bearer {token}",
                                                  "Content-Length": "0"})
            resp = conn.getresponse()
            body = resp.read()
            results[i] = (resp.status, json.loads(body) if body else {})
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = (-1, {"exception": repr(e)})
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(i, tok, method))
               for i, (tok, method) in enumerate(requests_)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
    return results


def lb_port(stack) -> int:
    return stack.port("lb")


def test_300_concurrent_signins_of_one_user_award_once(uc, stack, primary):
    uid, _ = create_user(primary, "si")
    token = mint_token(stack.vars["SURGE_TOKEN_SECRET"], uid)
    today = db_today(primary)
    results = fire_at_once(lb_port(stack), [(token, "POST")] * 300)
    statuses = [s for s, _ in results]
    assert statuses.count(200) == 300, [r for r in results if r[0] != 200][:5]
    bodies = [b for _, b in results]
    winners = [b for b in bodies if b["awarded_points"] > 0]
    assert len(winners) == 1, winners
    assert winners[0]["already_signed_in"] is False
    assert all(b["already_signed_in"] is True and b["awarded_points"] == 0
               for b in bodies if b is not winners[0])
    same_day_or_skip(primary, today)
    assert {b["total_points"] for b in bodies} == {winners[0]["awarded_points"]}
    assert {b["date"] for b in bodies} == {today.isoformat()}
    assert {b["streak_days"] for b in bodies} == {1}
    assert check_invariant(primary, uid) == (winners[0]["awarded_points"], 1)


def test_50_users_5_concurrent_each_award_once_per_user(uc, stack, primary):
    secret = stack.vars["SURGE_TOKEN_SECRET"]
    users = [create_user(primary, "si")[0] for _ in range(50)]
    batch = [(mint_token(secret, uid), "POST") for uid in users for _ in range(5)]
    results = fire_at_once(lb_port(stack), batch)
    assert all(s == 200 for s, _ in results), [r for r in results if r[0] != 200][:5]
    for k, uid in enumerate(users):
        mine = [b for _, b in results[5 * k: 5 * k + 5]]
        awarded = [b for b in mine if b["awarded_points"] > 0]
        assert len(awarded) == 1, (uid, mine)
        assert sum(b["already_signed_in"] for b in mine) == 4
        assert check_invariant(primary, uid) == (awarded[0]["awarded_points"], 1)


def test_concurrent_gets_and_posts_agree(uc, stack, primary):
    uid, _ = create_user(primary, "si")
    token = mint_token(stack.vars["SURGE_TOKEN_SECRET"], uid)
    results = fire_at_once(lb_port(stack), [(token, "POST"), (token, "GET")] * 40)
    assert all(s == 200 for s, _ in results)
    posts = [b for b in results[0::2]]
    assert sum(1 for _, b in posts if b["awarded_points"] > 0) == 1
    after = uc["lb"].get(SIGNIN, user=uid).json
    assert after["signed_in_today"] is True and after["total_points"] == award_for(0)


# ---------------------------------------------------------------------------
# Streaks and month days (past days seeded in the database)
# ---------------------------------------------------------------------------

def month_days(today: dt.date, days: list[dt.date]) -> list[int]:
    return sorted(d.day for d in days if d.year == today.year and d.month == today.month and d <= today)


def test_streak_continues_and_earns_the_bonus(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary, "si")
    today = db_today(primary)
    past = [today - dt.timedelta(days=n) for n in (1, 2, 3, 5, 40)]  # streak of 3, then gaps
    seeded = seed_days(primary, uid, past)

    g = lb.get(SIGNIN, user=uid).json
    assert g["signed_in_today"] is False
    assert g["streak_days"] == 3  # the streak today's sign-in would continue
    assert g["total_points"] == seeded
    assert g["month_days"] == month_days(today, past)

    r = lb.post(SIGNIN, user=uid).json
    same_day_or_skip(primary, today)
    assert r["awarded_points"] == award_for(3)
    assert r["streak_days"] == 4
    assert r["total_points"] == seeded + award_for(3)
    assert r["month_days"] == month_days(today, past + [today])
    assert check_invariant(primary, uid) == (seeded + award_for(3), len(past) + 1)


def test_broken_streak_starts_over(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary, "si")
    today = db_today(primary)
    past = [today - dt.timedelta(days=n) for n in (2, 3, 4)]
    seed_days(primary, uid, past)
    assert lb.get(SIGNIN, user=uid).json["streak_days"] == 0
    r = lb.post(SIGNIN, user=uid).json
    same_day_or_skip(primary, today)
    assert r["streak_days"] == 1 and r["awarded_points"] == award_for(0)


def test_streak_bonus_is_capped(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary, "si")
    today = db_today(primary)
    past = [today - dt.timedelta(days=n) for n in range(1, 13)]
    seeded = seed_days(primary, uid, past)
    r = lb.post(SIGNIN, user=uid).json
    same_day_or_skip(primary, today)
    assert r["streak_days"] == 13
    assert r["awarded_points"] == award_for(12) == BASE + BONUS * CAP
    assert r["total_points"] == seeded + award_for(12)
    assert r["month_days"] == month_days(today, past + [today])


def test_month_days_list_only_this_month(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary, "si")
    today = db_today(primary)
    first = today.replace(day=1)
    last_month = first - dt.timedelta(days=1)
    past = [last_month, last_month - dt.timedelta(days=3)]
    if today.day > 1:
        past.append(first)
    seed_days(primary, uid, past)
    r = lb.post(SIGNIN, user=uid).json
    same_day_or_skip(primary, today)
    expected = sorted({first.day, today.day}) if today.day > 1 else [1]
    assert r["month_days"] == expected
    assert all(1 <= d <= 31 for d in r["month_days"])


# ---------------------------------------------------------------------------
# Time zone and degradation: servers of our own
# ---------------------------------------------------------------------------

def own_client(server, stack, **env) -> tuple[Client, object]:
    srv = server(**own_server_env(stack, **env))
    return Client(f"http://127.0.0.1:{srv.port}", stack.vars["SURGE_TOKEN_SECRET"],
                  stack.vars["SURGE_ADMIN_TOKEN"]), srv


@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Etc/GMT+12"])
def test_date_is_the_day_in_the_configured_time_zone(server, stack, uc, primary, tz):
    """UTC+14 and UTC−12: at any instant one of them is on another date than
    UTC (they are 26 h apart)."""
    client, _ = own_client(server, stack, SURGE_SIGNIN_TIME_ZONE=tz)
    uid, _ = create_user(primary, "tz")
    before = dt.datetime.now(ZoneInfo(tz)).date()
    r = client.post(SIGNIN, user=uid)
    after = dt.datetime.now(ZoneInfo(tz)).date()
    assert r.status == 200, r.body
    assert r.json["date"] in {before.isoformat(), after.isoformat()}
    (stored,), = sql(primary, "SELECT day FROM signins WHERE user_id = %s", (uid,))
    assert stored.isoformat() == r.json["date"]
    assert r.json["month_days"] == [stored.day]
    g = client.get(SIGNIN, user=uid).json
    assert g["date"] == r.json["date"] and g["signed_in_today"] is True


def test_cache_shards_down_the_database_still_decides(server, stack, uc, primary):
    client, srv = own_client(server, stack,
                             SURGE_REDIS_SHARDS=f"{dead_address()},{dead_address()}")
    uid, _ = create_user(primary, "si")
    first = client.post(SIGNIN, user=uid)
    assert first.status == 200, first.body
    assert first.json["awarded_points"] == award_for(0)
    for _ in range(3):
        again = client.post(SIGNIN, user=uid).json
        assert again["already_signed_in"] is True and again["awarded_points"] == 0
    g = client.get(SIGNIN, user=uid).json
    assert g["signed_in_today"] is True and g["total_points"] == award_for(0)
    assert client.get(API + "/me", user=uid).json["total_points"] == award_for(0)
    # Still exactly once under concurrency, decided by the database alone.
    uid2, _ = create_user(primary, "si")
    token = mint_token(stack.vars["SURGE_TOKEN_SECRET"], uid2)
    results = fire_at_once(srv.port, [(token, "POST")] * 40)
    assert all(s == 200 for s, _ in results), results[:3]
    assert sum(1 for _, b in results if b["awarded_points"] > 0) == 1
    assert check_invariant(primary, uid2) == (award_for(0), 1)
    text = srv.metrics_text()
    assert metric_value(text, "surge_signin_cache_errors_total") > 0
    assert metric_value(text, "surge_signin_repeats_total") >= 3
    assert metric_value(text, "surge_signin_fast_path_total") == 0


def test_replica_down_status_reads_from_the_primary(server, stack, uc, primary):
    client, _ = own_client(server, stack,
                           SURGE_DATABASE_REPLICAS=f"postgresql://surge@{dead_address()}/surge")
    uid, _ = create_user(primary, "si")
    assert client.get(SIGNIN, user=uid).json["signed_in_today"] is False
    assert client.post(SIGNIN, user=uid).json["awarded_points"] == award_for(0)
    assert client.get(SIGNIN, user=uid).json["signed_in_today"] is True


def test_repeats_use_the_fast_path(server, stack, uc, primary):
    client, srv = own_client(server, stack)
    uid, _ = create_user(primary, "si")
    before = metric_value(srv.metrics_text(), "surge_signin_fast_path_total")
    assert client.post(SIGNIN, user=uid).json["awarded_points"] > 0
    for _ in range(5):
        assert client.post(SIGNIN, user=uid).json["already_signed_in"] is True
        assert client.get(SIGNIN, user=uid).json["signed_in_today"] is True
    text = srv.metrics_text()
    assert metric_value(text, "surge_signin_fast_path_total", op="signin") - before >= 5
    assert metric_value(text, "surge_signin_fast_path_total", op="status") >= 5
    assert metric_value(text, "surge_signin_awards_total") >= 1


def test_admin_user_scope_forgets_the_cached_status(uc, primary):
    """After an operator deletes a sign-in by SQL, the admin invalidation
    makes every server ask the database again."""
    lb = uc["lb"]
    uid, _ = create_user(primary, "si")
    assert lb.post(SIGNIN, user=uid).json["awarded_points"] > 0
    assert lb.get(SIGNIN, user=uid).json["signed_in_today"] is True
    sql(primary, "DELETE FROM signins WHERE user_id = %s", (uid,))
    sql(primary, "UPDATE users SET total_points = 0 WHERE id = %s", (uid,))
    r = lb.post(API + "/admin/cache/invalidate", admin=True, body={"scope": "user", "id": uid})
    assert r.status == 200, r.body
    for app in ("app-0", "app-1"):
        g = uc[app].get(SIGNIN, user=uid).json
        assert g["signed_in_today"] is False and g["total_points"] == 0, app
        assert uc[app].get(API + "/me", user=uid).json["total_points"] == 0


def test_cache_shard_kill9_mid_signin_storm_awards_once(uc, stack, primary):
    """DESIGN.md reliability targets: nobody is awarded twice, checked after
    a cache shard is killed mid-storm. The shard holds the fast-path status;
    the database's unique (user, day) still decides."""
    import time

    import requests
    secret = stack.vars["SURGE_TOKEN_SECRET"]
    users = [create_user(primary, "sk")[0] for _ in range(80)]
    batch = [(mint_token(secret, uid), "POST") for uid in users for _ in range(3)]
    today = db_today(primary)
    killer = threading.Timer(0.05, lambda: stack.run("kill", "redis-0"))
    killer.start()
    try:
        first = fire_at_once(lb_port(stack), batch)
        killer.join()
        second = fire_at_once(lb_port(stack), batch)
    finally:
        stack.run("start", "redis-0")
    same_day_or_skip(primary, today)
    for k, uid in enumerate(users):
        answers = first[3 * k: 3 * k + 3] + second[3 * k: 3 * k + 3]
        assert all(s in (200, 503) for s, _ in answers), (uid, answers)
        ok = [b for s, b in answers if s == 200]
        assert ok, (uid, answers)  # the second wave runs with the shard down: the database answers
        awarded = [b for b in ok if b["awarded_points"] > 0]
        assert len(awarded) <= 1, (uid, answers)
        points, rows = check_invariant(primary, uid)
        assert rows == 1, (uid, rows)
        if awarded:
            assert points == awarded[0]["awarded_points"]
        assert {b["total_points"] for b in ok} == {points}

    # Leave the stack whole: every server sees the shard again.
    def all_up() -> bool:
        for port in (stack.port("app-0"), stack.port("app-1")):
            body = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
            if any(d["name"].startswith("cache.shard") and d["state"] != "up"
                   for d in body["dependencies"]):
                return False
        return True
    deadline = time.monotonic() + 30
    while not all_up():
        assert time.monotonic() < deadline, "a server still sees redis-0 down"
        time.sleep(0.2)
