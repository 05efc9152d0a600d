"""Graceful shutdown on SIGTERM/SIGINT: stop accepting, close idle
connections, let a request in progress finish (with Connection: close), exit
0; force-close what is still open after shutdown_timeout_ms."""

import signal
import socket
import time

from surge_http import build_request, wait_until

PROMPT = 3.0  # seconds: "promptly", well under the 10 s shutdown timeout used


def listener_gone(srv) -> bool:
    try:
        with socket.create_connection((srv.host, srv.port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def test_sigterm_when_idle_exits_zero_promptly(server):
    srv = server(shutdown_timeout_ms=10_000)
    assert srv.get("/healthz").status == 200
    start = time.monotonic()
    srv.signal(signal.SIGTERM)
    rc = srv.wait_exit(PROMPT)
    assert rc is not None, f"still running {PROMPT}s after SIGTERM with nothing in flight"
    assert rc == 0, srv.describe()
    assert time.monotonic() - start < PROMPT
    assert listener_gone(srv)


def test_sigint_is_graceful_too(server):
    srv = server(shutdown_timeout_ms=10_000)
    srv.signal(signal.SIGINT)
    assert srv.wait_exit(PROMPT) == 0, srv.describe()


def test_idle_keep_alive_connections_are_closed_on_sigterm(server):
    srv = server(shutdown_timeout_ms=10_000, idle_timeout_ms=60_000)
    conns = [srv.connect() for _ in range(4)]
    try:
        for c in conns:
            assert c.request("GET", "/healthz").status == 200
        srv.signal(signal.SIGTERM)
        for c in conns:
            closed, data = c.wait_closed(PROMPT)
            assert closed, "idle keep-alive connection not closed on SIGTERM"
            assert data == b"", data
        assert srv.wait_exit(PROMPT) == 0, srv.describe()
    finally:
        for c in conns:
            c.close()


def test_request_in_progress_completes_during_shutdown(server):
    srv = server(shutdown_timeout_ms=10_000, idle_timeout_ms=60_000, header_timeout_ms=60_000)
    with srv.connect() as c:
        # One write: a complete GET, then a POST whose body is half there. The
        # GET's answer proves the server has read (and is now waiting inside)
        # the POST: the connection is mid-request, not idle.
        c.send(build_request("GET", "/healthz", headers={"X-Request-Id": "before"})
               + build_request("POST", "/healthz", headers={"Content-Length": "10", "X-Request-Id": "inflight"})
               + b"01234")
        first = c.read_response()
        assert first.status == 200 and first.header("X-Request-Id") == "before", first
        assert not first.closes

        srv.signal(signal.SIGTERM)
        # Draining has begun once the listener is gone.
        wait_until(lambda: listener_gone(srv), PROMPT, message="listener closed after SIGTERM")
        assert srv.running, "exited without waiting for the request in progress"

        c.send(b"56789")
        resp = c.read_response()
        assert resp.status == 405, resp  # routed: the request completed
        assert resp.header("X-Request-Id") == "inflight"
        assert resp.closes, f"response during shutdown lacks Connection: close: {resp!r}"
        closed, extra = c.wait_closed(PROMPT)
        assert closed and extra == b""
    rc = srv.wait_exit(PROMPT)
    assert rc == 0, srv.describe()


def test_stuck_request_is_force_closed_at_shutdown_timeout(server):
    shutdown_ms = 1000
    srv = server(shutdown_timeout_ms=shutdown_ms, idle_timeout_ms=60_000, header_timeout_ms=60_000)
    with srv.connect() as c:
        c.send(build_request("GET", "/healthz")
               + build_request("POST", "/healthz", headers={"Content-Length": "10"}) + b"01234")
        assert c.read_response().status == 200  # the POST is now in progress
        start = time.monotonic()
        srv.signal(signal.SIGTERM)
        # The body never completes: the server waits for it, but only until
        # the shutdown timeout.
        closed, data = c.wait_closed(shutdown_ms / 1000 + PROMPT)
        waited = time.monotonic() - start
        assert closed, "in-progress connection never force-closed"
        assert data == b"" or b" 503 " in data.split(b"\r\n", 1)[0], data
        assert waited >= shutdown_ms / 1000 * 0.8, \
            f"connection with a request in progress was closed after {waited:.3f}s, before the shutdown timeout"
    rc = srv.wait_exit(PROMPT)
    assert rc == 0, srv.describe()


def test_no_new_connections_are_served_while_draining(server):
    srv = server(shutdown_timeout_ms=10_000, idle_timeout_ms=60_000, header_timeout_ms=60_000)
    with srv.connect() as busy:
        busy.send(build_request("GET", "/healthz")
                  + build_request("POST", "/healthz", headers={"Content-Length": "2"}) + b"x")
        assert busy.read_response().status == 200
        srv.signal(signal.SIGTERM)
        wait_until(lambda: listener_gone(srv), PROMPT, message="listener closed after SIGTERM")
        assert srv.running  # still draining the busy connection
        busy.send(b"y")
        assert busy.read_response().status == 405
    assert srv.wait_exit(PROMPT) == 0, srv.describe()
