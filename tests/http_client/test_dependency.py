"""watchkit.dependency: decorator and context manager, sync and async, with outcome metrics."""

from __future__ import annotations

import pytest
from opentelemetry import trace

import watchkit
from watchkit.testing import TelemetryCapture

DURATION = "watchkit.dependency.duration"


def test_context_manager_records_success_and_failure(telemetry: TelemetryCapture) -> None:
    """with: a CLIENT span per call; failures re-raised, with error.type on span and metric."""
    payments = watchkit.dependency("payments")
    with payments:
        pass
    with pytest.raises(TimeoutError), payments:
        raise TimeoutError("provider slow")
    spans = telemetry.spans("payments")
    assert [s.kind for s in spans] == [trace.SpanKind.CLIENT] * 2
    assert spans[1].status.status_code is trace.StatusCode.ERROR
    assert spans[1].attributes["error.type"] == "TimeoutError"  # type: ignore[index]
    ok = {"service.peer.name": "payments", "watchkit.dependency.outcome": "success"}
    assert telemetry.histogram(DURATION, ok).count == 1
    failed = {"watchkit.dependency.outcome": "error", "error.type": "TimeoutError"}
    assert telemetry.histogram(DURATION, failed).count == 1


async def test_decorator_sync_and_async(telemetry: TelemetryCapture) -> None:
    """As a decorator on def and async def; the span is current inside the call."""
    seen: list[str] = []

    @watchkit.dependency("sms")
    def send(text: str) -> str:
        seen.append(trace.get_current_span().name)  # type: ignore[attr-defined]
        return text

    @watchkit.dependency("email")
    async def mail(to: str) -> str:
        seen.append(trace.get_current_span().name)  # type: ignore[attr-defined]
        return to

    assert send("hi") == "hi"
    assert await mail("a@b") == "a@b"
    async with watchkit.dependency("email"):
        pass
    assert seen == ["sms", "email"]
    assert len(telemetry.spans("email")) == 2
    assert telemetry.histogram(DURATION, {"service.peer.name": "sms"}).count == 1


def test_bad_name_fails_early() -> None:
    """An empty name is a ValueError."""
    with pytest.raises(ValueError, match="dependency name"):
        watchkit.dependency("")
