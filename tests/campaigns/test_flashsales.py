"""Flash sales (API.md §6) against the shared stack: creation, the storm
(stock 100, limit 1, 600 users x 2 concurrent orders), exactly one order per
reservation (orders.source = 'flashsale', one order_items row at the sale
price), order refs, the window / sold-out / limit paths, Idempotency-Key.
"""

from __future__ import annotations

from campaign_support import Storm, create_flashsale, create_product, rfc3339, wait_until
from ucenter_support import API, sql

SALE_FIELDS = {"id", "product_id", "stock", "remaining", "price_cents", "per_user_limit",
               "starts_at", "ends_at", "status"}


def test_create_validates_and_404s(uc, primary):
    lb = uc["lb"]
    pid = create_product(primary)
    good = {"product_id": pid, "stock": 5, "price_cents": 100, "per_user_limit": 1,
            "starts_at": rfc3339(0), "ends_at": rfc3339(60)}
    for patch, field in [({"per_user_limit": 0}, "per_user_limit"), ({"stock": -1}, "stock"),
                         ({"ends_at": good["starts_at"]}, "ends_at"),
                         ({"price_cents": -5}, "price_cents"), ({"stock": 0}, "stock"),
                         ({"product_id": 0}, "product_id"), ({"product_id": -1}, "product_id"),
                         # Its largest order's total would not fit in 64 bits.
                         ({"price_cents": 2**63 - 1, "per_user_limit": 2}, "price_cents")]:
        r = lb.post(API + "/admin/flashsales", admin=True, body={**good, **patch})
        assert r.status == 400 and r.error_code() == "invalid_request", (patch, r.status, r.body)
        assert field in r.error_message()
    r = lb.post(API + "/admin/flashsales", admin=True, body={**good, "product_id": 999999999})
    assert r.status == 404
    sale = create_flashsale(lb, pid, stock=5, limit=2)
    r = lb.get(f"{API}/flashsales/{sale['id']}")
    assert r.status == 200 and set(r.json) >= SALE_FIELDS
    assert r.json["remaining"] == 5 and r.json["status"] == "active"
    assert lb.get(f"{API}/flashsales/999999999").status == 404
    assert lb.post(f"{API}/flashsales/999999999/orders", user=3, body={"quantity": 1}).status == 404


def test_paths_and_idempotency(uc, primary):
    lb = uc["lb"]
    pid = create_product(primary)
    later = create_flashsale(lb, pid, stock=5, limit=1, starts_in=3600)
    r = lb.post(f"{API}/flashsales/{later['id']}/orders", user=21, body={"quantity": 1})
    assert r.status == 403 and r.error_code() == "not_started"
    ended = create_flashsale(lb, pid, stock=5, limit=1, starts_in=-2, lasts=1)
    r = lb.post(f"{API}/flashsales/{ended['id']}/orders", user=21, body={"quantity": 1})
    assert r.status == 410 and r.error_code() == "ended"

    sale = create_flashsale(lb, pid, stock=3, limit=2, price=777)
    path = f"{API}/flashsales/{sale['id']}/orders"
    r = lb.post(path, user=21, body={"quantity": 0})
    assert r.status == 400
    # The body is {"quantity"}: missing or ill-typed is a 400 naming it.
    for bad in ({}, {"quantity": "1"}, {"quantity": 1.5}):
        r = lb.post(path, user=21, body=bad)
        assert r.status == 400 and r.error_code() == "invalid_request", (bad, r.body)
        assert "quantity" in r.json["error"]["message"], r.body
    assert lb.post(path, user=21).status == 400
    first = lb.post(path, user=21, body={"quantity": 1}, headers={"Idempotency-Key": "k1"})
    assert first.status == 202 and first.json["status"] == "queued"
    again = lb.post(path, user=21, body={"quantity": 1}, headers={"Idempotency-Key": "k1"})
    assert again.status == 202 and again.json["order_ref"] == first.json["order_ref"]
    # The same key with another body (quantity) is refused, as for checkout.
    r = lb.post(path, user=21, body={"quantity": 2}, headers={"Idempotency-Key": "k1"})
    assert r.status == 422 and r.error_code() == "idempotency_key_reused", r.body
    r = lb.post(path, user=21, body={"quantity": 1}, headers={"Idempotency-Key": ""})
    assert r.status == 400 and r.error_code() == "invalid_request", r.body
    r = lb.post(path, user=21, body={"quantity": 2})
    assert r.status == 409 and r.error_code() == "limit_exceeded"
    assert lb.post(path, user=21, body={"quantity": 1},
                   headers={"Idempotency-Key": "k2"}).status == 202
    r = lb.post(path, user=22, body={"quantity": 2})
    assert r.status == 410 and r.error_code() == "sold_out"
    assert lb.post(path, user=22, body={"quantity": 1},
                   headers={"Idempotency-Key": "k3"}).status == 202

    ref = first.json["order_ref"]
    r = lb.get(f"{API}/flashsale-orders/{ref}", user=22)
    assert r.status == 404  # another user's
    assert lb.get(f"{API}/flashsale-orders/nope", user=21).status == 404

    def confirmed():
        r = lb.get(f"{API}/flashsale-orders/{ref}", user=21)
        assert r.status == 200 and r.json["order_ref"] == ref
        return r.json if r.json["status"] == "confirmed" else None
    status = wait_until(confirmed, 60, "order confirmed")
    assert isinstance(status["order_id"], int)
    (total, source, user), = sql(primary, "SELECT total_cents, source, user_id FROM orders "
                                          "WHERE id = %s", (status["order_id"],))
    assert (total, source, user) == (777, "flashsale", 21)
    items = sql(primary, "SELECT product_id, quantity, price_cents FROM order_items "
                         "WHERE order_id = %s", (status["order_id"],))
    assert items == [(pid, 1, 777)]
    s = wait_until(lambda: (lambda b: b if b["confirmed"] == 3 else None)(
        lb.get(f"{API}/admin/flashsales/{sale['id']}/summary", admin=True).json),
        60, "3 units confirmed")
    assert s == {"reserved": 3, "confirmed": 3}


def test_storm_stock_100_limit_1_600_users_twice(uc, stack, primary):
    lb = uc["lb"]
    pid = create_product(primary)
    sale = create_flashsale(lb, pid, stock=100, limit=1, price=990)
    users = list(range(2001 - 600, 2001))
    results = Storm(stack.url, stack.vars["SURGE_TOKEN_SECRET"],
                    f"{API}/flashsales/{sale['id']}/orders", users, per_user=2, groups=60,
                    body={"quantity": 1}).run()
    refs: dict[int, str] = {}
    for user, answers in results.items():
        assert len(answers) == 2, (user, answers)
        ok = [b for s, b in answers if s == 202]
        for s, b in answers:
            if s != 202:
                assert (s, b["error"]["code"]) in {(410, "sold_out"), (409, "limit_exceeded")}, \
                    (user, s, b)
        assert len(ok) <= 1, (user, answers)  # limit 1
        if ok:
            refs[user] = ok[0]["order_ref"]
    assert len(refs) == 100

    def all_confirmed():
        rows = sql(primary, "SELECT count(*), COALESCE(sum(quantity), 0) FROM flashsale_orders "
                            "WHERE flashsale_id = %s AND status = 'confirmed'", (sale["id"],))
        return rows[0][0] == 100
    wait_until(all_confirmed, 60, "100 confirmed orders")
    rows = sql(primary, """
        SELECT f.order_ref, f.user_id, o.user_id, o.source, o.total_cents, i.product_id,
               i.quantity, i.price_cents
        FROM flashsale_orders f JOIN orders o ON o.id = f.order_id
        JOIN order_items i ON i.order_id = o.id
        WHERE f.flashsale_id = %s""", (sale["id"],))
    assert len(rows) == 100
    assert {r[0]: r[1] for r in rows} == {ref: user for user, ref in refs.items()}
    for _, fu, ou, source, total, product, qty, price in rows:
        assert fu == ou and source == "flashsale" and total == 990
        assert (product, qty, price) == (pid, 1, 990)
    s = lb.get(f"{API}/admin/flashsales/{sale['id']}/summary", admin=True).json
    assert s == {"reserved": 100, "confirmed": 100}
    assert lb.get(f"{API}/flashsales/{sale['id']}").json["remaining"] == 0
    user, ref = next(iter(refs.items()))
    r = lb.get(f"{API}/flashsale-orders/{ref}", user=user)
    assert r.status == 200 and r.json["status"] == "confirmed"


def test_confirmed_order_is_in_the_buyers_order_list(uc, primary):
    # API.md §6: every reservation becomes one confirmed order in the buyer's
    # order list — page 1 of which is cached (§4), so the worker's insert
    # must reach the cached page too.
    lb = uc["lb"]
    pid = create_product(primary)
    sale = create_flashsale(lb, pid, stock=3, limit=1, price=555)
    buyer = 7_100_001
    before = lb.get(f"{API}/orders", user=buyer)  # warms the cached page 1
    assert before.status == 200
    r = lb.post(f"{API}/flashsales/{sale['id']}/orders", user=buyer, body={"quantity": 1})
    assert r.status == 202 and r.json["status"] == "queued", r.body
    ref = r.json["order_ref"]

    def confirmed():
        s = lb.get(f"{API}/flashsale-orders/{ref}", user=buyer)
        return s.json if s.status == 200 and s.json["status"] == "confirmed" else None
    status = wait_until(confirmed, 60, "the reservation confirmed")
    assert set(status) == {"order_ref", "status", "order_id"} and status["order_ref"] == ref
    orders = lb.get(f"{API}/orders", user=buyer).json["orders"]
    assert orders and orders[0]["id"] == status["order_id"], orders[:2]
    assert orders[0]["source"] == "flashsale"
    assert orders[0]["items"] == [{"product_id": pid, "quantity": 1, "price_cents": 555}]
    assert orders[0]["total_cents"] == 555
    one = lb.get(f"{API}/orders/{status['order_id']}", user=buyer)
    assert one.status == 200 and one.json["source"] == "flashsale"
    # Another user cannot see the reference.
    assert lb.get(f"{API}/flashsale-orders/{ref}", user=buyer + 1).status == 404


def test_sale_stock_is_independent_of_the_product_stock(uc, primary):
    lb = uc["lb"]
    product = lb.post(API + "/admin/products", admin=True,
                      body={"name": "fs-independent", "price_cents": 2000, "stock": 50}).json
    sale = create_flashsale(lb, product["id"], stock=2, limit=2, price=100)
    r = lb.post(f"{API}/flashsales/{sale['id']}/orders", user=7_100_010, body={"quantity": 2})
    assert r.status == 202, r.body
    wait_until(lambda: lb.get(f"{API}/admin/flashsales/{sale['id']}/summary",
                              admin=True).json == {"reserved": 2, "confirmed": 2},
               60, "the reservation confirmed")
    assert lb.get(f"{API}/products/{product['id']}").json["stock"] == 50
    assert lb.get(f"{API}/flashsales/{sale['id']}").json["remaining"] == 0


def test_sale_status_and_etag(uc, primary):
    lb = uc["lb"]
    pid = create_product(primary)
    later = create_flashsale(lb, pid, stock=1, limit=1, starts_in=3600)
    assert lb.get(f"{API}/flashsales/{later['id']}").json["status"] == "pending"
    ended = create_flashsale(lb, pid, stock=1, limit=1, starts_in=-2, lasts=1)
    assert lb.get(f"{API}/flashsales/{ended['id']}").json["status"] == "finished"
    sold = create_flashsale(lb, pid, stock=1, limit=1)
    assert lb.post(f"{API}/flashsales/{sold['id']}/orders", user=7_100_020,
                   body={"quantity": 1}).status == 202
    assert lb.get(f"{API}/flashsales/{sold['id']}").json["status"] == "finished"
    # Cacheable GET: an ETag every server agrees on, 304 on a match.
    r = lb.get(f"{API}/flashsales/{later['id']}")
    etag = r.headers["ETag"]
    for app in ("app-0", "app-1"):
        assert uc[app].get(f"{API}/flashsales/{later['id']}").headers["ETag"] == etag
        again = uc[app].get(f"{API}/flashsales/{later['id']}", headers={"If-None-Match": etag})
        assert again.status == 304 and again.body in (b"", "", None)


def test_summaries_of_unknown_campaigns_are_404(uc):
    for kind in ("flashsales", "redpackets"):
        r = uc["lb"].get(f"{API}/admin/{kind}/999999999/summary", admin=True)
        assert r.status == 404 and r.error_code() == "not_found", (kind, r.body)


def test_the_per_user_limit_is_checked_before_the_stock(uc, primary):
    # Over the limit is the buyer's mistake whatever is left: 409, not 410.
    lb = uc["lb"]
    pid = create_product(primary)
    sale = create_flashsale(lb, pid, stock=5, limit=2)
    path = f"{API}/flashsales/{sale['id']}/orders"
    r = lb.post(path, user=31, body={"quantity": 6})
    assert r.status == 409 and r.error_code() == "limit_exceeded", r.body
    assert lb.post(path, user=31, body={"quantity": 2}).status == 202
    r = lb.post(path, user=31, body={"quantity": 1})
    assert r.status == 409 and r.error_code() == "limit_exceeded", r.body
    for user in (32, 33):
        assert lb.post(path, user=user, body={"quantity": 1}).status == 202
    r = lb.post(path, user=34, body={"quantity": 2})
    assert r.status == 410 and r.error_code() == "sold_out", r.body
    # Not all gone: the message says how many units a smaller order can get.
    assert "1 unit(s) remain" in r.error_message(), r.body
    assert lb.post(path, user=34, body={"quantity": 1}).status == 202
    r = lb.post(path, user=35, body={"quantity": 1})
    assert r.status == 410 and r.error_code() == "sold_out", r.body
    assert lb.get(f"{API}/flashsales/{sale['id']}").json["remaining"] == 0
