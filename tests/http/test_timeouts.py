"""Header timeout (slow clients) and idle timeout (quiet keep-alive
connections). Bounds are generous: the server's sweeper is periodic and CI
machines are slow; what matters is "closed, and not forever"."""

import time

from surge_http import build_request

HEADER_MS = 500
IDLE_MS = 800
CLOSE_BOUND = 5.0  # seconds; far above either timeout, far below "never"


def test_half_a_request_head_is_dropped_while_others_are_served(server):
    srv = server(header_timeout_ms=HEADER_MS, idle_timeout_ms=60_000)
    with srv.connect() as slow, srv.connect() as other:
        start = time.monotonic()
        slow.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
        served = 0
        while True:
            # Another client keeps being served normally meanwhile.
            assert other.request("GET", "/healthz").status == 200
            served += 1
            if slow.readable_within(0.05):
                break
            assert time.monotonic() - start < CLOSE_BOUND, "slow client not dropped"
        closed, data = slow.wait_closed(CLOSE_BOUND)
        elapsed = time.monotonic() - start
        assert closed, "slow client not dropped"
        # Dropped silently or with a 408; never answered as if complete.
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
        assert elapsed >= HEADER_MS / 1000 * 0.8, f"dropped after {elapsed:.3f}s, before the header timeout"
        assert served >= 2
        # The other client is unaffected and still on the same connection.
        assert other.request("GET", "/healthz").status == 200


def test_trickling_head_does_not_extend_the_header_timeout(server):
    # Slowloris: one byte every 50 ms keeps the connection busy but the head
    # must still be complete within the header timeout.
    srv = server(header_timeout_ms=HEADER_MS, idle_timeout_ms=60_000)
    with srv.connect() as c:
        start = time.monotonic()
        endless = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Drip: " + b"d" * 10_000
        i = 0
        while not c.readable_within(0.05):
            assert time.monotonic() - start < CLOSE_BOUND, "trickling client never dropped"
            try:
                c.send(endless[i : i + 1])
            except OSError:
                break
            i += 1
        closed, data = c.wait_closed(CLOSE_BOUND)
        assert closed
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
        assert time.monotonic() - start >= HEADER_MS / 1000 * 0.8


def test_complete_head_in_pieces_within_timeout_is_served(server):
    # Control: a head that arrives in pieces but on time is fine.
    srv = server(header_timeout_ms=2000, idle_timeout_ms=60_000)
    req = build_request("GET", "/healthz")
    with srv.connect() as c:
        for i in range(0, len(req), 8):
            c.send(req[i : i + 8])
            assert not c.readable_within(0.01) or i + 8 >= len(req)
        assert c.read_response().status == 200


def test_slow_body_pieces_extend_the_deadline(server):
    # Once the head is in, each arriving body piece counts as progress: a
    # 10-byte body sent over ~3 header timeouts still completes (a piece
    # every 0.3 s against a 1 s timeout: a stalled test process has 0.7 s).
    srv = server(header_timeout_ms=1000, idle_timeout_ms=60_000)
    with srv.connect() as c:
        c.send(build_request("POST", "/healthz", headers={"Content-Length": "10"}))
        for b in b"0123456789":
            assert not c.readable_within(0.3), "connection closed while the body was still arriving"
            c.send(bytes([b]))
        assert c.read_response().status == 405


def test_idle_keep_alive_connection_is_closed_after_idle_timeout(server):
    srv = server(idle_timeout_ms=IDLE_MS, header_timeout_ms=10_000)
    with srv.connect() as c:
        assert c.request("GET", "/healthz").status == 200
        start = time.monotonic()
        closed, data = c.wait_closed(CLOSE_BOUND)
        elapsed = time.monotonic() - start
        assert closed, f"idle connection still open after {CLOSE_BOUND}s"
        assert data == b"", data
        assert elapsed >= IDLE_MS / 1000 * 0.8, f"closed after {elapsed:.3f}s, before the idle timeout"
    assert srv.get("/healthz").status == 200


def test_connection_without_any_request_is_closed_after_idle_timeout(server):
    srv = server(idle_timeout_ms=IDLE_MS, header_timeout_ms=10_000)
    with srv.connect() as c:
        start = time.monotonic()
        closed, data = c.wait_closed(CLOSE_BOUND)
        assert closed and data == b""
        assert time.monotonic() - start >= IDLE_MS / 1000 * 0.8


def test_active_connection_outlives_the_idle_timeout(server):
    # Requests every 200 ms for ~3 idle timeouts of 1.5 s: the idle clock
    # restarts after each response, so the connection is never closed (a
    # stalled test process has 1.3 s of margin).
    idle_ms = 1500
    srv = server(idle_timeout_ms=idle_ms, header_timeout_ms=10_000)
    with srv.connect() as c:
        start = time.monotonic()
        while time.monotonic() - start < 3 * idle_ms / 1000:
            resp = c.request("GET", "/healthz")
            assert resp.status == 200 and not resp.closes, resp
            assert not c.readable_within(0.2), "busy keep-alive connection was closed"
