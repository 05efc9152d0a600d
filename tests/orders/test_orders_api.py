"""Checkout orders black-box tests (API.md §4): no overselling under a
storm, idempotency keys (sequential, concurrent, reused with another body),
page 1 fresh right after a new order through the load balancer and each app,
pagination edges, another user's order, and the list with the cache shards
down — against the shared stack and `surge serve` processes of our own.

Run: SURGE_BIN=build/surge /usr/bin/python3 -m pytest tests/orders
"""

from __future__ import annotations

import uuid

import pytest
import redis

from orders_support import ORDERS, new_product, place, run_together
from ucenter_support import Client, create_user, dead_address, own_server_env, sql, wait_replicas

ORDER_FIELDS = {"id", "status", "total_cents", "items", "created_at", "source"}


def stock_of(primary: str, product_id: int) -> int:
    (stock,), = sql(primary, "SELECT stock FROM products WHERE id = %s", (product_id,))
    return stock


def assert_error(r, status: int, code: str, field: str | None = None) -> None:
    assert r.status == status, (r.status, r.body)
    assert r.error_code() == code, r.body
    if field is not None:
        assert field in r.error_message(), r.body


# ---------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------

def test_order_needs_a_user_token(uc, stack):
    r = uc["lb"].post(ORDERS, body={"items": [{"product_id": 1, "quantity": 1}]})
    assert_error(r, 401, "unauthorized")
    r = uc["lb"].get(ORDERS)
    assert_error(r, 401, "unauthorized")


def test_place_and_read_an_order(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary, "ord")
    a = new_product(lb, stock=10, price=300)
    b = new_product(lb, stock=10, price=45)
    r = place(lb, uid, [{"product_id": b["id"], "quantity": 2}, {"product_id": a["id"], "quantity": 1}])
    assert r.status == 201, r.body
    order = r.json
    assert set(order) == ORDER_FIELDS
    assert order["status"] == "created" and order["source"] == "checkout"
    assert order["total_cents"] == 300 + 2 * 45
    assert order["items"] == sorted([
        {"product_id": a["id"], "quantity": 1, "price_cents": 300},
        {"product_id": b["id"], "quantity": 2, "price_cents": 45}], key=lambda i: i["product_id"])
    assert order["created_at"].endswith("Z")
    assert stock_of(primary, a["id"]) == 9 and stock_of(primary, b["id"]) == 8

    for client in (lb, uc["app-0"], uc["app-1"]):
        got = client.get(f"{ORDERS}/{order['id']}", user=uid)
        assert got.status == 200 and got.json == order
        assert got.headers.get("ETag")
    # The product shows the new stock at once.
    assert lb.get(f"/api/v1/products/{a['id']}").json["stock"] == 9


def test_duplicate_product_ids_are_merged(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary, "ord")
    p = new_product(lb, stock=10, price=7)
    r = place(lb, uid, [{"product_id": p["id"], "quantity": 1}, {"product_id": p["id"], "quantity": 3}])
    assert r.status == 201, r.body
    assert r.json["items"] == [{"product_id": p["id"], "quantity": 4, "price_cents": 7}]
    assert r.json["total_cents"] == 28
    assert stock_of(primary, p["id"]) == 6


@pytest.mark.parametrize("body, field", [
    ({"items": []}, "items"),
    ({}, "items"),
    ({"items": "x"}, "items"),
    ({"items": [{"product_id": 1}]}, "quantity"),
    ({"items": [{"quantity": 1}]}, "product_id"),
    ({"items": [{"product_id": 1, "quantity": 0}]}, "quantity"),
    ({"items": [{"product_id": 1, "quantity": -2}]}, "quantity"),
    ({"items": [{"product_id": 1, "quantity": 1.5}]}, "quantity"),
    ({"items": [{"product_id": 0, "quantity": 1}]}, "product_id"),
    ({"items": [{"product_id": "1", "quantity": 1}]}, "product_id"),
    ({"items": [{"product_id": 1, "quantity": 1, "x": 1}]}, "x"),
    ({"items": [{"product_id": 1, "quantity": 1}], "extra": 1}, "extra"),
    ({"items": [1]}, "items[0]"),
])
def test_bad_items_are_400(uc, primary, body, field):
    r = uc["lb"].post(ORDERS, user=1, body=body)
    assert_error(r, 400, "invalid_request", field)


def test_malformed_body_is_400(uc):
    r = uc["lb"].post(ORDERS, user=1, raw=b"{not json")
    assert_error(r, 400, "invalid_request")


def test_unknown_product_is_404_and_changes_nothing(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary, "ord")
    p = new_product(lb, stock=5)
    (missing,), = sql(primary, "SELECT COALESCE(max(id), 0) + 1000000 FROM products")
    r = place(lb, uid, [{"product_id": p["id"], "quantity": 1}, {"product_id": missing, "quantity": 1}])
    assert_error(r, 404, "not_found", str(missing))
    assert stock_of(primary, p["id"]) == 5
    (n,), = sql(primary, "SELECT count(*) FROM orders WHERE user_id = %s", (uid,))
    assert n == 0


def test_a_token_for_a_user_that_does_not_exist_places_nothing(uc, primary):
    # A token is a signature only; an id no user holds (yet) must not get an
    # order that the user registered with that id later would find.
    lb = uc["lb"]
    p = new_product(lb, stock=5)
    (ghost,), = sql(primary, "SELECT COALESCE(max(id), 0) + 1000000 FROM users")
    r = place(lb, ghost, [{"product_id": p["id"], "quantity": 1}])
    assert_error(r, 404, "not_found", "user")
    r = place(lb, ghost, [{"product_id": p["id"], "quantity": 1}], key=f"ghost-{uuid.uuid4()}")
    assert_error(r, 404, "not_found", "user")
    assert stock_of(primary, p["id"]) == 5
    (n,), = sql(primary, "SELECT count(*) FROM orders WHERE user_id = %s", (ghost,))
    assert n == 0


def test_insufficient_stock_is_409_and_changes_nothing(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary, "ord")
    a = new_product(lb, stock=5)
    b = new_product(lb, stock=1)
    r = place(lb, uid, [{"product_id": a["id"], "quantity": 2}, {"product_id": b["id"], "quantity": 2}])
    assert_error(r, 409, "insufficient_stock")
    assert stock_of(primary, a["id"]) == 5 and stock_of(primary, b["id"]) == 1
    # However large the quantity: more than the stock is a 409, not a 400.
    big = new_product(lb, stock=100_000)
    for quantity in (100_001, 10**15):
        r = place(lb, uid, [{"product_id": big["id"], "quantity": quantity}])
        assert_error(r, 409, "insufficient_stock")
    assert stock_of(primary, big["id"]) == 100_000
    r = place(lb, uid, [{"product_id": big["id"], "quantity": 100_000}])
    assert r.status == 201, r.body
    assert stock_of(primary, big["id"]) == 0


def test_storm_never_oversells(uc, stack, primary):
    """100 single-unit orders released together on a stock of 50."""
    lb = uc["lb"]
    p = new_product(lb, stock=50, price=100)
    users = [create_user(primary, "storm")[0] for _ in range(100)]
    secret, admin = stack.vars["SURGE_TOKEN_SECRET"], stack.vars["SURGE_ADMIN_TOKEN"]
    bases = [stack.url, f"http://127.0.0.1:{stack.port('app-0')}",
             f"http://127.0.0.1:{stack.port('app-1')}"]
    clients = [Client(bases[i % 3], secret, admin) for i in range(100)]

    def one(i: int):
        return place(clients[i], users[i], [{"product_id": p["id"], "quantity": 1}]).status

    statuses = run_together(100, one)
    assert statuses.count(201) == 50, statuses
    assert statuses.count(409) == 50, statuses
    assert stock_of(primary, p["id"]) == 0
    (n, units), = sql(primary, "SELECT count(DISTINCT order_id), COALESCE(sum(quantity), 0) "
                               "FROM order_items WHERE product_id = %s", (p["id"],))
    assert n == 50 and units == 50


# ---------------------------------------------------------------------------
# Idempotency-Key
# ---------------------------------------------------------------------------

def test_idempotency_key_sequential(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary, "idem")
    p = new_product(lb, stock=10)
    q = new_product(lb, stock=10)
    key = uuid.uuid4().hex
    items = [{"product_id": p["id"], "quantity": 2}]
    first = place(lb, uid, items, key)
    assert first.status == 201, first.body
    for client in (lb, uc["app-0"], uc["app-1"]):
        again = place(client, uid, items, key)
        assert again.status == 200 and again.json == first.json
    # The same items written differently are the same request.
    split = [{"product_id": p["id"], "quantity": 1}, {"product_id": p["id"], "quantity": 1}]
    assert place(lb, uid, split, key).json == first.json
    assert stock_of(primary, p["id"]) == 8
    # Same key, different body.
    r = place(lb, uid, [{"product_id": q["id"], "quantity": 1}], key)
    assert_error(r, 422, "idempotency_key_reused")
    r = place(lb, uid, [{"product_id": p["id"], "quantity": 3}], key)
    assert_error(r, 422, "idempotency_key_reused")
    assert stock_of(primary, q["id"]) == 10
    (n,), = sql(primary, "SELECT count(*) FROM orders WHERE user_id = %s", (uid,))
    assert n == 1
    # Another user may use the same key.
    other, _ = create_user(primary, "idem")
    assert place(lb, other, items, key).status == 201


def test_idempotency_key_concurrent(uc, stack, primary):
    """20 requests with one key released together: one order, all answered
    with it — even when the stock holds one unit only."""
    secret, admin = stack.vars["SURGE_TOKEN_SECRET"], stack.vars["SURGE_ADMIN_TOKEN"]
    bases = [stack.url, f"http://127.0.0.1:{stack.port('app-0')}",
             f"http://127.0.0.1:{stack.port('app-1')}"]
    for stock in (100, 1):
        uid, _ = create_user(primary, "idem")
        p = new_product(uc["lb"], stock=stock)
        key = uuid.uuid4().hex
        clients = [Client(bases[i % 3], secret, admin) for i in range(20)]
        replies = run_together(20, lambda i: place(clients[i], uid,
                                                   [{"product_id": p["id"], "quantity": 1}], key))
        statuses = [r.status if hasattr(r, "status") else repr(r) for r in replies]
        assert statuses.count(201) == 1, statuses
        assert statuses.count(200) == 19, statuses
        assert len({r.json["id"] for r in replies}) == 1
        (n,), = sql(primary, "SELECT count(*) FROM orders WHERE user_id = %s", (uid,))
        assert n == 1
        assert stock_of(primary, p["id"]) == stock - 1


def test_bad_idempotency_key_is_400(uc):
    r = place(uc["lb"], 1, [{"product_id": 1, "quantity": 1}], "x" * 201)
    assert_error(r, 400, "invalid_request", "Idempotency-Key")


# ---------------------------------------------------------------------------
# Lists
# ---------------------------------------------------------------------------

def test_page1_is_fresh_after_each_order(uc, primary):
    """Page 1 is cached; a new order shows at once, whichever server reads."""
    lb, a0, a1 = uc["lb"], uc["app-0"], uc["app-1"]
    uid, _ = create_user(primary, "fresh")
    p = new_product(lb, stock=1000)
    for client in (lb, a0, a1):
        r = client.get(ORDERS, user=uid)
        assert r.status == 200 and r.json == {"page": 1, "page_size": 40, "orders": [], "has_more": False}
    ids = []
    plan = [(lb, lb), (a0, a1), (a1, a0), (a0, a0), (a1, a1), (lb, a0), (lb, a1)] * 2
    for writer, reader in plan:
        reader.get(ORDERS, user=uid)  # make sure page 1 is cached before the write
        r = place(writer, uid, [{"product_id": p["id"], "quantity": 1}])
        assert r.status == 201
        ids.append(r.json["id"])
        got = reader.get(ORDERS, user=uid)
        assert got.status == 200
        assert [o["id"] for o in got.json["orders"]] == ids[::-1]
        assert got.json["orders"][0] == r.json


def test_page1_is_cached_on_the_users_shard(uc, stack, primary):
    uid, _ = create_user(primary, "cache")
    p = new_product(uc["lb"], stock=10)
    assert place(uc["lb"], uid, [{"product_id": p["id"], "quantity": 1}]).status == 201
    assert uc["lb"].get(ORDERS, user=uid).status == 200
    key = f"user:{{{uid}}}:orders:page1"
    found = []
    for address in stack.vars["SURGE_REDIS"].split(","):
        host, port = address.rsplit(":", 1)
        value = redis.Redis(host=host, port=int(port)).get(key)
        if value is not None:
            found.append(value)
    assert len(found) == 1
    assert found[0] == uc["lb"].get(ORDERS, user=uid).body


def test_pagination_edges(uc, primary):
    lb = uc["lb"]
    uid, _ = create_user(primary, "page")
    assert lb.get(ORDERS + "?page=3&page_size=2", user=uid).json == {
        "page": 3, "page_size": 2, "orders": [], "has_more": False}
    p = new_product(lb, stock=100)
    ids = [place(lb, uid, [{"product_id": p["id"], "quantity": 1}]).json["id"] for _ in range(5)]
    newest_first = ids[::-1]
    wait_replicas(primary)
    seen = []
    for page, more in ((1, True), (2, True), (3, False)):
        r = lb.get(f"{ORDERS}?page={page}&page_size=2", user=uid)
        assert r.status == 200
        assert r.json["page"] == page and r.json["page_size"] == 2 and r.json["has_more"] is more
        seen += [o["id"] for o in r.json["orders"]]
    assert seen == newest_first
    r = lb.get(f"{ORDERS}?page=1&page_size=5", user=uid)
    assert r.json["has_more"] is False and len(r.json["orders"]) == 5
    r = lb.get(f"{ORDERS}?page=4&page_size=2", user=uid)
    assert r.json["orders"] == [] and r.json["has_more"] is False
    r = lb.get(ORDERS, user=uid)
    assert r.json["page_size"] == 40 and [o["id"] for o in r.json["orders"]] == newest_first
    for query, field in (("page_size=0", "page_size"), ("page_size=101", "page_size"),
                         ("page_size=abc", "page_size"), ("page_size=-1", "page_size"),
                         ("page_size=", "page_size"), ("page=0", "page"), ("page=x", "page"),
                         ("page=1.5", "page")):
        assert_error(lb.get(f"{ORDERS}?{query}", user=uid), 400, "invalid_request", field)
    assert lb.get(f"{ORDERS}?page_size=100", user=uid).status == 200


def test_etag_on_the_list(uc, primary):
    uid, _ = create_user(primary, "etag")
    r = uc["lb"].get(ORDERS, user=uid)
    tag = r.headers["ETag"]
    again = uc["lb"].get(ORDERS, user=uid, headers={"If-None-Match": tag})
    assert again.status == 304 and again.body == b""


def test_another_users_order_is_404(uc, primary):
    lb = uc["lb"]
    owner, _ = create_user(primary, "own")
    stranger, _ = create_user(primary, "own")
    p = new_product(lb, stock=10)
    order = place(lb, owner, [{"product_id": p["id"], "quantity": 1}]).json
    assert_error(lb.get(f"{ORDERS}/{order['id']}", user=stranger), 404, "not_found")
    assert lb.get(f"{ORDERS}/{order['id']}", user=owner).status == 200
    assert_error(lb.get(f"{ORDERS}/{order['id'] + 10**9}", user=owner), 404, "not_found")
    assert_error(lb.get(f"{ORDERS}/abc", user=owner), 404, "not_found")
    assert order["id"] not in [o["id"] for o in lb.get(ORDERS, user=stranger).json["orders"]]


def test_list_answers_with_the_cache_shards_down(uc, stack, primary, server):
    """Own server whose Redis shard is an address where nothing listens."""
    uid, _ = create_user(primary, "down")
    p = new_product(uc["lb"], stock=10)
    srv = server(**own_server_env(stack, SURGE_REDIS_SHARDS=dead_address()))
    own = Client(f"http://127.0.0.1:{srv.port}", stack.vars["SURGE_TOKEN_SECRET"])
    r = place(own, uid, [{"product_id": p["id"], "quantity": 1}])
    assert r.status == 201, r.body
    got = own.get(ORDERS, user=uid)
    assert got.status == 200 and [o["id"] for o in got.json["orders"]] == [r.json["id"]]
    assert own.get(f"{ORDERS}?page=1&page_size=10", user=uid).json["orders"][0] == r.json


def test_later_pages_read_your_writes_at_once(uc, primary):
    # Pages after the first come from a replica; right after the owner's
    # order they must already show it (read-your-writes, API.md §2/§4), on
    # every server, without waiting for the replica.
    uid, _ = create_user(primary, "ryw")
    p = new_product(uc["lb"], stock=100)
    ids = []
    for _ in range(4):
        ids.append(place(uc["lb"], uid, [{"product_id": p["id"], "quantity": 1}]).json["id"])
        for client in (uc["lb"], uc["app-0"], uc["app-1"]):
            r = client.get(f"{ORDERS}?page=2&page_size=1", user=uid)
            assert r.status == 200, r.body
            want = [ids[-2]] if len(ids) >= 2 else []
            assert [o["id"] for o in r.json["orders"]] == want, (len(ids), r.json)
