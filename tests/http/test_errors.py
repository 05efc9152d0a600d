"""Error responses: status, JSON shape {"error": {"code", "message"}}, Allow."""

import re

import pytest

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def assert_error(resp, status, code=None):
    assert resp.status == status, resp
    assert resp.content_type == "application/json", resp
    assert int(resp.header("Content-Length")) == len(resp.body), resp
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) >= {"code", "message"}, body
    assert isinstance(err["code"], str) and SNAKE.match(err["code"]), body
    assert isinstance(err["message"], str) and err["message"].strip(), body
    if code is not None:
        assert err["code"] == code, body
    return err


@pytest.mark.parametrize("target", ["/", "/nope", "/api/v1/does-not-exist", "/healthz/extra"])
def test_unknown_route_is_404_not_found(server, target):
    srv = server()
    resp = srv.get(target)
    assert_error(resp, 404, "not_found")
    assert not resp.closes, "a 404 must not close the connection"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_wrong_method_is_405_with_allow(server, method):
    srv = server()
    resp = srv.request(method, "/healthz", body=b"" if method in ("POST", "PUT", "PATCH") else None)
    assert_error(resp, 405, "method_not_allowed")
    allow = resp.header("Allow")
    assert allow is not None, resp
    assert {m.strip() for m in allow.split(",")} == {"GET", "HEAD"}, allow


def test_metrics_wrong_method_is_405(server):
    srv = server()
    resp = srv.request("DELETE", "/metrics")
    assert_error(resp, 405, "method_not_allowed")
    assert {m.strip() for m in resp.header("Allow").split(",")} == {"GET", "HEAD"}


def test_unknown_method_on_known_path_is_405(server):
    srv = server()
    resp = srv.request("BREW", "/healthz")
    assert_error(resp, 405, "method_not_allowed")
    assert "GET" in resp.header("Allow")


def test_methods_are_case_sensitive(server):
    srv = server()
    assert_error(srv.request("get", "/healthz"), 405, "method_not_allowed")


def test_unknown_method_on_unknown_path_is_404(server):
    srv = server()
    assert_error(srv.request("BREW", "/coffee"), 404, "not_found")


def test_error_connection_stays_usable(server):
    srv = server()
    with srv.connect() as c:
        assert_error(c.request("GET", "/nope"), 404)
        assert_error(c.request("POST", "/healthz", body=b"{}"), 405)
        assert c.request("GET", "/healthz").status == 200


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /healthz\r\n\r\n",
    b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTX/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n: empty-name\r\n\r\n",
    b"GET /health z HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x01Name: y\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: bad\x00value\r\n\r\n",
    b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
])
def test_malformed_request_is_400_json_and_closes(server, raw):
    srv = server()
    with srv.connect() as c:
        c.send(raw)
        resp = c.read_response()
        assert_error(resp, 400)
        assert resp.closes, resp
        closed, extra = c.wait_closed(5.0)
        assert closed, "connection left open after a parse error"
        assert extra == b"", extra
    assert srv.get("/healthz").status == 200


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/1.2", b"HTTP/0.9", b"HTTP/3.0"])
def test_unsupported_http_version_is_rejected(server, version):
    srv = server()
    with srv.connect() as c:
        c.send(b"GET /healthz " + version + b"\r\nHost: x\r\n\r\n")
        resp = c.read_response()
        assert resp.status in (400, 505), resp
        assert_error(resp, resp.status)
        assert c.wait_closed(5.0)[0]


def test_http11_request_without_host_is_400(server):
    srv = server()
    with srv.connect() as c:
        c.send(b"GET /healthz HTTP/1.1\r\n\r\n")
        resp = c.read_response()
        assert_error(resp, 400)


def test_request_with_two_hosts_is_400(server):
    srv = server()
    with srv.connect() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n")
        resp = c.read_response()
        assert_error(resp, 400)


def test_http10_request_without_host_is_fine(server):
    srv = server()
    with srv.connect() as c:
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert c.read_response().status == 200
