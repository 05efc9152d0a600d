"""X-Request-Id: echoed when the client sends an acceptable one, generated
(and unique) otherwise."""

import re

import pytest

from surge_http import build_request, wait_until

PRINTABLE_ID = re.compile(r"^[\x21-\x7e]{1,256}$")


@pytest.mark.parametrize("rid", [
    "abc-123",
    "7f1c9c2e-5d3a-4a9e-9a51-0c2b1e6f0d11",
    "x",
    "req:42/retry=1",
    "r" * 256,
    "order 42 retry 1",        # blanks inside are part of the value
    "tab\tinside",
])
def test_sent_request_id_is_echoed(server, rid):
    srv = server()
    resp = srv.get("/healthz", headers={"X-Request-Id": rid})
    assert resp.status == 200
    assert resp.header_all("X-Request-Id") == [rid], resp


def test_request_id_header_name_is_case_insensitive(server):
    srv = server()
    resp = srv.get("/healthz", headers={"x-request-id": "lower-case-name"})
    assert resp.header("X-Request-Id") == "lower-case-name", resp


def test_request_id_echoed_on_errors(server):
    srv = server()
    assert srv.get("/nope", headers={"X-Request-Id": "err-404"}).header("X-Request-Id") == "err-404"
    resp = srv.request("POST", "/healthz", headers={"X-Request-Id": "err-405"}, body=b"")
    assert resp.status == 405 and resp.header("X-Request-Id") == "err-405", resp


def test_request_id_generated_when_absent_and_unique(server):
    srv = server()
    seen = []
    # Across connections (and so, likely, across I/O threads) ...
    for _ in range(40):
        resp = srv.get("/healthz")
        rid = resp.header("X-Request-Id")
        assert rid and PRINTABLE_ID.match(rid), resp
        seen.append(rid)
    # ... and within one pipelined burst.
    with srv.connect() as c:
        c.send(build_request("GET", "/healthz") * 40)
        for _ in range(40):
            rid = c.read_response().header("X-Request-Id")
            assert rid and PRINTABLE_ID.match(rid)
            seen.append(rid)
    assert len(set(seen)) == len(seen), "generated request ids repeat"


def test_generated_ids_differ_between_server_processes(server):
    a, b = server(), server()
    ids_a = {a.get("/healthz").header("X-Request-Id") for _ in range(5)}
    ids_b = {b.get("/healthz").header("X-Request-Id") for _ in range(5)}
    assert not ids_a & ids_b, "two processes generate the same request ids (logs would collide)"


@pytest.mark.parametrize("bad", [
    "a" * 257,                 # too long
    "",                        # empty
    "caf\xe9",                 # not ASCII
])
def test_unacceptable_request_id_is_replaced(server, bad):
    srv = server()
    with srv.connect() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + bad.encode("latin-1") + b"\r\n\r\n")
        resp = c.read_response()
    assert resp.status == 200, resp
    rid = resp.header("X-Request-Id")
    assert rid, "no X-Request-Id generated"
    assert rid != bad.strip(), "an unacceptable request id was echoed"
    assert PRINTABLE_ID.match(rid), rid
    assert len(resp.header_all("X-Request-Id")) == 1


def test_request_id_appears_in_access_log(server):
    srv = server(access_log=True)
    srv.get("/healthz", headers={"X-Request-Id": "logged-id-1"})
    rec = None

    def find():
        nonlocal rec
        rec = next((r for r in srv.log_records() if r.get("request_id") == "logged-id-1"), None)
        return rec

    wait_until(find, 5.0, message="access log line with request_id")
    assert rec.get("status") == 200


@pytest.mark.parametrize("raw", [
    b"POST /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: too-big\r\nContent-Length: 99999999999\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: bad-te\r\nTransfer-Encoding: gzip\r\n\r\n",
], ids=["413", "400"])
def test_protocol_error_responses_carry_a_request_id(server, raw):
    srv = server()
    with srv.connect() as c:
        c.send(raw)
        resp = c.read_response()
    assert resp.status in (400, 413), resp
    assert resp.header("X-Request-Id"), resp


@pytest.mark.parametrize("raw,status", [
    # The head past its 16 KiB limit: the parser stops inside it.
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: big-head\r\nX-Big: "
     + b"a" * 20000 + b"\r\n\r\n", 431),
    (b"GET /healthz HTTP/2.0\r\nHost: x\r\nX-Request-Id: big-head\r\n\r\n", 505),
    # The id after the field the parser refuses.
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\nX-Request-Id: big-head\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-request-id: big-head\r\nContent-Length: 1\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n", 400),
], ids=["431", "505", "two-hosts", "cl-and-te"])
def test_protocol_errors_echo_the_clients_request_id(server, raw, status):
    srv = server()
    with srv.connect() as c:
        c.send(raw)
        resp = c.read_response()
    assert resp.status == status, resp
    assert resp.header("X-Request-Id") == "big-head", resp
