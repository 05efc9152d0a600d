"""Keep-alive connections and HTTP/1.1 pipelining."""

import threading

from surge_http import build_request


def test_many_sequential_requests_on_one_connection(server):
    srv = server()
    with srv.connect() as c:
        for i in range(50):
            resp = c.request("GET", "/healthz", headers={"X-Request-Id": f"seq-{i}"})
            assert resp.status == 200, resp
            assert not resp.closes, resp
            assert resp.header("X-Request-Id") == f"seq-{i}"


def test_pipelined_16_in_one_write(server):
    srv = server()
    with srv.connect() as c:
        c.send(build_request("GET", "/healthz") * 16)
        bodies = set()
        for _ in range(16):
            resp = c.read_response()
            assert resp.status == 200, resp
            bodies.add(resp.body)
        assert len(bodies) == 1
        # Nothing more than 16 responses, and the connection is still usable.
        assert not c.readable_within(0.1)
        assert c.request("GET", "/healthz").status == 200


def test_pipelined_responses_keep_request_order(server):
    srv = server()
    targets = ["/healthz", "/nope", "/metrics", "/healthz"] * 4
    reqs = []
    for i, target in enumerate(targets):
        method = "POST" if i % 5 == 3 else "GET"
        reqs.append((method, target, f"pipe-{i:02d}"))
    payload = b"".join(
        build_request(m, t, headers={"X-Request-Id": rid}, body=b"x" if m == "POST" else None)
        for m, t, rid in reqs)
    with srv.connect() as c:
        c.send(payload)
        for method, target, rid in reqs:
            resp = c.read_response()
            assert resp.header("X-Request-Id") == rid, (rid, resp)
            expected = 405 if method == "POST" and target in ("/healthz", "/metrics") else \
                404 if target == "/nope" else 200
            assert resp.status == expected, (method, target, resp)


def test_pipelined_head_and_get_mixed(server):
    srv = server()
    methods = ["GET", "HEAD"] * 8
    with srv.connect() as c:
        c.send(b"".join(build_request(m, "/healthz", headers={"X-Request-Id": f"m{i}"})
                        for i, m in enumerate(methods)))
        for i, m in enumerate(methods):
            resp = c.read_response(head=(m == "HEAD"))
            assert resp.status == 200 and resp.header("X-Request-Id") == f"m{i}", resp
            if m == "HEAD":
                assert resp.body == b""
            else:
                assert resp.body


def test_pipelining_stops_at_connection_close(server):
    srv = server()
    with srv.connect() as c:
        c.send(build_request("GET", "/healthz", headers={"X-Request-Id": "a"})
               + build_request("GET", "/healthz", headers={"X-Request-Id": "b", "Connection": "close"})
               + build_request("GET", "/healthz", headers={"X-Request-Id": "c"}))
        a = c.read_response()
        b = c.read_response()
        assert (a.header("X-Request-Id"), b.header("X-Request-Id")) == ("a", "b")
        assert b.closes, b
        closed, extra = c.wait_closed(5.0)
        assert closed, "connection stayed open after Connection: close"
        assert extra == b"", f"a request after Connection: close was answered: {extra!r}"


def test_large_pipeline_with_client_reading_concurrently(server):
    # More responses than the server buffers at once (it must flush while
    # parsing, and keep the order across flushes).
    srv = server()
    n = 2000
    payload = b"".join(build_request("GET", "/healthz", headers={"X-Request-Id": f"big-{i}"})
                       for i in range(n))
    with srv.connect(timeout=15.0) as c:
        errors = []

        def writer():
            try:
                c.send(payload)
            except OSError as e:  # pragma: no cover - reported below
                errors.append(e)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        for i in range(n):
            resp = c.read_response(timeout=15.0)
            assert resp.status == 200 and resp.header("X-Request-Id") == f"big-{i}", (i, resp)
        t.join(15.0)
        assert not t.is_alive() and not errors, errors


def test_body_of_unrouted_request_is_consumed(server):
    # A 404/405 answered without reading the body would desync the stream.
    srv = server()
    body = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"  # looks like a request, is a body
    with srv.connect() as c:
        c.send(build_request("POST", "/nope", body=body) + build_request("GET", "/healthz"))
        assert c.read_response().status == 404
        resp = c.read_response()
        assert resp.status == 200 and resp.content_type == "application/json", resp
        assert not c.readable_within(0.1)
