"""server.modules (DESIGN.md "Load balancer"): the user, catalog, orders and
campaign modules can run as separate services of the same binary, routed
by path prefix. A server answers only its modules' routes (404 for the
rest, like any unknown route) and always its operational ones."""

from __future__ import annotations

from ucenter_support import API, Client, create_user, own_server_env


def own(server, stack, modules: str) -> Client:
    srv = server(**own_server_env(stack, SURGE_SERVER_MODULES=modules))
    return Client(f"http://127.0.0.1:{srv.port}", stack.vars["SURGE_TOKEN_SECRET"],
                  stack.vars["SURGE_ADMIN_TOKEN"])


# One route of each module, answered 200 by a server that serves it.
PROBES = {
    "user": (API + "/me", True),
    "catalog": (API + "/products", False),
    "orders": (API + "/orders", True),
    "campaigns": (API + "/me/redpackets", True),
}


def test_each_module_alone(server, stack, uc, primary):
    uid, _ = create_user(primary)
    for module in PROBES:
        client = own(server, stack, module)
        for other, (path, needs_user) in PROBES.items():
            r = client.get(path, user=uid if needs_user else None)
            if other == module:
                assert r.status == 200, (module, path, r.status, r.body)
            else:
                assert r.status == 404 and r.error_code() == "not_found", (module, path, r.status)
        for path in ("/healthz", "/readyz", "/metrics"):
            assert client.get(path).status == 200, (module, path)


def test_two_modules_together_and_the_default_is_all(server, stack, uc, primary):
    uid, _ = create_user(primary)
    client = own(server, stack, "orders,campaigns")
    assert client.get(API + "/orders", user=uid).status == 200
    assert client.get(API + "/me/redpackets", user=uid).status == 200
    assert client.get(API + "/me", user=uid).status == 404
    everything = Client(f"http://127.0.0.1:{server(**own_server_env(stack)).port}",
                        stack.vars["SURGE_TOKEN_SECRET"], stack.vars["SURGE_ADMIN_TOKEN"])
    for path, needs_user in PROBES.values():
        assert everything.get(path, user=uid if needs_user else None).status == 200, path
