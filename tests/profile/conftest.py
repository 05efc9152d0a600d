"""Fixtures of the user-center tests: clients of the shared stack (load
balancer and each app), its database, and `surge serve` processes of our own
for degradation scenarios (see ucenter_support.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ucenter_support import require_routes, stack_clients  # noqa: E402


@pytest.fixture(scope="session")
def uc(stack):
    """Clients: uc["lb"], uc["app-0"], uc["app-1"]."""
    require_routes(stack)
    return stack_clients(stack)


@pytest.fixture(scope="session")
def primary(stack) -> str:
    return stack.vars["SURGE_PG_PRIMARY"]
