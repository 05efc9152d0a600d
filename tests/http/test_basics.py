"""Basic request/response behaviour: /healthz, HEAD, HTTP/1.0, Expect."""

from email.utils import parsedate_to_datetime

from surge_http import build_request, chunked


def test_healthz_is_200_json(server):
    srv = server()
    resp = srv.get("/healthz")
    assert resp.status == 200, resp
    assert resp.version == "HTTP/1.1"
    assert resp.content_type == "application/json", resp
    assert int(resp.header("Content-Length")) == len(resp.body)
    body = resp.json()
    assert isinstance(body, dict) and body, resp


def test_healthz_has_date_header(server):
    srv = server()
    resp = srv.get("/healthz")
    date = resp.header("Date")
    assert date is not None, resp
    assert parsedate_to_datetime(date).tzinfo is not None  # an IMF-fixdate in GMT


def test_query_string_does_not_affect_routing(server):
    srv = server()
    assert srv.get("/healthz?verbose=1&x=y").status == 200
    # ... but the path must match exactly.
    assert srv.get("/healthz/").status == 404
    assert srv.get("/HEALTHZ").status == 404


def test_head_healthz_has_content_length_but_no_body(server):
    srv = server()
    get = srv.get("/healthz")
    with srv.connect() as c:
        # HEAD then GET pipelined: if HEAD carried a body, the bytes after its
        # head would not be the GET's status line.
        c.send(build_request("HEAD", "/healthz") + build_request("GET", "/healthz"))
        head = c.read_response(head=True)
        assert head.status == 200, head
        assert head.header("Content-Length") == str(len(get.body)), head
        assert head.content_type == "application/json"
        assert head.body == b""
        nxt = c.read_response()
        assert nxt.status == 200 and nxt.body == get.body, nxt


def test_head_connection_close_sends_no_body(server):
    srv = server()
    with srv.connect() as c:
        c.send(build_request("HEAD", "/healthz", headers={"Connection": "close"}))
        data = c.read_until_close()
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep and head.startswith(b"HTTP/1.1 200"), data
    assert b"Content-Length:" in head
    assert rest == b"", f"HEAD response carried a body: {rest!r}"


def test_http10_without_keep_alive_closes(server):
    srv = server()
    with srv.connect() as c:
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200, resp
        assert resp.version == "HTTP/1.0"
        closed, extra = c.wait_closed(5.0)
        assert closed, "server kept an HTTP/1.0 connection open without keep-alive"
        assert extra == b""


def test_http10_with_keep_alive_stays_open(server):
    srv = server()
    with srv.connect() as c:
        c.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200, resp
        assert "keep-alive" in resp.connection_tokens(), resp
        c.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert c.read_response().status == 200


def test_http11_connection_close_is_honoured(server):
    srv = server()
    with srv.connect() as c:
        c.send(build_request("GET", "/healthz", headers={"Connection": "close"}))
        resp = c.read_response()
        assert resp.status == 200
        assert resp.closes, resp
        closed, extra = c.wait_closed(5.0)
        assert closed and extra == b""


def test_expect_100_continue(server):
    srv = server()
    with srv.connect() as c:
        c.send(build_request("POST", "/healthz", headers={"Content-Length": "4", "Expect": "100-continue"}))
        interim = c.read_response(skip_interim=False)
        assert interim.status == 100, interim
        c.send(b"abcd")
        resp = c.read_response()
        assert resp.status == 405, resp
        # Still framed: the connection serves the next request.
        assert c.request("GET", "/healthz").status == 200


def test_chunked_request_body_is_framed(server):
    srv = server()
    with srv.connect() as c:
        c.send(build_request("POST", "/healthz", headers={"Transfer-Encoding": "chunked"},
                             body=chunked(b"hello ", b"world"))
               + build_request("GET", "/healthz"))
        assert c.read_response().status == 405
        assert c.read_response().status == 200


def test_request_dribbled_byte_by_byte(server):
    srv = server()
    data = build_request("POST", "/healthz", body=b"0123456789") + build_request("GET", "/healthz")
    with srv.connect() as c:
        for i in range(len(data)):
            c.send(data[i : i + 1])
        assert c.read_response().status == 405
        assert c.read_response().status == 200
