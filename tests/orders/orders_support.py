"""Helpers shared by tests/orders and tests/catalog: products made through
the admin API, orders placed through a client, threads released together."""

from __future__ import annotations

import threading
import uuid
from typing import Callable

from ucenter_support import API, Client

PRODUCTS = API + "/products"
ADMIN_PRODUCTS = API + "/admin/products"
ORDERS = API + "/orders"
INVALIDATE = API + "/admin/cache/invalidate"


def new_product(client: Client, stock: int = 1000, price: int = 250, name: str = "") -> dict:
    r = client.post(ADMIN_PRODUCTS, admin=True,
                    body={"name": name or f"test product {uuid.uuid4().hex[:8]}",
                          "price_cents": price, "stock": stock})
    assert r.status == 201, (r.status, r.body)
    return r.json


def place(client: Client, user: int, items, key: str | None = None):
    headers = {"Idempotency-Key": key} if key is not None else None
    return client.post(ORDERS, user=user, body={"items": items}, headers=headers)


def run_together(n: int, fn: Callable[[int], object]) -> list:
    """n threads, each with its own connection(s), released by one barrier."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            results[i] = e

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results
