"""GET /metrics: Prometheus text format with request counts and latency
histograms per route and status."""

import math

from surge_http import build_request, find_samples, metric_sum, parse_metrics

REQUESTS = "surge_http_requests_total"
LATENCY = "surge_http_request_duration_seconds"


def scrape(srv):
    return parse_metrics(srv.metrics_text())


def test_metrics_is_prometheus_text(server):
    srv = server()
    resp = srv.get("/metrics")
    assert resp.status == 200, resp
    ctype = resp.header("Content-Type") or ""
    assert ctype.split(";")[0].strip() == "text/plain", ctype
    text = resp.body.decode("utf-8")
    assert text.endswith("\n")
    samples = parse_metrics(text)  # strict: every line must parse
    assert samples
    # Every sample's family has a TYPE line, declared before its samples.
    typed = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in typed, f"TYPE declared twice for {name}"
            typed[name] = kind
    for s in samples:
        family = s.name
        for suffix in ("_bucket", "_sum", "_count"):
            if family.endswith(suffix) and typed.get(family[: -len(suffix)]) == "histogram":
                family = family[: -len(suffix)]
        assert family in typed, f"sample {s.name} has no # TYPE line"


def test_healthz_requests_are_counted_exactly(server):
    srv = server()
    n = 25
    before = scrape(srv)
    with srv.connect() as c:
        c.send(build_request("GET", "/healthz") * n)
        for _ in range(n):
            assert c.read_response().status == 200
    after = scrape(srv)
    labels = dict(route="/healthz", method="GET", status="200")
    assert metric_sum(after, REQUESTS, **labels) - metric_sum(before, REQUESTS, **labels) == n
    # The latency histogram saw exactly those requests too.
    count = dict(route="/healthz", method="GET", status="200")
    assert metric_sum(after, LATENCY + "_count", **count) - metric_sum(before, LATENCY + "_count", **count) == n


def test_request_counters_are_labelled_by_route_method_status(server):
    srv = server()
    srv.get("/healthz")
    for s in find_samples(scrape(srv), REQUESTS):
        assert {"route", "method", "status"} <= set(s.labels), s
        assert s.labels["status"].isdigit() and len(s.labels["status"]) == 3, s
        assert s.value >= 0 and s.value == int(s.value), s


def test_latency_histogram_is_well_formed(server):
    srv = server()
    for _ in range(10):
        srv.get("/healthz")
    samples = scrape(srv)
    buckets = find_samples(samples, LATENCY + "_bucket", route="/healthz", method="GET")
    assert buckets, "no latency buckets for /healthz"
    by_le = sorted(((float(b.labels["le"]), b.value) for b in buckets), key=lambda x: x[0])
    assert math.isinf(by_le[-1][0]), "no le=\"+Inf\" bucket"
    counts = [v for _, v in by_le]
    assert counts == sorted(counts), f"buckets are not cumulative: {by_le}"
    total = metric_sum(samples, LATENCY + "_count", route="/healthz", method="GET")
    assert total == by_le[-1][1] >= 10
    total_sum = metric_sum(samples, LATENCY + "_sum", route="/healthz", method="GET")
    assert 0 < total_sum < 10 * total, "latency _sum is implausible (seconds expected)"
    assert find_samples(samples, LATENCY + "_sum", route="/healthz", method="GET")


def test_unknown_routes_are_counted_as_unmatched(server):
    srv = server()
    k = 7
    before = scrape(srv)
    for i in range(k):
        assert srv.get(f"/no/such/route/{i}").status == 404
    after = scrape(srv)
    delta = metric_sum(after, REQUESTS, route="unmatched", status="404") - \
        metric_sum(before, REQUESTS, route="unmatched", status="404")
    assert delta == k
    # Raw paths never become label values (that would be unbounded cardinality).
    assert not any("/no/such" in v for s in after for v in s.labels.values())


def test_method_not_allowed_is_counted(server):
    srv = server()
    before = scrape(srv)
    assert srv.request("POST", "/healthz", body=b"").status == 405
    after = scrape(srv)
    assert metric_sum(after, REQUESTS, status="405") - metric_sum(before, REQUESTS, status="405") == 1
    # ... and not as a success of the route.
    ok = dict(route="/healthz", status="200")
    assert metric_sum(after, REQUESTS, **ok) == metric_sum(before, REQUESTS, **ok)


def test_head_requests_are_counted(server):
    srv = server()
    before = scrape(srv)
    with srv.connect() as c:
        assert c.request("HEAD", "/healthz").status == 200
    after = scrape(srv)
    ok = dict(route="/healthz", status="200")
    assert metric_sum(after, REQUESTS, **ok) - metric_sum(before, REQUESTS, **ok) == 1


def test_metrics_scrape_is_counted_under_its_own_route(server):
    srv = server()
    a = metric_sum(scrape(srv), REQUESTS, route="/metrics", status="200")
    b = metric_sum(scrape(srv), REQUESTS, route="/metrics", status="200")
    assert b - a == 1


def test_latency_histograms_are_labelled_by_status(server):
    # API.md §7: latency histograms per route and status — a 404 and a 405
    # are timed apart from the 200s.
    srv = server()
    srv.get("/healthz")
    srv.get("/no-such-route")
    with srv.connect() as c:
        c.send(build_request("DELETE", "/healthz"))
        assert c.read_response().status == 405
    samples = scrape(srv)
    for labels in (dict(route="/healthz", method="GET", status="200"),
                   dict(route="/healthz", method="GET", status="405"),
                   dict(route="unmatched", method="any", status="404")):
        if labels["status"] == "405":
            # Which route a 405 is counted under is the router's business;
            # its status label is not.
            labels = dict(status="405")
        assert metric_sum(samples, LATENCY + "_count", **labels) >= 1, labels
    for s in find_samples(samples, LATENCY + "_bucket"):
        assert {"route", "method", "status", "le"} <= set(s.labels), s


def test_requests_the_parser_refuses_are_counted_by_status(server):
    # They never reach a route: surge_http_protocol_errors_total{status}.
    srv = server()
    name = "surge_http_protocol_errors_total"
    before = scrape(srv)
    for raw, status in [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ]:
        with srv.connect() as c:
            c.send(raw)
            assert c.read_response().status == status
    after = scrape(srv)
    for status, n in [("400", 1), ("431", 1), ("505", 2)]:
        assert metric_sum(after, name, status=status) - metric_sum(before, name, status=status) == n
