"""pytest plugin: the ``telemetry`` fixture (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from watchkit.testing import TelemetryCapture, capture

__all__ = ["telemetry"]


@pytest.fixture
def telemetry() -> Iterator[TelemetryCapture]:
    """All of watchkit's telemetry during one test, in memory, with query helpers."""
    with capture() as captured:
        yield captured
