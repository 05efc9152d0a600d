"""DESIGN.md reliability targets: "a slow network to one component". Each
scenario runs a `surge serve` of its own whose link to one component goes
through a proxy that holds every chunk of data for a while. The server
must keep answering — degraded to the other tiers, within its timeouts —
and never award or count anything twice."""

from __future__ import annotations

import concurrent.futures
import socket
import threading
import time

from ucenter_support import API, Client, create_user, own_server_env


class SlowProxy:
    """127.0.0.1:<port> → target, each chunk held `delay` seconds each way."""

    def __init__(self, target: str, delay: float):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                time.sleep(self.delay)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


def own_client(server, stack, **env) -> Client:
    srv = server(**own_server_env(stack, **env))
    return Client(f"http://127.0.0.1:{srv.port}", stack.vars["SURGE_TOKEN_SECRET"],
                  stack.vars["SURGE_ADMIN_TOKEN"])


def timed(call):
    started = time.monotonic()
    r = call()
    return r, time.monotonic() - started


def test_slow_cache_shard_degrades_to_the_database(server, stack, uc, primary):
    shards = stack.vars["SURGE_REDIS"].split(",")
    proxy = SlowProxy(shards[0], delay=1.5)
    try:
        client = own_client(server, stack, SURGE_REDIS_SHARDS=f"{proxy.address},{shards[1]}",
                            SURGE_REDIS_COMMAND_TIMEOUT_MS="300")
        users = [create_user(primary, "slow")[0] for _ in range(6)]  # both shards
        for uid in users:
            for call in (lambda: client.get(API + "/me", user=uid),
                         lambda: client.patch(API + "/me", user=uid, body={"nickname": "slow"}),
                         lambda: client.get(f"{API}/users/{uid}")):
                r, took = timed(call)
                assert r.status == 200, (uid, r.status, r.body)
                assert took < 5, f"a request waited {took:.1f}s on the slow shard"
            assert client.get(f"{API}/users/{uid}").json["nickname"] == "slow"
        # Sign-in still happens exactly once per user, whatever the shard.
        uid = users[0]
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda _: client.post(API + "/signin", user=uid), range(10)))
        assert all(a.status == 200 for a in answers), [a.body for a in answers]
        assert sum(a.json["awarded_points"] > 0 for a in answers) == 1
    finally:
        proxy.close()


def test_slow_replica_reads_from_the_primary(server, stack, uc, primary):
    replica = stack.vars["SURGE_PG_REPLICA"]
    hostport = replica.split("@", 1)[1].split("/", 1)[0]
    proxy = SlowProxy(hostport, delay=3.0)
    try:
        slow_uri = replica.replace(hostport, proxy.address)
        client = own_client(server, stack, SURGE_DATABASE_REPLICAS=slow_uri,
                            SURGE_DATABASE_MAX_REPLICA_LAG_MS="200",
                            SURGE_DATABASE_QUERY_TIMEOUT_MS="500")
        uid, _ = create_user(primary, "slowrep")
        deadline = time.monotonic() + 20
        while True:  # until the health checks took the slow replica out
            r, took = timed(lambda: client.get(API + "/products"))
            assert r.status == 200, r.body
            if took < 1.0 or time.monotonic() > deadline:
                break
        for call in (lambda: client.get(API + "/products"),
                     lambda: client.get(f"{API}/orders?page=2", user=uid),
                     lambda: client.get(API + "/me", user=uid)):
            r, took = timed(call)
            assert r.status == 200, r.body
            # One chunk through the proxy alone takes 3 s each way.
            assert took < 2.5, f"a read still waited {took:.2f}s on the slow replica"
    finally:
        proxy.close()
