"""Fixtures of the campaign tests (red packets, flash sales, the worker);
helpers shared with tests/profile (ucenter_support.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "profile"))

from ucenter_support import require_routes, stack_clients  # noqa: E402


@pytest.fixture(scope="session")
def uc(stack):
    require_routes(stack)
    return stack_clients(stack)


@pytest.fixture(scope="session")
def primary(stack) -> str:
    return stack.vars["SURGE_PG_PRIMARY"]
