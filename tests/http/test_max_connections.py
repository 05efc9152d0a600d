"""max_connections: connections beyond the limit are closed at once; the
server keeps serving the ones it has and accepts again once some close."""

import socket

from surge_http import ConnectionClosed, RawConnection, metric_sum, parse_metrics, wait_until

MAX = 8


def open_served(srv, n):
    """n keep-alive connections, each proven accepted by one request."""
    conns = []
    try:
        for i in range(n):
            c = srv.connect()
            conns.append(c)
            resp = c.request("GET", "/healthz")
            assert resp.status == 200 and not resp.closes, (i, resp)
    except BaseException:
        for c in conns:
            c.close()
        raise
    return conns


def assert_rejected(srv):
    """A new connection is closed by the server promptly, unanswered."""
    try:
        c = RawConnection(srv.port, srv.host, timeout=5.0)
    except ConnectionRefusedError:  # pragma: no cover - also a rejection, but not surge's way
        raise AssertionError("listener refused connections instead of accept+close")
    with c:
        try:
            c.send_request("GET", "/healthz")
        except OSError:
            pass  # already reset: rejected
        closed, data = c.wait_closed(3.0)
        assert closed, "connection over max_connections was kept open"
        assert data == b"", f"connection over max_connections was answered: {data[:80]!r}"


def test_ninth_connection_is_closed_and_server_recovers(server):
    srv = server(max_connections=MAX, idle_timeout_ms=60_000)
    conns = open_served(srv, MAX)
    try:
        assert_rejected(srv)
        # The existing connections are unaffected.
        for c in conns:
            assert c.request("GET", "/healthz").status == 200

        # Free two slots: new connections are served again (the server notices
        # the close asynchronously, so poll).
        for c in conns[:2]:
            c.close()
        del conns[:2]

        def new_connection_served():
            with RawConnection(srv.port, srv.host, timeout=2.0) as c:
                return c.request("GET", "/healthz", headers={"Connection": "close"}).status == 200

        wait_until(new_connection_served, 5.0, message="a new connection to be served after closes")
        for c in conns:
            assert c.request("GET", "/healthz").status == 200

        # The rejections are visible in /metrics (needs a free slot).
        samples = parse_metrics(srv.metrics_text())
        assert metric_sum(samples, "surge_http_connections_rejected_total") >= 1
    finally:
        for c in conns:
            c.close()


def test_limit_is_per_open_connection_not_per_request(server):
    # Many short connections in sequence never hit the limit.
    srv = server(max_connections=MAX)
    for i in range(4 * MAX):
        with RawConnection(srv.port, srv.host) as c:
            resp = c.request("GET", "/healthz", headers={"Connection": "close"})
            assert resp.status == 200, (i, resp)
            assert c.wait_closed(5.0)[0]


def test_all_slots_freed_after_clients_vanish(server):
    # Clients that disappear abruptly (RST) give their slots back too.
    srv = server(max_connections=MAX, idle_timeout_ms=60_000)
    conns = open_served(srv, MAX)
    assert_rejected(srv)
    for c in conns:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()  # linger 0: RST

    def full_set_served():
        try:
            again = open_served(srv, MAX)
        except (AssertionError, OSError, ConnectionClosed):
            return False
        for c in again:
            c.close()
        return True

    wait_until(full_set_served, 5.0, interval=0.1, message=f"{MAX} connections to be served again")
