"""Static catalog black-box tests (API.md §4 "Static catalog"): `surge
publish` writes versioned files and manifest.json, the load balancer serves
them with the right Cache-Control, GET /api/v1/catalog/version agrees with
the manifest, and a reader polling while publish runs in a loop never sees
a partial or missing file.

Run: SURGE_BIN=build/surge /usr/bin/python3 -m pytest tests/catalog
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time

import requests

from orders_support import ADMIN_PRODUCTS, new_product

VERSIONED = re.compile(r"^(catalog|campaigns)\.[0-9a-f]{16}\.json$")


def publish(stack) -> str:
    env = dict(os.environ)
    env["SURGE_PUBLISH_DIR"] = str(stack.var / "static")
    out = subprocess.run([stack.vars["SURGE_BIN"], "publish", "--config", stack.vars["SURGE_CONFIG"]],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def manifest(stack) -> dict:
    r = requests.get(stack.url + "/static/manifest.json", timeout=10)
    assert r.status_code == 200, r.status_code
    return r.json()


def test_cluster_up_has_published(uc, stack):
    """`scripts/cluster up` runs `surge publish` once after seeding."""
    assert (stack.var / "log" / "publish.log").exists()
    m = manifest(stack)
    assert (stack.var / "static" / m["catalog"]).exists()


def test_publish_writes_versioned_files_and_a_manifest(uc, stack):
    publish(stack)
    m = manifest(stack)
    assert set(m) == {"version", "catalog", "campaigns", "catalog_version", "campaigns_version"}
    assert m["catalog"] == f"catalog.{m['catalog_version']}.json"
    assert m["campaigns"] == f"campaigns.{m['campaigns_version']}.json"
    assert m["version"] == m["catalog_version"]
    names = os.listdir(stack.var / "static")
    assert m["catalog"] in names and m["campaigns"] in names
    assert not [n for n in names if ".tmp." in n]
    catalog = requests.get(f"{stack.url}/static/{m['catalog']}", timeout=10).json()
    assert isinstance(catalog["products"], list) and catalog["products"]
    assert set(catalog["products"][0]) == {"id", "name", "price_cents"}
    campaigns = requests.get(f"{stack.url}/static/{m['campaigns']}", timeout=10).json()
    assert set(campaigns) == {"redpackets", "flashsales"}


def test_cache_control_headers(uc, stack):
    publish(stack)
    m = manifest(stack)
    r = requests.get(stack.url + "/static/manifest.json", timeout=10)
    assert "max-age=5" in r.headers["Cache-Control"]
    for name in (m["catalog"], m["campaigns"]):
        r = requests.get(f"{stack.url}/static/{name}", timeout=10)
        assert r.status_code == 200
        assert "immutable" in r.headers["Cache-Control"]
        assert "max-age=31536000" in r.headers["Cache-Control"]


def test_catalog_version_equals_the_manifest(uc, stack):
    new_product(uc["lb"])
    publish(stack)
    m = manifest(stack)
    for c in (uc["lb"], uc["app-0"], uc["app-1"]):
        assert c.get("/api/v1/catalog/version").json["version"] == m["catalog_version"]
    # A catalog change and the next publish move both together.
    new_product(uc["lb"])
    publish(stack)
    m2 = manifest(stack)
    assert m2["catalog_version"] != m["catalog_version"]
    assert uc["lb"].get("/api/v1/catalog/version").json["version"] == m2["catalog_version"]
    # The previous version's file is kept for readers of the old manifest.
    assert requests.get(f"{stack.url}/static/{m['catalog']}", timeout=10).status_code == 200


def test_publish_again_is_a_no_op_for_unchanged_content(uc, stack):
    publish(stack)
    first = manifest(stack)
    out = publish(stack)
    assert "unchanged" in out
    assert manifest(stack) == first



def test_publishing_unchanged_content_keeps_every_etag(uc, stack):
    # nginx derives a static file's ETag from its mtime and size: a publish
    # that rewrote or touched an unchanged file would change its ETag, and
    # every client revalidating it would download it again.
    static = stack.var / "static"

    def snapshot():
        m = manifest(stack)
        files = ["manifest.json", m["catalog"], m["campaigns"]]
        return (json.dumps(m, sort_keys=True),
                {f: (static / f).stat().st_mtime_ns for f in files},
                {f: requests.get(f"{stack.url}/static/{f}", timeout=10).headers["ETag"] for f in files})

    publish(stack)
    for _ in range(5):
        before = snapshot()
        publish(stack)
        publish(stack)
        after = snapshot()
        if after[0] == before[0]:
            break
        # A campaign started or ended in between (the campaigns list changed):
        # that is new content; look again.
    assert after == before
    for f, etag in before[2].items():
        r = requests.get(f"{stack.url}/static/{f}", headers={"If-None-Match": etag}, timeout=10)
        assert r.status_code == 304 and r.content == b"", (f, r.status_code)
        assert r.headers["ETag"] == etag

def test_reader_never_sees_a_partial_or_missing_file(uc, stack):
    """publish runs in a loop (with the catalog changing in between) while a
    reader polls the manifest and every file it names."""
    p = new_product(uc["lb"], price=100)
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader() -> None:
        session = requests.Session()
        while not stop.is_set():
            r = session.get(stack.url + "/static/manifest.json", timeout=10)
            if r.status_code != 200:
                problems.append(f"manifest {r.status_code}")
                continue
            try:
                m = r.json()
            except ValueError:
                problems.append(f"manifest not JSON: {r.text[:80]!r}")
                continue
            for name in (m["catalog"], m["campaigns"]):
                f = session.get(f"{stack.url}/static/{name}", timeout=10)
                if f.status_code != 200:
                    problems.append(f"{name}: {f.status_code}")
                    continue
                try:
                    json.loads(f.content)
                except ValueError:
                    problems.append(f"{name}: partial ({len(f.content)} bytes)")
            reads[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 8
        price = 100
        while time.monotonic() < deadline:
            price += 1
            r = uc["lb"].patch(f"{ADMIN_PRODUCTS}/{p['id']}", admin=True, body={"price_cents": price})
            assert r.status == 200
            publish(stack)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not problems, problems[:10]
    assert reads[0] > 10
    for name in os.listdir(stack.var / "static"):
        assert name == "manifest.json" or VERSIONED.match(name), name


def test_campaigns_file_lists_the_active_campaigns(uc, stack):
    """Rows whose ends_at is in the future (pending or running) are
    published; ended ones are not."""
    from ucenter_support import sql
    primary = stack.vars["SURGE_PG_PRIMARY"]
    p = new_product(uc["lb"])
    (live_rp,), = sql(primary, "INSERT INTO redpackets (total_cents, count, starts_at, ends_at) "
                               "VALUES (1000, 10, now() - interval '1 hour', now() + interval '1 hour') "
                               "RETURNING id")
    (soon_rp,), = sql(primary, "INSERT INTO redpackets (total_cents, count, starts_at, ends_at) "
                               "VALUES (500, 5, now() + interval '1 day', now() + interval '2 days') "
                               "RETURNING id")
    (old_rp,), = sql(primary, "INSERT INTO redpackets (total_cents, count, starts_at, ends_at) "
                              "VALUES (500, 5, now() - interval '2 days', now() - interval '1 day') "
                              "RETURNING id")
    (live_fs,), = sql(primary, "INSERT INTO flashsales (product_id, stock, price_cents, per_user_limit, "
                               "starts_at, ends_at) VALUES (%s, 100, 99, 2, now() - interval '1 minute', "
                               "now() + interval '1 hour') RETURNING id", (p["id"],))
    (old_fs,), = sql(primary, "INSERT INTO flashsales (product_id, stock, price_cents, per_user_limit, "
                              "starts_at, ends_at) VALUES (%s, 100, 99, 2, now() - interval '2 hours', "
                              "now() - interval '1 hour') RETURNING id", (p["id"],))
    publish(stack)
    m = manifest(stack)
    campaigns = requests.get(f"{stack.url}/static/{m['campaigns']}", timeout=10).json()
    rp_ids = {r["id"] for r in campaigns["redpackets"]}
    fs_ids = {f["id"] for f in campaigns["flashsales"]}
    assert {live_rp, soon_rp} <= rp_ids and old_rp not in rp_ids
    assert live_fs in fs_ids and old_fs not in fs_ids
    fs = next(f for f in campaigns["flashsales"] if f["id"] == live_fs)
    assert fs == {"id": live_fs, "product_id": p["id"], "stock": 100, "price_cents": 99,
                  "per_user_limit": 2, "starts_at": fs["starts_at"], "ends_at": fs["ends_at"]}
    assert fs["starts_at"].endswith("Z") and fs["ends_at"] > fs["starts_at"]
    rp = next(r for r in campaigns["redpackets"] if r["id"] == live_rp)
    assert set(rp) == {"id", "total_cents", "count", "starts_at", "ends_at"}
    assert rp["total_cents"] == 1000 and rp["count"] == 10


def test_admin_writes_are_published_before_they_are_answered(uc, stack):
    """API.md §4: the version API names the manifest's version. `surge
    serve` republishes after an admin write and before answering it, so the
    two agree the moment the write returns — not a timer tick later."""
    for _ in range(3):
        p = new_product(uc["lb"])
        m = manifest(stack)
        for c in (uc["lb"], uc["app-0"], uc["app-1"]):
            assert c.get("/api/v1/catalog/version").json["version"] == m["catalog_version"]
        catalog = requests.get(f"{stack.url}/static/{m['catalog']}", timeout=10).json()
        assert p["id"] in {x["id"] for x in catalog["products"]}
    r = uc["lb"].patch(f"{ADMIN_PRODUCTS}/{p['id']}", admin=True, body={"price_cents": 4321})
    assert r.status == 200, r.body
    m = manifest(stack)
    assert uc["lb"].get("/api/v1/catalog/version").json["version"] == m["catalog_version"]
    catalog = requests.get(f"{stack.url}/static/{m['catalog']}", timeout=10).json()
    assert {"id": p["id"], "name": p["name"], "price_cents": 4321} in catalog["products"]
    # A new campaign is in the published campaigns file at once too.
    now = time.time()
    stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    r = uc["lb"].post("/api/v1/admin/redpackets", admin=True,
                      body={"total_cents": 100, "count": 10, "starts_at": stamp(now - 5),
                            "ends_at": stamp(now + 600)})
    assert r.status == 201, r.body
    m = manifest(stack)
    campaigns = requests.get(f"{stack.url}/static/{m['campaigns']}", timeout=10).json()
    assert r.json["id"] in {x["id"] for x in campaigns["redpackets"]}


def test_worker_republishes_what_changed_outside_the_api(uc, stack):
    """`surge worker` publishes on a timer (worker.publish_interval_s, 2 s in
    the test stack): a row written straight into the database (no admin
    call to publish it) reaches the manifest without anyone running `surge
    publish`."""
    from ucenter_support import sql
    before = manifest(stack)["catalog_version"]
    (pid,), = sql(stack.vars["SURGE_PG_PRIMARY"],
                  "INSERT INTO products (name, price_cents, stock) VALUES ('timer', 1, 1) "
                  "RETURNING id")
    deadline = time.monotonic() + 20
    m = manifest(stack)
    while time.monotonic() < deadline and m["catalog_version"] == before:
        time.sleep(0.2)
        m = manifest(stack)
    assert m["catalog_version"] != before, "the worker did not republish within 20 s"
    catalog = requests.get(f"{stack.url}/static/{m['catalog']}", timeout=10).json()
    assert pid in {x["id"] for x in catalog["products"]}
