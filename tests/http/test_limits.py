"""Size limits: 413 over max_body_bytes, 431 over max_header_bytes; the
server keeps serving everyone else afterwards."""

import pytest

from surge_http import build_request, chunked

MAX_BODY = 1024
MAX_HEADER = 1024


@pytest.fixture
def limited(server):
    return server(max_body_bytes=MAX_BODY, max_header_bytes=MAX_HEADER)


def assert_json_error(resp, status, code):
    assert resp.status == status, resp
    assert resp.content_type == "application/json", resp
    assert resp.json()["error"]["code"] == code, resp.body
    assert resp.closes, f"{status} must close the connection: {resp!r}"


def assert_still_serving(srv, bystander=None):
    if bystander is not None:
        resp = bystander.request("GET", "/healthz")
        assert resp.status == 200, f"an unrelated keep-alive connection was disturbed: {resp!r}"
    assert srv.get("/healthz").status == 200


def test_body_at_the_limit_is_accepted(limited):
    with limited.connect() as c:
        resp = c.request("POST", "/healthz", body=b"a" * MAX_BODY)
        assert resp.status == 405, resp  # routed: the body was read whole
        assert c.request("GET", "/healthz").status == 200


def test_content_length_over_the_limit_is_413(limited):
    with limited.connect() as bystander:
        assert bystander.request("GET", "/healthz").status == 200
        with limited.connect() as c:
            # Only the head: the server must answer from Content-Length alone,
            # without waiting for (or reading) the body.
            c.send(build_request("POST", "/healthz", headers={"Content-Length": str(MAX_BODY + 1)}))
            resp = c.read_response()
            assert_json_error(resp, 413, "payload_too_large")
            assert c.wait_closed(5.0)[0]
        assert_still_serving(limited, bystander)


def test_413_reaches_a_client_that_sends_its_whole_body_first(limited):
    # A proxy (nginx) sends a request's whole body before it reads the
    # answer. The server answers 413 from the head alone; if it then closed
    # with the body still arriving, the client's send would fail (EPIPE /
    # ECONNRESET) and it would never read the 413: nginx turns that into a
    # 502/503 and counts the app server as failed. The server must drain
    # what arrives for a while, then close.
    body = b"b" * (4 * 1024 * 1024)
    for _ in range(3):
        with limited.connect() as c:
            try:
                c.send(build_request("POST", "/healthz", body=body,
                                     headers={"X-Request-Id": "too-big"}))
            except OSError as e:
                pytest.fail(f"the server reset the connection before the body was sent: {e!r}")
            resp = c.read_response()
            assert_json_error(resp, 413, "payload_too_large")
            assert resp.header("X-Request-Id") == "too-big", resp
            assert c.wait_closed(5.0)[0]
    assert_still_serving(limited)


def test_huge_content_length_is_413(limited):
    with limited.connect() as c:
        c.send(build_request("PUT", "/healthz", headers={"Content-Length": str(10**15)}))
        assert_json_error(c.read_response(), 413, "payload_too_large")
    assert_still_serving(limited)


def test_content_length_over_limit_with_expect_gets_413_not_100(limited):
    with limited.connect() as c:
        c.send(build_request("POST", "/healthz",
                             headers={"Content-Length": str(MAX_BODY * 4), "Expect": "100-continue"}))
        resp = c.read_response(skip_interim=False)
        assert_json_error(resp, 413, "payload_too_large")


def test_chunked_body_at_the_limit_is_accepted(limited):
    with limited.connect() as c:
        c.send(build_request("POST", "/healthz", headers={"Transfer-Encoding": "chunked"},
                             body=chunked(b"a" * 600, b"b" * (MAX_BODY - 600))))
        assert c.read_response().status == 405
        assert c.request("GET", "/healthz").status == 200


def test_chunked_body_over_the_limit_is_413(limited):
    with limited.connect() as bystander:
        assert bystander.request("GET", "/healthz").status == 200
        with limited.connect() as c:
            # Two chunks, each under the limit, together over it. The last
            # chunk is never sent: the server must not wait for it.
            head = build_request("POST", "/healthz", headers={"Transfer-Encoding": "chunked"})
            c.send(head + b"258\r\n" + b"a" * 600 + b"\r\n" + b"258\r\n" + b"b" * 600 + b"\r\n")
            resp = c.read_response()
            assert_json_error(resp, 413, "payload_too_large")
            assert c.wait_closed(5.0)[0]
        assert_still_serving(limited, bystander)


def test_single_chunk_over_the_limit_is_413(limited):
    with limited.connect() as c:
        head = build_request("POST", "/healthz", headers={"Transfer-Encoding": "chunked"})
        c.send(head + b"%x\r\n" % (MAX_BODY * 8) + b"a" * 100)
        assert_json_error(c.read_response(), 413, "payload_too_large")
    assert_still_serving(limited)


def test_head_within_the_limit_is_accepted(limited):
    headers = {"X-Padding": "p" * (MAX_HEADER - 200)}
    req = build_request("GET", "/healthz", headers=headers)
    assert len(req) < MAX_HEADER
    with limited.connect() as c:
        c.send(req)
        assert c.read_response().status == 200


def test_header_over_the_limit_is_431(limited):
    with limited.connect() as bystander:
        assert bystander.request("GET", "/healthz").status == 200
        with limited.connect() as c:
            c.send(build_request("GET", "/healthz", headers={"X-Big": "b" * (MAX_HEADER + 200)}))
            resp = c.read_response()
            assert_json_error(resp, 431, "request_header_fields_too_large")
            assert c.wait_closed(5.0)[0]
        assert_still_serving(limited, bystander)


def test_many_headers_over_the_limit_is_431(limited):
    headers = [(f"X-H{i}", "v" * 20) for i in range(60)]
    with limited.connect() as c:
        c.send(build_request("GET", "/healthz", headers=headers))
        assert_json_error(c.read_response(), 431, "request_header_fields_too_large")
    assert_still_serving(limited)


def test_unterminated_head_over_the_limit_is_431(limited):
    # No blank line ever comes: the server must give up once the head is past
    # the limit instead of buffering without bound (or waiting for a timeout).
    with limited.connect() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"e" * (MAX_HEADER + 500))
        resp = c.read_response(timeout=3.0)
        assert_json_error(resp, 431, "request_header_fields_too_large")
    assert_still_serving(limited)


def test_long_request_line_is_rejected(limited):
    with limited.connect() as c:
        c.send(build_request("GET", "/healthz?" + "q" * (MAX_HEADER + 100)))
        resp = c.read_response()
        assert resp.status in (414, 431), resp
        assert resp.closes
    assert_still_serving(limited)


def test_default_body_limit_is_one_mebibyte(server):
    srv = server()
    with srv.connect() as c:
        resp = c.request("POST", "/healthz", body=b"z" * (1024 * 1024))
        assert resp.status == 405, resp
        c.send(build_request("POST", "/healthz", headers={"Content-Length": str(1024 * 1024 + 1)}))
        assert_json_error(c.read_response(), 413, "payload_too_large")
