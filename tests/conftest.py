"""Shared fixtures: isolate watchkit's global state and make internal errors fail tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

# Internal errors must fail our tests rather than be logged and swallowed.
os.environ["WATCHKIT_RAISE_INTERNAL_ERRORS"] = "1"

from watchkit._internal import guard

# The real-collector fixtures (rotel_collector, otlp_receiver) and the session
# PostgreSQL cluster (postgres_server) for every test module.
pytest_plugins = ["tests.support.fixtures", "tests.support.postgres"]

guard.set_raise(True)


@pytest.fixture(autouse=True)
def _reset_watchkit() -> Iterator[None]:
    """Every test starts unconfigured and leaves nothing configured behind."""
    yield
    import watchkit
    from watchkit._internal.diagnostics import export_health, remove_sdk_log_filter

    watchkit.shutdown(timeout=2.0)
    export_health.reset()
    remove_sdk_log_filter()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove every OTEL_* and WATCHKIT_* variable (except the test switch) for the test."""
    for name in list(os.environ):
        if name.startswith("OTEL_") or (
            name.startswith("WATCHKIT_") and name != "WATCHKIT_RAISE_INTERNAL_ERRORS"
        ):
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(autouse=True)
def _close_sqlite_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every sqlite3 connection a test opened (directly or through SQLAlchemy).

    Python 3.13 warns about a connection left to the garbage collector, and with
    ``filterwarnings = error`` that warning fails whichever later test happens to
    trigger the collection.
    """
    import sqlite3
    import sqlite3.dbapi2

    opened: list[sqlite3.Connection] = []
    original = sqlite3.connect

    def connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = original(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect)  # what SQLAlchemy calls
    yield
    for conn in opened:
        # One made in another thread (a health check's worker) was closed there.
        with contextlib.suppress(sqlite3.ProgrammingError):
            conn.close()
