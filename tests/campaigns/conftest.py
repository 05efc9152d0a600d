"""Fixtures of the campaign tests (red packets, flash sales, the worker);
helpers shared with tests/profile (ucenter_support.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "profile"))

from campaign_support import Retrying  # noqa: E402
from ucenter_support import require_routes, stack_clients  # noqa: E402


@pytest.fixture(scope="session")
def uc(stack):
    """Clients of the stack; "lb" retries 503s (see Retrying), "lb_raw"
    shows them."""
    require_routes(stack)
    clients = stack_clients(stack)
    clients["lb_raw"] = clients["lb"]
    clients["lb"] = Retrying(clients["lb"])
    return clients


@pytest.fixture(scope="session")
def primary(stack) -> str:
    return stack.vars["SURGE_PG_PRIMARY"]
