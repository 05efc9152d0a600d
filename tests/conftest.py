"""Fixtures for black-box tests of the `surge` binary.

- `surge_bin`: path of the binary (env SURGE_BIN, default <repo>/build/surge).
- `server`: factory; `server(max_body_bytes=1024, header_timeout_ms=500)`
  starts `surge serve` on a free loopback port with those settings (keys map
  to SURGE_SERVER_<KEY>; `log_level` to SURGE_LOG_LEVEL; keys already spelled
  SURGE_... pass through) and returns a SurgeServer. Every server started is
  stopped at teardown (SIGTERM, wait, SIGKILL on timeout), and a server that
  crashed or did not exit 0 fails the test.
- Raw HTTP helpers live in surge_http.py (this directory is on sys.path).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from surge_http import (  # noqa: E402
    DEFAULT_TIMEOUT,
    ConnectionClosed,
    MalformedResponse,
    free_port,
    RawConnection,
    http_request,
    wait_until,
)

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 15.0


class ServerStartError(Exception):
    pass


class SurgeServer:
    """One `surge serve` process. stderr (JSON log lines) goes to a file."""

    def __init__(self, binary: Path, env: dict, workdir: Path, name: str):
        self.binary = binary
        self.env = env
        self.host = env["SURGE_SERVER_ADDRESS"]
        self.port = int(env["SURGE_SERVER_PORT"])
        self.workdir = workdir
        self.log_path = workdir / f"{name}.stderr.log"
        self.stdout_path = workdir / f"{name}.stdout.log"
        # Set False by a test that expects a non-zero exit on purpose.
        self.expect_clean_exit = True
        self._log = open(self.log_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen([str(binary), "serve"], env=env, cwd=str(workdir),
                                     stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._log)

    # -- logs -----------------------------------------------------------------
    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict]:
        out = []
        for line in self.log_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def has_log(self, msg: str) -> Optional[dict]:
        for rec in self.log_records():
            if rec.get("msg") == msg:
                return rec
        return None

    def wait_log(self, msg: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        return wait_until(lambda: self.has_log(msg), timeout, message=f"log line msg={msg!r}")

    # -- process --------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int = signal.SIGTERM) -> None:
        if self.running:
            self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> Optional[int]:
        """Exit code, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: Optional[float] = None) -> tuple[int, bool]:
        """SIGTERM, wait (shutdown timeout + margin), SIGKILL if needed.
        Returns (exit code, killed)."""
        if timeout is None:
            shutdown_ms = int(self.env.get("SURGE_SERVER_SHUTDOWN_TIMEOUT_MS", "10000") or 10000)
            timeout = shutdown_ms / 1000.0 + 5.0
        killed = False
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait_exit(timeout)
            if rc is None:
                killed = True
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        self._out.close()
        return self.proc.returncode, killed

    # -- HTTP -----------------------------------------------------------------
    def connect(self, timeout: float = DEFAULT_TIMEOUT) -> RawConnection:
        return RawConnection(self.port, self.host, timeout)

    def request(self, method: str = "GET", target: str = "/healthz", **kw):
        return http_request(self.port, method, target, host=self.host, **kw)

    def get(self, target: str = "/healthz", **kw):
        return self.request("GET", target, **kw)

    def metrics_text(self) -> str:
        resp = self.get("/metrics", headers={"Connection": "close"})
        assert resp.status == 200, resp
        return resp.body.decode("utf-8")

    def describe(self) -> str:
        tail = "\n".join(self.log_text().splitlines()[-30:])
        return f"surge pid={self.proc.pid} port={self.port} rc={self.proc.returncode}\n--- stderr tail ---\n{tail}"

    # -- startup --------------------------------------------------------------
    def _ready(self) -> bool:
        if not self.running:
            raise ServerStartError(f"surge exited during startup (rc={self.proc.returncode})")
        rec = self.has_log("listening")
        if rec is None:
            return False
        if int(rec.get("port", -1)) != self.port:
            raise ServerStartError(f"surge reports port {rec.get('port')}, expected {self.port}")
        # A full request with Connection: close, so the probe connection is
        # gone (server side too) by the time the test starts.
        with RawConnection(self.port, self.host, timeout=2.0) as c:
            resp = c.request("GET", "/healthz", headers={"Connection": "close"})
            c.read_until_close(2.0)
        return resp.status == 200

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._ready():
                    return
            except (OSError, ConnectionClosed, MalformedResponse):
                pass  # not listening yet
            if time.monotonic() >= deadline:
                raise ServerStartError(f"surge not ready after {timeout}s")
            time.sleep(0.02)


def _server_env(overrides: dict, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    env.update({
        "SURGE_SERVER_ADDRESS": "127.0.0.1",
        "SURGE_SERVER_PORT": str(port),
        "SURGE_SERVER_THREADS": "2",
        "SURGE_LOG_LEVEL": "info",
    })
    for key, value in overrides.items():
        if key.startswith("SURGE_"):
            name = key
        elif key == "log_level":
            name = "SURGE_LOG_LEVEL"
        else:
            name = "SURGE_SERVER_" + key.upper()
        if isinstance(value, bool):
            value = "true" if value else "false"
        env[name] = str(value)
    return env


@pytest.fixture(scope="session")
def surge_bin() -> Path:
    path = Path(os.environ.get("SURGE_BIN", REPO / "build" / "surge"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"surge binary not found at {path}: build it (cmake --build build --target surge) "
                    f"or set SURGE_BIN", pytrace=False)
    return path


@pytest.fixture
def server(surge_bin, tmp_path_factory, request):
    """Factory: server(**settings) -> started, ready SurgeServer."""
    started: list[SurgeServer] = []
    workdir = tmp_path_factory.mktemp("surge")

    def start(**overrides) -> SurgeServer:
        last_error = None
        for attempt in range(3):  # the free port may be taken between probe and bind
            env = _server_env(overrides, free_port())
            srv = SurgeServer(surge_bin, env, workdir, f"server{len(started)}-{attempt}")
            started.append(srv)
            try:
                srv.wait_ready()
                return srv
            except ServerStartError as e:
                last_error = f"{e}\n{srv.describe()}"
                srv.expect_clean_exit = False  # a failed start is reported below instead
                srv.stop(timeout=5)
                if "cannot listen" not in srv.log_text() and "reports port" not in str(e):
                    break
        pytest.fail(f"could not start surge: {last_error}", pytrace=False)

    yield start

    problems = []
    for srv in started:
        rc, killed = srv.stop()
        if not srv.expect_clean_exit:
            continue
        if killed:
            problems.append(f"surge did not exit after SIGTERM and was killed\n{srv.describe()}")
        elif rc != 0:
            # Negative: killed by a signal (a crash); positive: an error exit.
            problems.append(f"surge exited with {rc} (expected a clean exit 0)\n{srv.describe()}")
    if problems and not request.node.get_closest_marker("xfail"):
        pytest.fail("\n\n".join(problems), pytrace=False)


# ---------------------------------------------------------------------------
# One whole stack (scripts/cluster in a private folder) shared by every
# business-module test of the session. Tests MUST NOT kill its components
# (tests/cluster has its own stack for that) and MUST use fresh names/ids so
# they do not depend on each other.
# ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def stack():
    from surge_cluster import start_cluster, stop_cluster
    seed = int(os.environ.get("SURGE_TEST_SEED_USERS", "2000"))
    c = start_cluster(seed_users=seed)
    try:
        env = c.env_vars()
        c.url = env["SURGE_URL"]
        c.vars = env
        yield c
    finally:
        stop_cluster(c)
