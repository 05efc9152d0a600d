"""Black-box helpers for talking to a running `surge serve` over raw sockets.

Imported by conftest.py (fixtures) and by the test modules:

    from surge_http import RawConnection, build_request, parse_metrics, ...

Everything here uses socket timeouts and explicit deadlines: no call blocks
forever and nothing sleeps to "give the server time".
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

# Upper bound for any single socket operation in the tests. Generous: the
# suite must not flake on a loaded CI machine, and a hung server still fails.
DEFAULT_TIMEOUT = 5.0


class ConnectionClosed(Exception):
    """The peer closed (FIN or RST) before a complete response arrived."""

    def __init__(self, message: str, partial: bytes = b""):
        super().__init__(message)
        self.partial = partial


class MalformedResponse(Exception):
    """The bytes on the wire are not a well-formed HTTP/1.x response."""


# ---------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def build_request(
    method: str = "GET",
    target: str = "/healthz",
    headers: Iterable[tuple[str, str]] | dict | None = None,
    body: bytes | None = None,
    version: str = "HTTP/1.1",
    host: bool = True,
    content_length: bool = True,
) -> bytes:
    """One request as bytes. Adds Host (HTTP/1.1) and Content-Length (when a
    body is given) unless told not to or the caller supplied them."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers or [])
    names = {n.lower() for n, _ in headers}
    lines = [f"{method} {target} {version}"]
    if host and "host" not in names:
        lines.append("Host: surge.test")
    for name, value in headers:
        lines.append(f"{name}: {value}")
    if body is not None and content_length and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


def chunked(*pieces: bytes, trailer: bytes = b"") -> bytes:
    """A chunked body (RFC 9112 §7.1) made of the given chunks plus the last chunk."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n" + trailer + b"\r\n"


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------


@dataclass
class HttpResponse:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes = b""

    def header(self, name: str) -> Optional[str]:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def has_header(self, name: str) -> bool:
        return self.header(name) is not None

    def connection_tokens(self) -> set[str]:
        tokens: set[str] = set()
        for v in self.header_all("Connection"):
            tokens.update(t.strip().lower() for t in v.split(",") if t.strip())
        return tokens

    @property
    def closes(self) -> bool:
        return "close" in self.connection_tokens()

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:  # short, for assertion messages
        return f"<HttpResponse {self.version} {self.status} {self.headers!r} body={self.body[:200]!r}>"


_STATUS_LINE = re.compile(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$")
_TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _parse_head(head: bytes) -> tuple[str, int, str, list[tuple[str, str]]]:
    lines = head.split(b"\r\n")
    m = _STATUS_LINE.match(lines[0])
    if not m:
        raise MalformedResponse(f"bad status line {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise MalformedResponse(f"bad header line {line!r}")
        headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return m.group(1).decode(), int(m.group(2)), (m.group(3) or b"").decode("latin-1"), headers


def _body_length(status: int, headers: list[tuple[str, str]], head_request: bool) -> Optional[int]:
    """Bytes of body that follow the head; None = delimited by close."""
    if head_request or 100 <= status < 200 or status in (204, 304):
        return 0
    values = [v for n, v in headers if n.lower() == "content-length"]
    if any(n.lower() == "transfer-encoding" for n, _ in headers):
        raise MalformedResponse("chunked responses are not expected from surge")
    if not values:
        return None
    if len(set(values)) != 1 or not values[0].isdigit():
        raise MalformedResponse(f"bad Content-Length {values!r}")
    return int(values[0])


def parse_response_stream(data: bytes, head_requests: Iterable[bool] = (),
                          guess_head: bool = False) -> tuple[list[HttpResponse], bytes]:
    """Splits a byte stream (e.g. everything read until close) into complete
    responses. Returns (responses, leftover bytes that do not form one).

    head_requests[i]: response i answers a HEAD (no body). guess_head: when
    unknown, a head directly followed by another status line (or the end of
    the stream) is taken as a HEAD answer (surge bodies never start "HTTP/1.")."""
    heads = list(head_requests)
    out: list[HttpResponse] = []
    pos = 0
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        version, status, reason, headers = _parse_head(data[pos:end])
        start = end + 4
        is_head = heads[len(out)] if len(out) < len(heads) else False
        if guess_head and len(out) >= len(heads):
            is_head = data.startswith(b"HTTP/1.", start) or start == len(data)
        length = _body_length(status, headers, is_head)
        if length is None:
            body, nxt = data[start:], len(data)
        else:
            if len(data) - start < length:
                break
            body, nxt = data[start : start + length], start + length
        out.append(HttpResponse(version, status, reason, headers, body, data[pos:end]))
        pos = nxt
    return out, data[pos:]


# ---------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------


class RawConnection:
    """A client socket with a read buffer, so pipelined responses can be read
    one at a time. Every blocking call is bounded by a timeout."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = DEFAULT_TIMEOUT):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    # -- context manager ----------------------------------------------------
    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def shutdown_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # -- writing --------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_request(self, *args, **kwargs) -> None:
        self.send(build_request(*args, **kwargs))

    # -- reading --------------------------------------------------------------
    def _fill(self, deadline: float) -> bool:
        """Reads more bytes into buf. False on EOF/reset. socket.timeout past deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline passed while reading")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            self.eof = True
            return False
        finally:
            self.sock.settimeout(self.timeout)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_response(self, head: bool = False, timeout: Optional[float] = None,
                      skip_interim: bool = True) -> HttpResponse:
        """Reads one complete response (Content-Length framed; for a response
        without one, until close). `head`: the request was HEAD (no body)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if not self._fill(deadline):
                    raise ConnectionClosed("closed before a complete response head", bytes(self.buf))
                continue
            version, status, reason, headers = _parse_head(bytes(self.buf[:end]))
            length = _body_length(status, headers, head)
            start = end + 4
            if length is None:
                while self._fill(deadline):
                    pass
                length = len(self.buf) - start
            while len(self.buf) - start < length:
                if not self._fill(deadline):
                    raise ConnectionClosed("closed before the whole body", bytes(self.buf))
            resp = HttpResponse(version, status, reason, headers, bytes(self.buf[start : start + length]),
                                bytes(self.buf[:end]))
            del self.buf[: start + length]
            if skip_interim and 100 <= status < 200:
                continue
            return resp

    def read_until_close(self, timeout: Optional[float] = None) -> bytes:
        """Everything up to the peer's FIN or RST (buffered bytes included).
        Raises socket.timeout if the peer keeps the connection open."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._fill(deadline):
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def wait_closed(self, timeout: float) -> tuple[bool, bytes]:
        """(closed, bytes received meanwhile): True when the peer closed (FIN
        or RST) within timeout. Never raises on timeout."""
        try:
            return True, self.read_until_close(timeout)
        except socket.timeout:
            data = bytes(self.buf)
            self.buf.clear()
            return False, data

    def readable_within(self, timeout: float) -> bool:
        """True if data or EOF arrives within timeout (does not consume it)."""
        if self.buf or self.eof:
            return True
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        return bool(r)

    def request(self, *args, timeout: Optional[float] = None, **kwargs) -> HttpResponse:
        """Sends one request and reads its response on this connection."""
        method = args[0] if args else kwargs.get("method", "GET")
        self.send_request(*args, **kwargs)
        return self.read_response(head=(method == "HEAD"), timeout=timeout)


def http_request(port: int, method: str = "GET", target: str = "/healthz", headers=None,
                 body: bytes | None = None, host: str = "127.0.0.1",
                 timeout: float = DEFAULT_TIMEOUT) -> HttpResponse:
    """One request on a fresh connection (closed afterwards)."""
    with RawConnection(port, host, timeout) as c:
        return c.request(method, target, headers=headers, body=body)


def send_and_read_all(port: int, data: bytes, host: str = "127.0.0.1",
                      timeout: float = DEFAULT_TIMEOUT, half_close: bool = False) -> bytes:
    """Sends raw bytes on a fresh connection and reads until the server closes."""
    with RawConnection(port, host, timeout) as c:
        c.send(data)
        if half_close:
            c.shutdown_write()
        return c.read_until_close(timeout)


# ---------------------------------------------------------------------------
# Polling
# ---------------------------------------------------------------------------


def wait_until(predicate: Callable[[], object], timeout: float = DEFAULT_TIMEOUT,
               interval: float = 0.02, message: str = "condition") -> object:
    """Polls predicate until it returns a truthy value (returned) or the
    deadline passes (AssertionError naming the condition)."""
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ConnectionClosed) as e:  # server not there yet, etc.
            last_exc = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# Prometheus text format
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict = field(hash=False)
    value: float


_SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,|(?=\})))*)\})?'
    r' (?P<value>[^ ]+)(?: -?\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def parse_metrics(text: str) -> list[Sample]:
    """Parses Prometheus text exposition format 0.0.4 strictly: every line is
    blank, a # comment, or a well-formed sample (AssertionError otherwise)."""
    samples = []
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            if line.startswith("# TYPE "):
                parts = line.split(" ")
                assert len(parts) == 4 and parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = dict(_LABEL.findall(m.group("labels") or ""))
        raw = m.group("value")
        value = {"+Inf": float("inf"), "-Inf": float("-inf"), "NaN": float("nan")}.get(raw)
        if value is None:
            value = float(raw)
        samples.append(Sample(m.group("name"), labels, value))
    return samples


def metric_sum(samples: list[Sample], name: str, **labels: str) -> float:
    """Sum of the samples named `name` whose labels include `labels`."""
    return sum(s.value for s in samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def find_samples(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [s for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
