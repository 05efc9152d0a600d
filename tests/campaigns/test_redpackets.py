"""Red packets (API.md §5) against the shared stack: creation and its
validation, the storm (500 packets, 1 500 users x 2 concurrent grabs), the
window and sold-out paths, persistence by `surge worker`.

Run: SURGE_BIN=<surge> /usr/bin/python3 -m pytest tests/campaigns
"""

from __future__ import annotations

import re

from campaign_support import Storm, create_redpacket, rfc3339, shard_clients, wait_until
from ucenter_support import API, sql

GET_FIELDS = {"id", "count", "remaining", "total_cents", "starts_at", "ends_at", "status"}


def summary(uc, rp_id: int) -> dict:
    r = uc["lb"].get(f"{API}/admin/redpackets/{rp_id}/summary", admin=True)
    assert r.status == 200, (r.status, r.body)
    return r.json


def test_create_validates(uc):
    lb = uc["lb"]
    good = {"total_cents": 100, "count": 10, "starts_at": rfc3339(0), "ends_at": rfc3339(60)}
    for patch, field in [({"count": 0}, "count"), ({"total_cents": 9}, "total_cents"),
                         ({"ends_at": good["starts_at"]}, "ends_at"),
                         ({"starts_at": "tomorrow"}, "starts_at"), ({"count": "ten"}, "count")]:
        r = lb.post(API + "/admin/redpackets", admin=True, body={**good, **patch})
        assert r.status == 400 and r.error_code() == "invalid_request", (patch, r.status, r.body)
        assert field in r.error_message()
    r = lb.post(API + "/admin/redpackets", user=1, body=good)
    assert r.status == 403
    r = lb.post(API + "/admin/redpackets", body=good)
    assert r.status == 401


def test_create_get_and_split_in_database(uc, primary):
    lb = uc["lb"]
    rp = create_redpacket(lb, total=1000, count=7)
    r = lb.get(f"{API}/redpackets/{rp['id']}")
    assert r.status == 200
    body = r.json
    assert set(body) >= GET_FIELDS
    assert body["count"] == 7 and body["remaining"] == 7 and body["total_cents"] == 1000
    assert body["status"] == "active"
    rows = sql(primary, "SELECT amounts FROM redpacket_amount_lists WHERE redpacket_id = %s",
               (rp["id"],))
    assert len(rows) == 1
    amounts = rows[0][0]
    assert len(amounts) == 7
    assert sum(amounts) == 1000 and min(amounts) >= 1
    assert lb.get(f"{API}/redpackets/999999999").status == 404
    assert lb.get(f"{API}/redpackets/abc").status == 404
    # One spelling per id, as for users, products and orders.
    assert lb.get(f"{API}/redpackets/0{rp['id']}").status == 404
    assert lb.post(f"{API}/redpackets/0{rp['id']}/grab", user=5).status == 404
    assert lb.post(f"{API}/redpackets/999999999/grab", user=5).status == 404


def test_the_largest_red_packet_is_created_and_grabbed(uc, stack, primary):
    # count is accepted up to 1 000 000: such a red packet is created (its
    # amounts stored and preloaded), not refused with 503 on a timeout.
    lb = uc["lb"]
    count = 1_000_000
    rp = create_redpacket(lb, total=3 * count, count=count, lasts=120)
    try:
        r = lb.get(f"{API}/redpackets/{rp['id']}")
        assert r.status == 200 and r.json["count"] == count and r.json["remaining"] == count
        rows = sql(primary, "SELECT cardinality(amounts), (SELECT sum(a) FROM unnest(amounts) a), "
                            "(SELECT min(a) FROM unnest(amounts) a) FROM redpacket_amount_lists "
                            "WHERE redpacket_id = %s", (rp["id"],))
        assert rows == [(count, 3 * count, rows[0][2])] and rows[0][2] >= 1, rows
        g = lb.post(f"{API}/redpackets/{rp['id']}/grab", user=4242)
        assert g.status == 200 and g.json["amount_cents"] >= 1, (g.status, g.body)
        assert lb.get(f"{API}/redpackets/{rp['id']}").json["remaining"] == count - 1
    finally:
        # Its 1 000 000 amounts would otherwise stay on the shard (7 days).
        for client in shard_clients(stack):
            client.unlink(f"rp:{{{rp['id']}}}:meta", f"rp:{{{rp['id']}}}:amounts",
                          f"rp:{{{rp['id']}}}:grabs")


def test_not_started_ended_sold_out(uc):
    lb = uc["lb"]
    later = create_redpacket(lb, total=10, count=2, starts_in=3600)
    r = lb.post(f"{API}/redpackets/{later['id']}/grab", user=11)
    assert r.status == 403 and r.error_code() == "not_started"
    assert lb.get(f"{API}/redpackets/{later['id']}").json["status"] == "pending"

    short = create_redpacket(lb, total=10, count=2, starts_in=-2, lasts=1)
    r = lb.post(f"{API}/redpackets/{short['id']}/grab", user=11)
    assert r.status == 410 and r.error_code() == "ended"
    assert lb.get(f"{API}/redpackets/{short['id']}").json["status"] == "finished"

    one = create_redpacket(lb, total=5, count=1)
    first = lb.post(f"{API}/redpackets/{one['id']}/grab", user=12)
    assert first.status == 200 and first.json == {"amount_cents": 5, "already_grabbed": False}
    again = lb.post(f"{API}/redpackets/{one['id']}/grab", user=12)
    assert again.status == 200 and again.json == {"amount_cents": 5, "already_grabbed": True}
    r = lb.post(f"{API}/redpackets/{one['id']}/grab", user=13)
    assert r.status == 410 and r.error_code() == "sold_out"
    assert lb.get(f"{API}/redpackets/{one['id']}").json["status"] == "finished"
    assert lb.post(f"{API}/redpackets/{one['id']}/grab").status == 401


def test_storm_500_packets_1500_users_twice(uc, stack, primary):
    lb = uc["lb"]
    total = 123_457
    rp = create_redpacket(lb, total=total, count=500)
    users = list(range(1, 1501))
    results = Storm(stack.url, stack.vars["SURGE_TOKEN_SECRET"],
                    f"{API}/redpackets/{rp['id']}/grab", users, per_user=2, groups=60).run()

    granted: dict[int, int] = {}
    for user, answers in results.items():
        assert len(answers) == 2, (user, answers)
        amounts = set()
        fresh = 0
        for status, body in answers:
            if status == 200:
                amounts.add(body["amount_cents"])
                fresh += 0 if body["already_grabbed"] else 1
            else:
                assert status == 410 and body["error"]["code"] == "sold_out", (user, status, body)
        assert len(amounts) <= 1, (user, answers)  # nobody twice, repeats say the same
        # (A grab answered 503 after the shard decided it, then retried,
        # reads already_grabbed: so at most one fresh answer, maybe none.)
        assert fresh <= 1, (user, answers)
        if amounts:
            granted[user] = amounts.pop()
    assert len(granted) == 500
    assert sum(granted.values()) == total
    assert min(granted.values()) >= 1

    # A repeat after the storm: the same amount.
    some = next(iter(granted))
    r = lb.post(f"{API}/redpackets/{rp['id']}/grab", user=some)
    assert r.status == 200 and r.json == {"amount_cents": granted[some], "already_grabbed": True}
    assert lb.get(f"{API}/redpackets/{rp['id']}").json["remaining"] == 0

    # Persisted by the worker within 60 s, exactly the granted grabs.
    def persisted():
        s = summary(uc, rp["id"])
        return s if s["persisted_count"] == 500 else None
    s = wait_until(persisted, 60, "every grab persisted")
    assert s == {"granted_count": 500, "granted_cents": total, "persisted_count": 500,
                 "persisted_cents": total}
    rows = dict(sql(primary, "SELECT user_id, amount_cents FROM redpacket_grabs "
                             "WHERE redpacket_id = %s", (rp["id"],)))
    assert rows == granted

    mine = lb.get(f"{API}/me/redpackets", user=some)
    assert mine.status == 200
    entries = [g for g in mine.json["grabs"] if g["redpacket_id"] == rp["id"]]
    assert len(entries) == 1 and entries[0]["amount_cents"] == granted[some]
    # RFC 3339 UTC in whole seconds, like every time the API writes.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entries[0]["grabbed_at"]), entries[0]


def test_amounts_beyond_2_to_the_53_are_answered_exactly(uc, primary):
    # Lua numbers are doubles; the grab's answer must be the stored integer.
    lb = uc["lb"]
    top = 2**63 - 1
    rp = create_redpacket(lb, total=top, count=1)
    g = lb.post(f"{API}/redpackets/{rp['id']}/grab", user=4343)
    assert g.status == 200 and g.json == {"amount_cents": top, "already_grabbed": False}, g.body
    again = lb.post(f"{API}/redpackets/{rp['id']}/grab", user=4343)
    assert again.json == {"amount_cents": top, "already_grabbed": True}, again.body
    rp3 = create_redpacket(lb, total=top - 5, count=3)
    answered = {}
    for user in (4344, 4345, 4346):
        r = lb.post(f"{API}/redpackets/{rp3['id']}/grab", user=user)
        assert r.status == 200, r.body
        answered[user] = r.json["amount_cents"]
    assert sum(answered.values()) == top - 5
    stored = wait_until(lambda: (lambda rows: dict(rows) if len(rows) == 3 else None)(
        sql(primary, "SELECT user_id, amount_cents FROM redpacket_grabs WHERE redpacket_id = %s",
            (rp3["id"],))), 60, "three grabs persisted")
    assert stored == answered


def test_my_grabs_are_a_paged_list(uc):
    # API.md §1: lists take page and page_size and echo both; newest first.
    lb = uc["lb"]
    user = 7_000_123
    ids = []
    for _ in range(3):
        rp = create_redpacket(lb, total=30, count=3)
        assert lb.post(f"{API}/redpackets/{rp['id']}/grab", user=user).status == 200
        ids.append(rp["id"])
    for rp_id in ids:
        wait_until(lambda: summary(uc, rp_id)["persisted_count"] == 1, 60, "grab persisted")
    first = lb.get(f"{API}/me/redpackets?page_size=2", user=user)
    assert first.status == 200, first.body
    assert first.json["page"] == 1 and first.json["page_size"] == 2
    assert first.json["has_more"] is True
    assert [g["redpacket_id"] for g in first.json["grabs"]] == [ids[2], ids[1]]
    second = lb.get(f"{API}/me/redpackets?page=2&page_size=2", user=user)
    assert second.status == 200 and second.json["page"] == 2
    assert [g["redpacket_id"] for g in second.json["grabs"]] == [ids[0]]
    assert second.json["has_more"] is False
    default = lb.get(f"{API}/me/redpackets", user=user)
    assert default.json["page"] == 1 and default.json["page_size"] == 40
    assert len(default.json["grabs"]) == 3
    for bad in ("page=0", "page_size=0", "page_size=101", "page=x"):
        r = lb.get(f"{API}/me/redpackets?{bad}", user=user)
        assert r.status == 400 and r.error_code() == "invalid_request", (bad, r.body)


def test_red_packet_etag_follows_what_is_left(uc):
    # Cacheable GET: one ETag on every server for the same state, 304 on a
    # match, and a new ETag once a grab changed `remaining` / `status`.
    lb = uc["lb"]
    rp = create_redpacket(lb, total=10, count=2)
    path = f"{API}/redpackets/{rp['id']}"
    first = lb.get(path)
    etag = first.headers["ETag"]
    for app in ("app-0", "app-1"):
        assert uc[app].get(path).headers["ETag"] == etag
        again = uc[app].get(path, headers={"If-None-Match": etag})
        assert again.status == 304 and again.body in (b"", "", None), again.status
    seen = {etag}
    for user in (4401, 4402):
        assert lb.post(f"{path}/grab", user=user).status == 200
        r = lb.get(path, headers={"If-None-Match": etag})
        assert r.status == 200, r.status
        assert r.headers["ETag"] not in seen
        etag = r.headers["ETag"]
        seen.add(etag)
    assert r.json["remaining"] == 0 and r.json["status"] == "finished"
