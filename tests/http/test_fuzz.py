"""Robustness: garbage and mangled requests never crash the server, never
get a malformed or 5xx answer, and never stop it serving others.

Deterministic (seeded) so a failure reproduces; set SURGE_FUZZ_SEED to vary.
"""

import os
import random
import socket
import threading

import pytest

from surge_http import RawConnection, build_request, parse_response_stream

SEED = int(os.environ.get("SURGE_FUZZ_SEED", "20261125"))
BLOBS = 200

VALID = [
    build_request("GET", "/healthz"),
    build_request("HEAD", "/healthz"),
    build_request("POST", "/healthz", body=b'{"a": 1}'),
    build_request("POST", "/healthz", headers={"Transfer-Encoding": "chunked"}, body=b"3\r\nabc\r\n0\r\n\r\n"),
    build_request("GET", "/metrics", headers={"X-Request-Id": "fuzz", "Connection": "keep-alive"}),
    b"GET /healthz HTTP/1.0\r\n\r\n",
]
TOKENS = [b"GET", b"POST", b"HEAD", b" ", b"/", b"HTTP/1.1", b"HTTP/1.0", b"\r\n", b"\n", b"\r", b":",
          b"Content-Length", b"Transfer-Encoding", b"chunked", b"0", b"-1", b"99999999999999999999",
          b"\x00", b"\xff", b"\t", b"Host", b"Expect", b"100-continue", b"\r\n\r\n", b";", b",", b"%00"]


def make_blob(rng: random.Random, i: int) -> bytes:
    kind = i % 5
    if kind == 0:  # pure noise
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2048)))
    if kind == 1:  # token soup
        return b"".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 60)))
    base = bytearray(b"".join(rng.choice(VALID) for _ in range(rng.randint(1, 3))))
    if kind == 2:  # bit flips
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(base))
            base[pos] ^= 1 << rng.randrange(8)
        return bytes(base)
    if kind == 3:  # truncation / duplication of a slice
        a, b = sorted(rng.randrange(len(base) + 1) for _ in range(2))
        return bytes(base[:a] + base[a:b] * rng.randint(0, 3) + base[b:])
    # kind 4: token insertion
    for _ in range(rng.randint(1, 6)):
        pos = rng.randrange(len(base) + 1)
        base[pos:pos] = rng.choice(TOKENS)
    return bytes(base)


def exchange(port: int, blob: bytes, rng: random.Random) -> bytes:
    """Sends one blob; half-closes or aborts; returns whatever came back."""
    with RawConnection(port, timeout=5.0) as c:
        try:
            c.send(blob)
        except OSError:
            return b""  # the server already closed on the early bytes
        if rng.random() < 0.15:
            # Vanish abruptly (RST), without reading.
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return b""
        c.shutdown_write()
        return c.read_until_close(5.0)


def check_answer(blob: bytes, data: bytes) -> None:
    if not data:
        return
    assert data.startswith(b"HTTP/1."), f"non-HTTP answer {data[:80]!r} to {blob[:120]!r}"
    # Which requests were HEAD is unknown after mangling: guess_head takes a
    # head followed directly by the next status line as a bodiless answer.
    responses, rest = parse_response_stream(data, guess_head=True)
    assert responses, f"unparseable answer {data[:200]!r}"
    assert rest == b"", f"trailing bytes that are not a whole response: {rest[:200]!r}"
    for r in responses:
        assert 100 <= r.status < 500 or r.status == 505, f"status {r.status} for {blob[:120]!r}: {r!r}"


def test_garbage_never_crashes_the_server(server):
    srv = server(header_timeout_ms=2000)
    rng = random.Random(SEED)
    with srv.connect() as bystander:
        assert bystander.request("GET", "/healthz").status == 200
        for i in range(BLOBS):
            blob = make_blob(rng, i)
            data = exchange(srv.port, blob, rng)
            assert srv.running, f"surge died on blob #{i} (seed {SEED}): {blob[:200]!r}\n{srv.describe()}"
            check_answer(blob, data)
        # Still alive and serving, old and new connections alike.
        assert bystander.request("GET", "/healthz").status == 200
    assert srv.get("/healthz").status == 200


def test_concurrent_garbage_and_valid_traffic(server):
    srv = server(header_timeout_ms=2000)
    failures = []

    def garbage(worker: int):
        rng = random.Random(SEED + worker)
        try:
            for i in range(40):
                exchange(srv.port, make_blob(rng, i), rng)
        except Exception as e:  # pragma: no cover - reported below
            failures.append(f"garbage worker {worker}: {e!r}")

    threads = [threading.Thread(target=garbage, args=(w,), daemon=True) for w in range(4)]
    for t in threads:
        t.start()
    with srv.connect() as c:
        while any(t.is_alive() for t in threads):
            assert c.request("GET", "/healthz").status == 200
    for t in threads:
        t.join(30)
    assert not failures, failures
    assert srv.running
    assert srv.get("/healthz").status == 200


@pytest.mark.parametrize("size", [1, 4096, 65536, 1 << 20])
def test_large_noise_is_refused(server, size):
    srv = server(max_header_bytes=8192)
    rng = random.Random(SEED + size)
    blob = bytes(rng.getrandbits(8) for _ in range(size))
    with RawConnection(srv.port, timeout=5.0) as c:
        try:
            c.send(blob)
            c.shutdown_write()
        except OSError:
            pass  # closed on us mid-send: fine
        closed, data = c.wait_closed(5.0)
    assert closed
    check_answer(blob, data)
    assert srv.get("/healthz").status == 200
