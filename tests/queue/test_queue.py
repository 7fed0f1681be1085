"""Generic queue helpers: producer and consumer spans, propagation, metrics, Redis depth."""
# ruff: noqa: F811 - pytest fixtures imported by name

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
import redis
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context

import watchkit
import watchkit.queue
from tests.support.redis_server import redis_server  # noqa: F401 - the fixture
from watchkit.testing import TelemetryCapture


def test_send_then_process_is_one_trace_with_a_link(telemetry: TelemetryCapture) -> None:
    """PRODUCER span injects traceparent, baggage, enqueue time; CONSUMER is its child + link."""
    headers: dict[str, str] = {}
    token = otel_context.attach(baggage.set_baggage("tenant", "bistro-12"))
    try:
        with (
            watchkit.span("POST /bookings"),
            watchkit.queue.send("notifications", headers, system="redis", message_id="m-1"),
        ):
            pass
    finally:
        otel_context.detach(token)
    assert {"traceparent", "baggage", "watchkit-enqueued-at"} <= set(headers)
    seen: dict[str, object] = {}
    with watchkit.queue.process(
        "notifications", headers, system="redis", message_id="m-1", job="send_email"
    ):
        seen["baggage"] = baggage.get_baggage("tenant")
        seen["span"] = trace.get_current_span().get_span_context()
    request = telemetry.span("POST /bookings")
    sent = telemetry.span("send notifications")
    processed = telemetry.span("process notifications")
    assert sent.kind is trace.SpanKind.PRODUCER
    assert sent.parent is not None and sent.parent.span_id == request.context.span_id
    assert processed.kind is trace.SpanKind.CONSUMER
    assert processed.context.trace_id == request.context.trace_id
    assert processed.parent is not None and processed.parent.span_id == sent.context.span_id
    assert [link.context.span_id for link in processed.links] == [sent.context.span_id]
    assert processed.attributes is not None
    assert processed.attributes["messaging.system"] == "redis"
    assert processed.attributes["messaging.destination.name"] == "notifications"
    assert processed.attributes["messaging.operation.type"] == "process"
    assert processed.attributes["messaging.message.id"] == "m-1"
    assert processed.attributes["job.outcome"] == "success"
    assert seen["baggage"] == "bistro-12"
    assert seen["span"] == processed.context
    base = {"messaging.system": "redis", "messaging.destination.name": "notifications"}
    assert telemetry.counter("messaging.client.sent.messages", base) == 1
    assert telemetry.counter("messaging.client.consumed.messages", base) == 1
    duration = telemetry.histogram(
        "messaging.process.duration", {**base, "messaging.operation.name": "process"}
    )
    assert duration.count == 1
    assert duration.explicit_bounds[-1] == 900.0
    wait = telemetry.histogram("watchkit.queue.wait.duration", {**base, "job.name": "send_email"})
    assert wait.count == 1
    assert wait.explicit_bounds[0] == 0.05 and wait.explicit_bounds[-1] == 1800.0
    # Message ids stay on spans: no metric point carries one.
    for name in telemetry.metric_names():
        for point in telemetry.metric_points(name):
            assert "messaging.message.id" not in point.attributes


def test_continue_trace_false_links_only(telemetry: TelemetryCapture) -> None:
    """continue_trace=False: a new trace that links to the producer."""
    headers: dict[str, str] = {}
    with watchkit.queue.send("fanout", headers):
        pass
    with watchkit.queue.process("fanout", headers, continue_trace=False):
        pass
    sent = telemetry.span("send fanout")
    processed = telemetry.span("process fanout")
    assert processed.parent is None
    assert processed.context.trace_id != sent.context.trace_id
    assert processed.links[0].context.span_id == sent.context.span_id


def test_wait_measured_from_the_enqueue_time(telemetry: TelemetryCapture) -> None:
    """A message enqueued 20 minutes ago lands in the 30-minute bucket, not an overflow."""
    headers = {"watchkit-enqueued-at": repr(time.time() - 1200)}
    with watchkit.queue.process("reports", headers):
        pass
    wait = telemetry.histogram("watchkit.queue.wait.duration")
    assert 1199 < wait.sum < 1300
    assert wait.bucket_counts[wait.explicit_bounds.index(1800.0)] == 1


def test_outcomes_failure_retry_dead_letter(telemetry: TelemetryCapture) -> None:
    """An exception is a failure with error.type; retry() and dead_letter() are counted."""
    with pytest.raises(TimeoutError), watchkit.queue.process("sms", {}, job="send_sms"):
        raise TimeoutError("gateway")
    with watchkit.queue.process("sms", {}, job="send_sms") as delivery:
        delivery.retry(ConnectionError("busy"))
    with watchkit.queue.process("sms", {}, job="send_sms") as delivery:
        delivery.dead_letter("invalid number")

    def outcome(name: str) -> float:
        return telemetry.counter(
            "watchkit.queue.jobs", {"job.outcome": name, "job.name": "send_sms"}
        )

    assert (outcome("failure"), outcome("retry"), outcome("dead_lettered")) == (1, 1, 1)
    assert outcome("success") == 0
    errors = {
        point.attributes.get("error.type")
        for point in telemetry.metric_points("messaging.process.duration")
    }
    assert errors == {"TimeoutError", "ConnectionError", "invalid number"}
    failed = telemetry.spans("process sms")[0]
    assert failed.status.status_code is trace.StatusCode.ERROR
    assert failed.attributes is not None and failed.attributes["error.type"] == "TimeoutError"


def test_decorators_sync_and_async(telemetry: TelemetryCapture) -> None:
    """producer() fills the headers argument (a new dict when None); consumer() reads it."""
    outbox: list[dict[str, object]] = []

    @watchkit.queue.producer("emails", system="redis")
    def enqueue(body: str, headers: dict[str, str] | None = None) -> None:
        outbox.append({"body": body, "headers": headers})

    @watchkit.queue.consumer("emails", system="redis", job="send_email")
    async def deliver(body: str, headers: dict[str, str]) -> str:
        scope = watchkit.queue.current()
        assert scope is not None
        if body == "bad":
            scope.dead_letter("bad body")
        return body.upper()

    enqueue("hello")
    enqueue("bad", headers={})
    assert all("traceparent" in message["headers"] for message in outbox)  # type: ignore[operator]
    results = [
        asyncio.run(deliver(str(m["body"]), m["headers"]))  # type: ignore[arg-type]
        for m in outbox
    ]
    assert results == ["HELLO", "BAD"]
    assert watchkit.queue.current() is None
    sends = telemetry.spans("send emails")
    processes = telemetry.spans("process emails")
    assert [p.parent.span_id for p in processes] == [s.context.span_id for s in sends]  # type: ignore[union-attr]
    assert telemetry.counter("watchkit.queue.jobs", {"job.outcome": "dead_lettered"}) == 1


def test_process_binds_the_log_context(
    telemetry: TelemetryCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Log lines written while processing carry queue, message id and job, and the trace id."""
    watchkit.configure(service_name="queue-logs", exporter="none", log_format="json")
    log = watchkit.get_logger("worker")
    with watchkit.queue.process("sms", {}, message_id="m-9", job="send_sms"):
        log.info("sms sent")
        trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
    log.info("after")
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    inside = next(line for line in lines if line.get("event") == "sms sent")
    after = next(line for line in lines if line.get("event") == "after")
    assert (inside["queue"], inside["message_id"], inside["job_name"]) == ("sms", "m-9", "send_sms")
    assert inside["trace_id"] == trace_id
    assert "queue" not in after


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: watchkit.queue.send("", {}), "destination"),
        (lambda: watchkit.queue.send("q", None), "headers"),  # type: ignore[arg-type]
        (lambda: watchkit.queue.process("q", {}, system=""), "system"),
        (lambda: watchkit.queue.process("q", {}, continue_trace="yes"), "continue_trace"),  # type: ignore[arg-type]
        (lambda: watchkit.queue.producer("q")(lambda body: None), "no parameter 'headers'"),
        (lambda: watchkit.queue.depth("q", 3), "callback"),  # type: ignore[arg-type]
        (lambda: watchkit.queue.depth("q", lambda: 1, collect="sometimes"), "collect"),  # type: ignore[arg-type]
        (lambda: watchkit.queue.redis_depth("redis://127.0.0.1:1/0", []), "queues"),
        (lambda: watchkit.queue.redis_depth(object(), ["q"]), "redis:// URL"),
    ],
)
def test_bad_arguments_fail_where_defined(call: object, match: str) -> None:
    """Wrong arguments raise ValueError naming the parameter, at definition."""
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]


def test_depth_callback_and_collect(telemetry: TelemetryCapture) -> None:
    """depth() reports its callback; collect=False reports nothing; a broken one is skipped."""
    outbox = ["a", "b", "c"]
    mine = watchkit.queue.depth("outbox", lambda: len(outbox), system="custom")
    silent = watchkit.queue.depth("elsewhere", lambda: 99, collect=False)

    def broken() -> float:
        raise ConnectionError("down")

    failing = watchkit.queue.depth("broken", broken)
    try:
        points = {
            p.attributes["messaging.destination.name"]: p.value
            for p in telemetry.metric_points("watchkit.queue.depth")
        }
    finally:
        for source in (mine, silent, failing):
            source.remove()
    assert points == {"outbox": 3}


def test_redis_depth_counts_priority_lists_and_one_process_reports(
    telemetry: TelemetryCapture, redis_server
) -> None:
    """LLEN of the queue and its Celery priority lists; of two leases only one reports."""
    client = redis.Redis(port=redis_server.port)
    client.delete("mail", "mail\x06\x163", "mail\x06\x169", "sms")
    client.lpush("mail", "1", "2")
    client.lpush("mail\x06\x163", "3")
    client.lpush("mail\x06\x169", "4", "5", "6")
    leader = watchkit.queue.redis_depth(redis_server.url, ["mail", "sms"], lease_ttl=30)
    # A second process asking for the same queues: same key, another token.
    other = watchkit.queue.redis_lease(redis_server.url, "queue.depth:redis:mail,sms", ttl=30)
    try:
        points = {
            p.attributes["messaging.destination.name"]: p.value
            for p in telemetry.metric_points("watchkit.queue.depth")
        }
        assert points == {"mail": 6, "sms": 0}
        assert other() is False  # the lease is held by the first
        assert leader.collect() is True  # type: ignore[operator]  # renewed by its holder
        leader.collect.release()  # type: ignore[union-attr]
        assert other() is True  # taken over at once after release
    finally:
        leader.remove()
        client.close()


def test_redis_depth_with_redis_down_costs_one_warning(
    telemetry: TelemetryCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreachable Redis: no value, one warning, no exception into the reader."""
    from tests.helpers import free_port

    source = watchkit.queue.redis_depth(f"redis://127.0.0.1:{free_port()}/0", ["q"], collect=True)
    try:
        with caplog.at_level(logging.WARNING, logger="watchkit"):
            assert telemetry.metric_points("watchkit.queue.depth") == []
            assert telemetry.metric_points("watchkit.queue.depth") == []
    finally:
        source.remove()
    warnings = [r for r in caplog.records if "depth of queue" in r.getMessage()]
    assert len(warnings) == 1


def test_producer_decorator_on_a_method_with_positional_headers(
    telemetry: TelemetryCapture,
) -> None:
    """A method's positional headers are filled; an explicit None is passed through untouched."""

    class Outbox:
        def __init__(self) -> None:
            self.sent: list[dict[str, str] | None] = []

        @watchkit.queue.producer("emails")
        def enqueue(self, body: str, headers: dict[str, str] | None = None) -> None:
            self.sent.append(headers)

    outbox = Outbox()
    given: dict[str, str] = {}
    outbox.enqueue("a", given)
    outbox.enqueue("b", None)
    outbox.enqueue("c")
    assert "traceparent" in given
    assert outbox.sent[1] is None
    assert outbox.sent[2] is not None and "traceparent" in outbox.sent[2]
    assert telemetry.counter("messaging.client.sent.messages") == 3


def test_async_producer_and_async_with(telemetry: TelemetryCapture) -> None:
    """An async producer gets its headers; async with works for send and process."""
    sent: list[dict[str, str]] = []

    @watchkit.queue.producer("push")
    async def enqueue(body: str, headers: dict[str, str] | None = None) -> None:
        await asyncio.sleep(0)
        sent.append(headers or {})

    async def main() -> None:
        await enqueue("a")
        headers: dict[str, str] = {}
        async with watchkit.queue.send("push", headers):
            sent.append(headers)
        for message in sent:
            async with watchkit.queue.process("push", message):
                await asyncio.sleep(0)

    asyncio.run(main())
    sends = telemetry.spans("send push")
    processes = telemetry.spans("process push")
    assert len(sends) == len(processes) == 2
    assert [p.parent.span_id for p in processes] == [s.context.span_id for s in sends]  # type: ignore[union-attr]


def test_a_job_failure_series_exists_at_zero_before_its_first_failure() -> None:
    """From a job's first outcome on, its failure series is exported at 0 (in each new
    pipeline too), so increase() and rate() count its first failure."""
    from watchkit.testing import capture

    def failures(telemetry: TelemetryCapture) -> list[float]:
        wanted = {"job.name": "zero_job", "job.outcome": "failure"}
        return [p.value for p in telemetry.metric_points("watchkit.queue.jobs", wanted)]

    with capture() as first:
        with watchkit.queue.process("zero", {}, job="zero_job"):
            pass
        assert failures(first) == [0]
        with pytest.raises(ValueError), watchkit.queue.process("zero", {}, job="zero_job"):
            raise ValueError("boom")
        assert failures(first) == [1]
    with capture() as second:
        assert failures(second) == [0]


def test_depth_failure_warns_once_a_minute_with_type_and_message_traceback_at_debug(
    telemetry: TelemetryCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis gone: one short warning a minute (type and message); the traceback only at debug."""
    from tests.helpers import free_port
    from watchkit._queue import _DEPTHS

    source = watchkit.queue.redis_depth(f"redis://127.0.0.1:{free_port()}/0", ["q"], collect=True)
    try:
        with caplog.at_level(logging.DEBUG, logger="watchkit"):
            telemetry.metric_points("watchkit.queue.depth")
            telemetry.metric_points("watchkit.queue.depth")
            # A minute later the outage is still there: one more warning.
            _DEPTHS.warned[source.name] -= 61.0
            telemetry.metric_points("watchkit.queue.depth")
    finally:
        source.remove()
    ours = [r for r in caplog.records if "depth of queue" in r.getMessage()]
    warnings = [r for r in ours if r.levelno == logging.WARNING]
    debugs = [r for r in ours if r.levelno == logging.DEBUG]
    assert len(warnings) == 2
    assert all(r.exc_info is None for r in warnings)
    assert "ConnectionError" in warnings[0].getMessage()
    assert "refused" in warnings[0].getMessage().lower() or "connect" in warnings[0].getMessage()
    assert debugs and all(r.exc_info is not None for r in debugs)


def test_depth_read_through_an_instrumented_database_is_not_database_traffic(
    telemetry: TelemetryCapture, tmp_path
) -> None:
    """A depth callback counting rows: the count query is not recorded at each collection."""
    import sqlalchemy

    import watchkit.db

    engine = watchkit.db.instrument_sqlalchemy(
        sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    )
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE jobs (id INTEGER)")
        connection.exec_driver_sql("INSERT INTO jobs VALUES (1), (2)")
    duration = "db.client.operation.duration"
    before = sum(p.count for p in telemetry.metric_points(duration))

    def pending() -> int:
        with engine.connect() as connection:
            return int(connection.exec_driver_sql("SELECT count(*) FROM jobs").scalar())

    source = watchkit.queue.depth("jobs", pending)
    try:
        for _ in range(2):
            where = {"messaging.destination.name": "jobs"}
            depth = telemetry.counter("watchkit.queue.depth", where)
            assert depth == 2
        assert sum(p.count for p in telemetry.metric_points(duration)) == before
    finally:
        source.remove()
        engine.dispose()
