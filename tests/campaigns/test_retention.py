"""Campaign keys leave the shards after the campaign (campaigns.hot_retention_s,
7 days by default) and the database answers for it from then on: a repeat
grab still gets its amount, anyone else 410 ended, GET and the summaries
count the persisted rows. A live campaign whose keys are missing (a shard
that lost its data) is never decided without them: 503.

The expiry itself is Redis's; here the keys are deleted by hand once the
campaign has ended, which is what the shard does when the expiry comes.

Run: SURGE_BIN=<surge> /usr/bin/python3 -m pytest tests/campaigns/test_retention.py
"""

from __future__ import annotations

import datetime as dt
import time

from campaign_support import (create_flashsale, create_product, create_redpacket, shard_clients,
                              wait_until)
from ucenter_support import API

WEEK_MS = 7 * 24 * 3600 * 1000


def ms_of(rfc3339: str) -> int:
    return round(dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


def expiry(stack, key: str) -> int:
    """PEXPIRETIME of the key on whichever shard holds it (-2 = nowhere)."""
    found = [r.pexpiretime(key) for r in shard_clients(stack)]
    return max(found)


def delete_keys(stack, pattern: str) -> None:
    for r in shard_clients(stack):
        keys = list(r.scan_iter(match=pattern, count=1000))
        if keys:
            r.delete(*keys)


def test_redpacket_after_its_keys_expired(uc, stack):
    lb, raw = uc["lb"], uc["lb_raw"]
    rp = create_redpacket(lb, total=30, count=3, starts_in=-1, lasts=3)
    rid = rp["id"]
    first = lb.post(f"{API}/redpackets/{rid}/grab", user=31)
    assert first.status == 200, (first.status, first.body)
    amount = first.json["amount_cents"]

    # The keys expire a week after the end (the default retention), all of them.
    ends = ms_of(rp["ends_at"])
    for suffix in ("meta", "amounts", "grabs"):
        assert abs(expiry(stack, f"rp:{{{rid}}}:{suffix}") - (ends + WEEK_MS)) <= 1000, suffix

    def persisted():
        s = lb.get(f"{API}/admin/redpackets/{rid}/summary", admin=True).json
        return s["persisted_count"] == 1 and s
    wait_until(persisted, 60, "the grab persisted")
    time.sleep(max(0.0, (ends - time.time() * 1000) / 1000) + 0.2)
    delete_keys(stack, f"rp:{{{rid}}}:*")

    again = raw.post(f"{API}/redpackets/{rid}/grab", user=31)
    assert again.status == 200 and again.json == {"amount_cents": amount, "already_grabbed": True}
    late = raw.post(f"{API}/redpackets/{rid}/grab", user=32)
    assert late.status == 410 and late.error_code() == "ended", (late.status, late.body)
    got = raw.get(f"{API}/redpackets/{rid}").json
    assert got["remaining"] == 2 and got["status"] == "finished", got
    s = raw.get(f"{API}/admin/redpackets/{rid}/summary", admin=True).json
    assert s == {"granted_count": 1, "granted_cents": amount,
                 "persisted_count": 1, "persisted_cents": amount}
    # Nothing was written back to the shard by those answers.
    assert expiry(stack, f"rp:{{{rid}}}:meta") == -2


def test_live_redpacket_missing_on_its_shard_is_not_decided(uc, stack):
    lb, raw = uc["lb"], uc["lb_raw"]
    rp = create_redpacket(lb, total=10, count=2)
    delete_keys(stack, f"rp:{{{rp['id']}}}:*")
    r = raw.post(f"{API}/redpackets/{rp['id']}/grab", user=33)
    assert r.status == 503 and r.headers.get("Retry-After"), (r.status, r.body)
    assert r.error_code() == "unavailable"
    assert raw.post(f"{API}/redpackets/999999999/grab", user=33).status == 404


def test_flashsale_after_its_keys_expired(uc, stack, primary):
    lb, raw = uc["lb"], uc["lb_raw"]
    sale = create_flashsale(lb, create_product(primary), stock=5, limit=2, starts_in=-1, lasts=3)
    sid = sale["id"]
    r = lb.post(f"{API}/flashsales/{sid}/orders", user=34, body={"quantity": 2},
                headers={"Idempotency-Key": "retention"})
    assert r.status == 202, (r.status, r.body)
    ref = r.json["order_ref"]

    ends = ms_of(sale["ends_at"])
    for suffix in ("meta", "users", "refs", "idem"):
        assert abs(expiry(stack, f"fs:{{{sid}}}:{suffix}") - (ends + WEEK_MS)) <= 1000, suffix

    def confirmed():
        return lb.get(f"{API}/flashsale-orders/{ref}", user=34).json["status"] == "confirmed"
    wait_until(confirmed, 60, "the order confirmed")
    time.sleep(max(0.0, (ends - time.time() * 1000) / 1000) + 0.2)
    delete_keys(stack, f"fs:{{{sid}}}:*")

    late = raw.post(f"{API}/flashsales/{sid}/orders", user=35, body={"quantity": 1})
    assert late.status == 410 and late.error_code() == "ended", (late.status, late.body)
    got = raw.get(f"{API}/flashsales/{sid}").json
    assert got["remaining"] == 3 and got["status"] == "finished", got
    assert raw.get(f"{API}/admin/flashsales/{sid}/summary", admin=True).json == {
        "reserved": 2, "confirmed": 2}
    status = raw.get(f"{API}/flashsale-orders/{ref}", user=34).json
    assert status["status"] == "confirmed" and status["order_id"]


def test_live_flashsale_missing_on_its_shard_is_not_decided(uc, stack, primary):
    lb, raw = uc["lb"], uc["lb_raw"]
    sale = create_flashsale(lb, create_product(primary), stock=5, limit=1)
    delete_keys(stack, f"fs:{{{sale['id']}}}:*")
    r = raw.post(f"{API}/flashsales/{sale['id']}/orders", user=36, body={"quantity": 1})
    assert r.status == 503 and r.headers.get("Retry-After"), (r.status, r.body)
    assert r.error_code() == "unavailable"
