"""Products and catalog-version black-box tests (API.md §4, §7): admin
writes, public reads with ETag/304, pagination edges, freshness after a
change on every server, single flight on a burst of misses, and the admin
cache scopes "products" and "catalog".

Run: SURGE_BIN=build/surge /usr/bin/python3 -m pytest tests/catalog
"""

from __future__ import annotations

import pytest

from orders_support import ADMIN_PRODUCTS, INVALIDATE, PRODUCTS, new_product, run_together
from ucenter_support import Client, metric_value, own_server_env, sql

PRODUCT_FIELDS = {"id", "name", "price_cents", "stock", "updated_at"}


def assert_error(r, status: int, code: str, field: str | None = None) -> None:
    assert r.status == status, (r.status, r.body)
    assert r.error_code() == code, r.body
    if field is not None:
        assert field in r.error_message(), r.body


def test_create_and_get_a_product(uc):
    lb = uc["lb"]
    p = new_product(lb, stock=7, price=1234, name="Blue mug")
    assert set(p) == PRODUCT_FIELDS
    assert p["name"] == "Blue mug" and p["price_cents"] == 1234 and p["stock"] == 7
    assert p["updated_at"].endswith("Z")
    for client in (lb, uc["app-0"], uc["app-1"]):
        r = client.get(f"{PRODUCTS}/{p['id']}")
        assert r.status == 200 and r.json == p
        tag = r.headers["ETag"]
        again = client.get(f"{PRODUCTS}/{p['id']}", headers={"If-None-Match": tag})
        assert again.status == 304 and again.body == b""
    # Every server gives the same ETag for the same product.
    assert len({c.get(f"{PRODUCTS}/{p['id']}").headers["ETag"]
                for c in (uc["app-0"], uc["app-1"])}) == 1


def test_admin_routes_need_the_admin_token(uc):
    r = uc["lb"].post(ADMIN_PRODUCTS, user=1, body={"name": "x", "price_cents": 1, "stock": 1})
    assert_error(r, 403, "forbidden")
    r = uc["lb"].post(ADMIN_PRODUCTS, body={"name": "x", "price_cents": 1, "stock": 1})
    assert_error(r, 401, "unauthorized")


@pytest.mark.parametrize("body, field", [
    ({"price_cents": 1, "stock": 1}, "name"),
    ({"name": "", "price_cents": 1, "stock": 1}, "name"),
    ({"name": "   ", "price_cents": 1, "stock": 1}, "name"),
    ({"name": "x" * 201, "price_cents": 1, "stock": 1}, "name"),
    ({"name": "Blue\nmug", "price_cents": 1, "stock": 1}, "name"),
    ({"name": "Blue\tmug", "price_cents": 1, "stock": 1}, "name"),
    ({"name": 5, "price_cents": 1, "stock": 1}, "name"),
    ({"name": "x", "stock": 1}, "price_cents"),
    ({"name": "x", "price_cents": -1, "stock": 1}, "price_cents"),
    ({"name": "x", "price_cents": "1", "stock": 1}, "price_cents"),
    ({"name": "x", "price_cents": 1}, "stock"),
    ({"name": "x", "price_cents": 1, "stock": -5}, "stock"),
    ({"name": "x", "price_cents": 1, "stock": 1, "color": "red"}, "color"),
])
def test_bad_product_bodies_are_400(uc, body, field):
    assert_error(uc["lb"].post(ADMIN_PRODUCTS, admin=True, body=body), 400, "invalid_request", field)


def test_patch_is_visible_everywhere_at_once(uc):
    lb, a0, a1 = uc["lb"], uc["app-0"], uc["app-1"]
    p = new_product(lb, stock=3, price=100)
    for c in (a0, a1):
        assert c.get(f"{PRODUCTS}/{p['id']}").json["price_cents"] == 100  # cached now
    r = lb.patch(f"{ADMIN_PRODUCTS}/{p['id']}", admin=True, body={"price_cents": 150, "stock": 9})
    assert r.status == 200 and r.json["price_cents"] == 150 and r.json["stock"] == 9
    assert r.json["name"] == p["name"]
    for c in (a0, a1, lb):
        got = c.get(f"{PRODUCTS}/{p['id']}").json
        assert got["price_cents"] == 150 and got["stock"] == 9
    r = lb.patch(f"{ADMIN_PRODUCTS}/{p['id']}", admin=True, body={"name": "Renamed"})
    assert r.status == 200 and r.json["name"] == "Renamed" and r.json["stock"] == 9
    assert_error(lb.patch(f"{ADMIN_PRODUCTS}/{p['id']}", admin=True, body={"stock": -1}),
                 400, "invalid_request", "stock")


def test_patch_unknown_product_is_404(uc, primary):
    (missing,), = sql(primary, "SELECT COALESCE(max(id), 0) + 1000000 FROM products")
    r = uc["lb"].patch(f"{ADMIN_PRODUCTS}/{missing}", admin=True, body={"stock": 1})
    assert_error(r, 404, "not_found")


def test_unknown_product_is_404_then_created_is_found(uc, primary):
    (next_id,), = sql(primary, "SELECT last_value + 1 FROM products_id_seq")
    assert_error(uc["lb"].get(f"{PRODUCTS}/{next_id + 5000}"), 404, "not_found")
    assert_error(uc["lb"].get(f"{PRODUCTS}/abc"), 404, "not_found")
    # The ids the next creation can take are cached as absent on every
    # server; the creation is visible on all of them at once all the same
    # (API.md §2: every following read, no stale cache).
    candidates = range(next_id - 1, next_id + 3)
    for app in ("app-0", "app-1"):
        for pid in candidates:
            uc[app].get(f"{PRODUCTS}/{pid}")
    p = new_product(uc["lb"])
    assert p["id"] in candidates, (p["id"], list(candidates))
    for client in (uc["lb"], uc["app-0"], uc["app-1"]):
        r = client.get(f"{PRODUCTS}/{p['id']}")
        assert r.status == 200 and r.json["name"] == p["name"], (r.status, r.body)
    # The other candidates stay cached as absent for a while: forget them, so
    # products later tests insert straight into the database are not hidden.
    for other in candidates:
        r = uc["lb"].post(INVALIDATE, admin=True, body={"scope": "products", "id": other})
        assert r.status == 200, r.body


def test_list_pages(uc, primary):
    lb = uc["lb"]
    new_product(lb)
    (count,), = sql(primary, "SELECT count(*) FROM products")
    r = lb.get(PRODUCTS)
    assert r.status == 200 and r.json["page"] == 1 and r.json["page_size"] == 40
    assert r.headers.get("ETag")
    ids = []
    page = 1
    while True:
        r = lb.get(f"{PRODUCTS}?page={page}&page_size=7")
        assert r.status == 200
        body = r.json
        assert set(body) == {"page", "page_size", "products", "has_more"}
        ids += [p["id"] for p in body["products"]]
        if not body["has_more"]:
            break
        assert len(body["products"]) == 7
        page += 1
    assert len(ids) >= count and ids == sorted(ids)
    beyond = lb.get(f"{PRODUCTS}?page={page + 1}&page_size=7").json
    assert beyond["products"] == [] and beyond["has_more"] is False
    for query, field in (("page_size=0", "page_size"), ("page_size=101", "page_size"),
                         ("page_size=abc", "page_size"), ("page=0", "page"), ("page=-3", "page"),
                         ("page=abc", "page")):
        assert_error(lb.get(f"{PRODUCTS}?{query}"), 400, "invalid_request", field)


def test_list_shows_a_new_product_at_once(uc):
    lb = uc["lb"]
    before = [lb.get(f"{PRODUCTS}?page=1&page_size=100").json for _ in range(2)]
    assert before[0] == before[1]
    p = new_product(lb)
    for c in (uc["app-0"], uc["app-1"]):
        ids = []
        page = 1
        while True:
            body = c.get(f"{PRODUCTS}?page={page}&page_size=100").json
            ids += [x["id"] for x in body["products"]]
            if not body["has_more"]:
                break
            page += 1
        assert p["id"] in ids


def test_burst_of_misses_does_one_load(uc, stack, server):
    """50 concurrent GETs of a product this server has never seen: one
    loader call (single flight), visible in surge_cache_loads_total."""
    p = new_product(uc["lb"])
    srv = server(**own_server_env(stack))
    base = f"http://127.0.0.1:{srv.port}"
    before = metric_value(srv.metrics_text(), "surge_cache_loads_total", cache="products")
    clients = [Client(base) for _ in range(50)]
    replies = run_together(50, lambda i: clients[i].get(f"{PRODUCTS}/{p['id']}"))
    assert all(r.status == 200 and r.json == p for r in replies), replies
    after = metric_value(srv.metrics_text(), "surge_cache_loads_total", cache="products")
    assert after - before == 1
    text = srv.metrics_text()
    assert metric_value(text, "surge_cache_loads_shared_total", cache="products") >= 0


@pytest.mark.parametrize("body", [
    {"scope": "products"},
    {"scope": "products", "id": 1},
    {"scope": "catalog"},
])
def test_admin_cache_scopes(uc, body):
    r = uc["lb"].post(INVALIDATE, admin=True, body=body)
    assert r.status == 200, r.body
    assert r.json["scope"] == body["scope"] and r.json["invalidated"] is True


def test_catalog_scope_takes_no_id(uc):
    assert_error(uc["lb"].post(INVALIDATE, admin=True, body={"scope": "catalog", "id": 3}),
                 400, "invalid_request", "id")


def test_admin_scope_refreshes_a_change_made_behind_the_api(uc, primary):
    lb = uc["lb"]
    p = new_product(lb, stock=5)
    assert lb.get(f"{PRODUCTS}/{p['id']}").json["stock"] == 5
    sql(primary, "UPDATE products SET stock = 77 WHERE id = %s", (p["id"],))
    r = lb.post(INVALIDATE, admin=True, body={"scope": "products", "id": p["id"]})
    assert r.status == 200
    for c in (uc["app-0"], uc["app-1"]):
        assert c.get(f"{PRODUCTS}/{p['id']}").json["stock"] == 77


def test_catalog_version_changes_with_the_catalog(uc):
    lb = uc["lb"]
    r = lb.get("/api/v1/catalog/version")
    assert r.status == 200 and set(r.json) == {"version"}
    v1 = r.json["version"]
    assert len(v1) == 16 and int(v1, 16) >= 0
    again = lb.get("/api/v1/catalog/version", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status == 304
    new_product(lb)
    for c in (uc["app-0"], uc["app-1"]):
        assert c.get("/api/v1/catalog/version").json["version"] != v1
    assert len({c.get("/api/v1/catalog/version").json["version"]
                for c in (uc["app-0"], uc["app-1"])}) == 1


def test_products_with_the_cache_shards_down(uc, stack, server):
    """Own server whose Redis shard is dead: reads and admin writes still
    work from the database; an admin invalidation that cannot reach the
    shard is a 503 with Retry-After (the caller retries once it is back)."""
    from ucenter_support import dead_address
    srv = server(**own_server_env(stack, SURGE_REDIS_SHARDS=dead_address()))
    own = Client(f"http://127.0.0.1:{srv.port}", stack.vars["SURGE_TOKEN_SECRET"],
                 stack.vars["SURGE_ADMIN_TOKEN"])
    p = new_product(own, stock=4)
    assert own.get(f"{PRODUCTS}/{p['id']}").json == p
    r = own.patch(f"{ADMIN_PRODUCTS}/{p['id']}", admin=True, body={"stock": 6})
    assert r.status == 200 and own.get(f"{PRODUCTS}/{p['id']}").json["stock"] == 6
    assert own.get(f"{PRODUCTS}?page=1&page_size=5").status == 200
    assert own.get("/api/v1/catalog/version").status == 200
    r = own.post(INVALIDATE, admin=True, body={"scope": "products", "id": p["id"]})
    assert r.status == 503 and r.headers.get("Retry-After")
