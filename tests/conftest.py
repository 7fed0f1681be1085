"""Shared fixtures: isolate watchkit's global state and make internal errors fail tests."""

from __future__ import annotations

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
