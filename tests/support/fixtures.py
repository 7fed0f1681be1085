"""Pytest fixtures for end-to-end tests against a real collector.

Import the fixtures you need into the test module (no conftest required)::

    from tests.support.fixtures import otlp_receiver, rotel_collector  # noqa: F401

and mark such tests ``@pytest.mark.collector``.

Both fixtures are function-scoped on purpose. A fresh receiver per test means
no cross-test leakage of telemetry, and a fresh collector costs only ~11 ms
of start-up (see :mod:`tests.support.rotel`), so a session-scoped variant
would save nothing worth the shared state.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

import pytest

from tests.support.receiver import OtlpReceiver
from tests.support.rotel import RotelCollector

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["otlp_receiver", "rotel_collector"]


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A started :class:`OtlpReceiver` on a free loopback port, stopped afterwards."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
def rotel_collector(
    otlp_receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RotelCollector]:
    """A started rotel collector forwarding all signals to ``otlp_receiver``.

    The agent log lives in its own pytest temp directory (kept for the usual
    last few runs). At teardown its tail is printed, which pytest shows under
    "Captured stdout teardown" only when the test failed.
    """
    # A directory of its own, so the log cannot collide with the test's tmp_path.
    collector = RotelCollector(otlp_receiver, log_dir=tmp_path_factory.mktemp("rotel"))
    collector.start()
    try:
        yield collector
    finally:
        if otlp_receiver.status == HTTPStatus.OK:
            collector.stop()
        else:
            # A refusing receiver keeps rotel retrying, which turns a graceful
            # shutdown into a ~3 s wait; nothing in flight matters any more.
            collector.kill()
        print(f"rotel-agent log ({collector.log_path}):\n{collector.log_tail()}")
