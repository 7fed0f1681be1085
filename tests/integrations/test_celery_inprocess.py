"""Celery in one process (Celery's test worker thread, in-memory broker): spans, coexistence."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from opentelemetry import trace

import watchkit
import watchkit.integrations.celery
from watchkit.testing import TelemetryCapture


@pytest.fixture
def app() -> Iterator[Celery]:
    """An app on the in-memory broker, instrumented by watchkit, with two tasks."""
    celery = Celery(
        "inprocess", broker="memory://", backend="cache+memory://", set_as_current=False
    )
    celery.conf.update(
        task_default_queue="emails",
        worker_hijack_root_logger=False,
        broker_transport_options={"polling_interval": 0.01},
    )

    @celery.task(name="send_email", shared=False)
    def send_email(address: str) -> str:
        watchkit.get_logger("emails").info("email sent")
        return address

    @celery.task(name="bounce", shared=False)
    def bounce() -> None:
        raise ConnectionRefusedError("smtp down")

    watchkit.integrations.celery.instrument(celery, queue_depth=False)
    yield celery
    watchkit.integrations.celery.uninstrument()
    celery.close()


def _run(app: Celery, *calls: tuple[str, tuple[Any, ...]]) -> list[Any]:
    # Celery's test worker sets the root logger to its own level (ERROR); later
    # tests that capture watchkit's warnings need the level they started with.
    root = logging.getLogger()
    level = root.level
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            results = [app.tasks[name].delay(*args) for name, args in calls]
            return [r.get(timeout=10, propagate=False) for r in results]
    finally:
        root.setLevel(level)


def test_spans_and_outcomes_in_process(app: Celery, telemetry: TelemetryCapture) -> None:
    """send -> process in one trace; failure recorded with error.type; no contrib present."""
    with watchkit.span("checkout"):
        pass
    assert _run(app, ("send_email", ("a@example.org",)), ("bounce", ()))[0] == "a@example.org"
    sent = telemetry.span("send send_email")
    processed = telemetry.span("process send_email")
    assert processed.parent is not None and processed.parent.span_id == sent.context.span_id
    assert processed.attributes is not None
    assert processed.attributes["messaging.destination.name"] == "emails"
    failed = telemetry.span("process bounce")
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "ConnectionRefusedError"
    assert failed.attributes["job.outcome"] == "failure"
    assert telemetry.counter("watchkit.queue.jobs", {"job.outcome": "success"}) == 1
    assert telemetry.counter("watchkit.queue.jobs", {"job.outcome": "failure"}) == 1
    assert (
        telemetry.histogram("watchkit.queue.wait.duration", {"job.name": "send_email"}).count == 1
    )


def test_coexists_with_the_contrib_instrumentation(
    app: Celery, telemetry: TelemetryCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """With contrib's Celery instrumentation on: its spans only, watchkit's metrics, one warning."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    instrumentor = CeleryInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    try:
        with caplog.at_level(logging.WARNING, logger="watchkit"):
            _run(app, ("send_email", ("a@example.org",)), ("send_email", ("b@example.org",)))
    finally:
        instrumentor.uninstrument()
    names = sorted(span.name for span in telemetry.spans())
    assert names == [
        "apply_async/send_email",
        "apply_async/send_email",
        "run/send_email",
        "run/send_email",
    ]
    run = telemetry.spans("run/send_email")[0]
    publish = telemetry.spans("apply_async/send_email")[0]
    assert run.context.trace_id == publish.context.trace_id
    assert telemetry.counter("watchkit.queue.jobs", {"job.outcome": "success"}) == 2
    assert telemetry.counter("messaging.client.sent.messages") == 2
    assert telemetry.histogram("watchkit.queue.wait.duration").count == 2
    warnings = [r for r in caplog.records if "opentelemetry-instrumentation-celery" in r.message]
    assert len(warnings) == 1


def test_instrument_rejects_what_is_not_an_app() -> None:
    """instrument() needs a Celery application."""
    with pytest.raises(TypeError, match=r"celery\.Celery"):
        watchkit.integrations.celery.instrument(object())


def test_a_publish_that_raises_is_counted_as_failed(telemetry: TelemetryCapture) -> None:
    """Broker down: the publish raises to the caller, and is ended as failed at the next one."""
    from kombu.exceptions import OperationalError

    from tests.helpers import free_port

    dead = Celery("dead", broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False)
    dead.conf.update(broker_transport_options={"max_retries": 0})

    @dead.task(name="notify", shared=False)
    def notify() -> None:
        return None

    watchkit.integrations.celery.instrument(dead, queue_depth=False)
    try:
        for _ in range(2):
            with pytest.raises(OperationalError):
                notify.apply_async(retry=False)
            # The failed publish's span must not stay current in the caller's thread.
            assert trace.get_current_span() is trace.INVALID_SPAN
    finally:
        watchkit.integrations.celery.uninstrument()
        dead.close()
    failed = telemetry.counter(
        "messaging.client.sent.messages", {"error.type": "_OTHER", "messaging.system": "celery"}
    )
    assert failed == 1  # the second one is ended by the next publish, which never comes
    span = telemetry.spans("send notify")[0]
    assert span.status.status_code.name == "ERROR"
