"""The session's private redis-server, and a clean active-users registry per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_server import redis_server  # noqa: F401 - the fixture


@pytest.fixture(autouse=True)
def _forget_active_users() -> Iterator[None]:
    """Active-user counters defined by a test stop reporting after it (no series leaks on)."""
    yield
    from watchkit import security
    from watchkit._security import active

    with security._ACTIVE_LOCK:
        security._ACTIVE.clear()
    with active._lock:
        active._sources.clear()
