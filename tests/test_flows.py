"""watchkit.flow: span + duration histogram + active count, on every kind of callable."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import wrapt
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import watchkit
import watchkit.testing
from tests.helpers import run_python
from watchkit._internal.settings import resolve
from watchkit._internal.state import STATE, Pipeline
from watchkit.testing import TelemetryCapture

DURATION = "watchkit.flow.duration"
ACTIVE = "watchkit.flow.active"


class NotFound(Exception):
    """An expected result of a lookup flow."""


class CardDeclined(Exception):
    """A payment failure raised by the gateway."""


def _outcome(telemetry: TelemetryCapture, name: str, outcome: str, **extra: Any) -> int:
    attributes = {"flow.name": name, "flow.outcome": outcome, **extra}
    return telemetry.histogram(DURATION, attributes).count


def _active(telemetry: TelemetryCapture, name: str) -> float:
    return telemetry.counter(ACTIVE, {"flow.name": name})


# Success, error, expected error, handled failure ---------------------------------


def test_decorated_function_records_span_histogram_and_active(telemetry: TelemetryCapture) -> None:
    """A successful call: one span, one success point with the flow's attributes, active 0."""

    @watchkit.flow("checkout.place_order", channel="app")
    def place_order(order_id: str) -> str:
        assert _active(telemetry, "checkout.place_order") == 1
        return f"placed {order_id}"

    assert place_order("o-1") == "placed o-1"
    span = telemetry.span("checkout.place_order")
    assert span.attributes == {"channel": "app"}
    assert span.status.status_code is StatusCode.UNSET
    summary = telemetry.histogram(
        DURATION,
        {"flow.name": "checkout.place_order", "flow.outcome": "success", "channel": "app"},
    )
    assert summary.count == 1
    assert summary.explicit_bounds[:3] == (0.005, 0.01, 0.025)
    assert 0 < summary.sum < 1
    assert _active(telemetry, "checkout.place_order") == 0


def test_exception_is_recorded_and_reraised_unchanged(telemetry: TelemetryCapture) -> None:
    """An exception: stack trace event, status ERROR, error.type on span and metric; same object."""
    boom = CardDeclined("insufficient funds")

    @watchkit.flow("payments.charge", provider="stripe")
    def charge() -> None:
        raise boom

    with pytest.raises(CardDeclined) as caught:
        charge()
    assert caught.value is boom
    span = telemetry.span("payments.charge")
    kind = f"{__name__}.CardDeclined"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == kind
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert "Traceback" in str(event.attributes["exception.stacktrace"])
    assert "insufficient funds" not in (span.status.description or "")
    assert _outcome(telemetry, "payments.charge", "error", **{"error.type": kind}) == 1
    assert _outcome(telemetry, "payments.charge", "success") == 0
    assert _active(telemetry, "payments.charge") == 0


def test_builtin_exception_type_has_no_module_prefix(telemetry: TelemetryCapture) -> None:
    """error.type of a builtin exception is its bare name, as the SDK's exception.type."""

    @watchkit.flow("delivery.eta")
    def eta() -> None:
        raise TimeoutError

    with pytest.raises(TimeoutError):
        eta()
    assert _outcome(telemetry, "delivery.eta", "error", **{"error.type": "TimeoutError"}) == 1


def test_expected_exception_is_a_success_and_still_raised(telemetry: TelemetryCapture) -> None:
    """expected=(NotFound,): outcome success, no error status, no exception event, re-raised."""

    @watchkit.flow("orders.lookup", expected=NotFound)
    def lookup() -> None:
        raise NotFound("o-404")

    with pytest.raises(NotFound):
        lookup()
    span = telemetry.span("orders.lookup")
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()
    assert "error.type" not in (span.attributes or {})
    assert _outcome(telemetry, "orders.lookup", "success") == 1
    assert _outcome(telemetry, "orders.lookup", "error") == 0


def test_handled_failure_marks_error_without_raising(telemetry: TelemetryCapture) -> None:
    """f.fail('card_declined'): outcome error, that error.type; span-only attributes off metrics."""
    with watchkit.flow("payments.charge.handled", provider="adyen") as f:
        f.set_attribute("payment.id", "p-123")
        f.fail("card_declined")
    span = telemetry.span("payments.charge.handled")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "card_declined"
    assert span.attributes["payment.id"] == "p-123"
    assert span.events == ()
    assert (
        _outcome(
            telemetry,
            "payments.charge.handled",
            "error",
            provider="adyen",
            **{"error.type": "card_declined"},
        )
        == 1
    )
    (point,) = telemetry.metric_points(DURATION, {"flow.name": "payments.charge.handled"})
    assert "payment.id" not in point.attributes


def test_fail_with_a_bad_reason_records_other(telemetry: TelemetryCapture) -> None:
    """A non-string reason cannot raise on the request path: it becomes _OTHER."""
    with watchkit.flow("payments.refund") as f:
        f.fail(123)  # type: ignore[arg-type]
    assert _outcome(telemetry, "payments.refund", "error", **{"error.type": "_OTHER"}) == 1


def test_exception_after_fail_wins(telemetry: TelemetryCapture) -> None:
    """An exception raised after fail() gives error.type of the exception."""

    def capture_payment() -> None:
        with watchkit.flow("payments.capture") as f:
            f.fail("card_declined")
            raise KeyError("x")

    with pytest.raises(KeyError):
        capture_payment()
    assert _outcome(telemetry, "payments.capture", "error", **{"error.type": "KeyError"}) == 1


# Every kind of callable, sync and async ------------------------------------------------


class Kitchen:
    """Methods of every binding kind, decorated in both orders."""

    def __init__(self) -> None:
        self.orders = 0

    @watchkit.flow("kitchen.method")
    def method(self, dish: str) -> str:
        self.orders += 1
        return dish

    @classmethod
    @watchkit.flow("kitchen.classmethod_inner")
    def class_inner(cls, dish: str) -> str:
        return f"{cls.__name__}:{dish}"

    @watchkit.flow("kitchen.classmethod_outer")
    @classmethod
    def class_outer(cls, dish: str) -> str:
        return f"{cls.__name__}:{dish}"

    @staticmethod
    @watchkit.flow("kitchen.staticmethod_inner")
    def static_inner(dish: str) -> str:
        return dish

    @watchkit.flow("kitchen.staticmethod_outer")
    @staticmethod
    def static_outer(dish: str) -> str:
        return dish

    @watchkit.flow("kitchen.async_method")
    async def async_method(self, dish: str) -> str:
        await asyncio.sleep(0)
        return dish


@pytest.mark.parametrize(
    ("name", "call", "expected"),
    [
        ("kitchen.method", lambda k: k.method("soup"), "soup"),
        ("kitchen.method", lambda k: Kitchen.method(k, "soup"), "soup"),
        ("kitchen.classmethod_inner", lambda k: k.class_inner("pie"), "Kitchen:pie"),
        ("kitchen.classmethod_inner", lambda k: Kitchen.class_inner("pie"), "Kitchen:pie"),
        ("kitchen.classmethod_outer", lambda k: k.class_outer("pie"), "Kitchen:pie"),
        ("kitchen.classmethod_outer", lambda k: Kitchen.class_outer("pie"), "Kitchen:pie"),
        ("kitchen.staticmethod_inner", lambda k: k.static_inner("tea"), "tea"),
        ("kitchen.staticmethod_outer", lambda k: Kitchen.static_outer("tea"), "tea"),
    ],
)
def test_methods_of_every_binding_kind(
    telemetry: TelemetryCapture, name: str, call: Callable[[Kitchen], str], expected: str
) -> None:
    """Methods, classmethods and staticmethods (decorated inside or outside) bind and record."""
    assert call(Kitchen()) == expected
    assert len(telemetry.spans(name)) == 1
    assert _outcome(telemetry, name, "success") == 1


async def test_async_function_and_method(telemetry: TelemetryCapture) -> None:
    """async def: the flow lasts until the coroutine finishes, including awaits."""

    @watchkit.flow("delivery.dispatch")
    async def dispatch(delay: float) -> str:
        await asyncio.sleep(delay)
        return "sent"

    assert await dispatch(0.02) == "sent"
    assert await Kitchen().async_method("ramen") == "ramen"
    span = telemetry.span("delivery.dispatch")
    assert span.end_time is not None and span.start_time is not None
    assert (span.end_time - span.start_time) / 1e9 >= 0.015
    assert telemetry.histogram(DURATION, {"flow.name": "delivery.dispatch"}).sum >= 0.015
    assert _outcome(telemetry, "kitchen.async_method", "success") == 1


async def test_async_function_error(telemetry: TelemetryCapture) -> None:
    """An exception out of a coroutine is recorded and re-raised."""

    @watchkit.flow("delivery.dispatch.failing")
    async def dispatch() -> None:
        await asyncio.sleep(0)
        raise CardDeclined

    with pytest.raises(CardDeclined):
        await dispatch()
    assert telemetry.span("delivery.dispatch.failing").status.status_code is StatusCode.ERROR


async def test_async_with_and_with_on_one_flow_object(telemetry: TelemetryCapture) -> None:
    """One module-level Flow serves ``with`` and ``async with``, repeatedly."""
    track = watchkit.flow("delivery.track", channel="app")
    with track as f:
        assert f.name == "delivery.track"
        assert trace.get_current_span() is f.span
    async with track as f:
        await asyncio.sleep(0)
        f.fail("courier_lost")
    assert _outcome(telemetry, "delivery.track", "success", channel="app") == 1
    assert _outcome(telemetry, "delivery.track", "error", **{"error.type": "courier_lost"}) == 1
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_generator_flow_lasts_until_exhausted(telemetry: TelemetryCapture) -> None:
    """A generator flow begins at the first next() and ends when the iteration ends."""

    @watchkit.flow("delivery.updates")
    def updates() -> Iterator[str]:
        yield "picked up"
        yield "on the way"
        yield "delivered"

    gen = updates()
    assert telemetry.spans("delivery.updates") == []
    assert next(gen) == "picked up"
    assert _active(telemetry, "delivery.updates") == 1
    assert list(gen) == ["on the way", "delivered"]
    assert len(telemetry.spans("delivery.updates")) == 1
    assert _outcome(telemetry, "delivery.updates", "success") == 1
    assert _active(telemetry, "delivery.updates") == 0


def test_generator_closed_early_ends_the_flow(telemetry: TelemetryCapture) -> None:
    """Closing a generator early is a normal end; its finally block runs inside the flow span."""
    seen_in_finally: list[str] = []

    @watchkit.flow("delivery.stream")
    def stream() -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            seen_in_finally.append(getattr(trace.get_current_span(), "name", "?"))

    gen = stream()
    assert next(gen) == 0
    assert next(gen) == 1
    gen.close()
    assert seen_in_finally == ["delivery.stream"]
    assert _outcome(telemetry, "delivery.stream", "success") == 1
    assert _active(telemetry, "delivery.stream") == 0


def test_generator_break_in_for_loop(telemetry: TelemetryCapture) -> None:
    """``break`` out of a for loop (close on garbage collection) ends the flow once."""

    @watchkit.flow("delivery.poll")
    def poll() -> Iterator[int]:
        yield from range(10)

    for item in poll():
        if item == 2:
            break
    assert _outcome(telemetry, "delivery.poll", "success") == 1
    assert _active(telemetry, "delivery.poll") == 0


def test_generator_span_is_current_only_inside_the_body(telemetry: TelemetryCapture) -> None:
    """Between yields the consumer's context is current, not the generator's span."""
    inside: list[str] = []

    @watchkit.flow("menu.pages")
    def pages() -> Iterator[int]:
        for page in range(3):
            inside.append(getattr(trace.get_current_span(), "name", "?"))
            yield page

    with watchkit.flow("menu.render"):
        consumer = trace.get_current_span()
        for _ in pages():
            assert trace.get_current_span() is consumer
    assert inside == ["menu.pages"] * 3
    render = telemetry.span("menu.render")
    child = telemetry.span("menu.pages")
    assert child.parent is not None and child.parent.span_id == render.context.span_id


def test_generator_send_and_throw_are_forwarded(telemetry: TelemetryCapture) -> None:
    """send() values and throw()n exceptions reach the wrapped generator."""

    @watchkit.flow("kitchen.tickets")
    def tickets() -> Iterator[str]:
        received = yield "ready"
        while True:
            try:
                received = yield f"got {received}"
            except ValueError as error:
                received = f"handled {error}"

    gen = tickets()
    assert next(gen) == "ready"
    assert gen.send("pizza") == "got pizza"
    assert gen.throw(ValueError("cold")) == "got handled cold"
    with pytest.raises(KeyError):
        gen.throw(KeyError("fatal"))
    assert _outcome(telemetry, "kitchen.tickets", "error", **{"error.type": "KeyError"}) == 1
    assert _active(telemetry, "kitchen.tickets") == 0


def test_generator_return_value_is_kept(telemetry: TelemetryCapture) -> None:
    """``return x`` in a generator still arrives as StopIteration.value (yield from)."""

    @watchkit.flow("kitchen.batch")
    def batch() -> Iterator[int]:
        yield 1
        return 99

    def outer() -> Iterator[int]:
        result = yield from batch()
        yield result

    assert list(outer()) == [1, 99]


async def test_async_generator_flow_and_early_close(telemetry: TelemetryCapture) -> None:
    """Async generators: flow until exhausted; aclose() early ends it as a success."""

    @watchkit.flow("delivery.live")
    async def live() -> AsyncIterator[int]:
        for i in range(10):
            await asyncio.sleep(0)
            yield i

    assert [i async for i in live()][:3] == [0, 1, 2]
    gen = live()
    assert await gen.__anext__() == 0
    assert trace.get_current_span() is trace.INVALID_SPAN
    await gen.aclose()
    assert len(telemetry.spans("delivery.live")) == 2
    assert _outcome(telemetry, "delivery.live", "success") == 2
    assert _active(telemetry, "delivery.live") == 0


async def test_async_generator_asend_and_athrow(telemetry: TelemetryCapture) -> None:
    """asend() and athrow() reach the wrapped async generator."""

    @watchkit.flow("kitchen.async_tickets")
    async def tickets() -> AsyncIterator[str]:
        received = yield "ready"
        try:
            yield f"got {received}"
        except ValueError:
            yield "handled"

    gen = tickets()
    assert await gen.asend(None) == "ready"
    assert await gen.asend("soup") == "got soup"
    assert await gen.athrow(ValueError("x")) == "handled"
    with pytest.raises(StopAsyncIteration):
        await gen.__anext__()
    assert _outcome(telemetry, "kitchen.async_tickets", "success") == 1


# Nesting and concurrency --------------------------------------------------------------


def test_nested_flows_have_parent_child_spans(telemetry: TelemetryCapture) -> None:
    """A flow inside a flow is a child span in the same trace."""

    @watchkit.flow("payments.charge.nested")
    def charge() -> None:
        pass

    @watchkit.flow("checkout.nested")
    def checkout() -> None:
        charge()

    checkout()
    parent = telemetry.span("checkout.nested")
    child = telemetry.span("payments.charge.nested")
    assert child.parent is not None
    assert child.parent.span_id == parent.context.span_id
    assert child.context.trace_id == parent.context.trace_id


def test_same_flow_nested_in_itself(telemetry: TelemetryCapture) -> None:
    """One Flow object entered twice (nested) ends each run once, inner first."""
    retry = watchkit.flow("payments.retry")
    with retry as outer, retry as inner:
        assert inner is not outer
        inner.fail("timeout")
    spans = telemetry.spans("payments.retry")
    assert len(spans) == 2
    assert spans[0].parent is not None and spans[0].parent.span_id == spans[1].context.span_id
    assert _outcome(telemetry, "payments.retry", "error", **{"error.type": "timeout"}) == 1
    assert _outcome(telemetry, "payments.retry", "success") == 1


async def test_hundred_concurrent_flows_keep_their_parents(telemetry: TelemetryCapture) -> None:
    """asyncio.gather of 100 flows: each child's parent is its own request; active returns to 0."""
    started = 0
    all_started = asyncio.Event()
    release = asyncio.Event()

    @watchkit.flow("checkout.concurrent")
    async def place(i: int) -> int:
        nonlocal started
        started += 1
        if started == 100:
            all_started.set()
        await release.wait()
        return i

    provider = telemetry.tracer_provider
    tracer = provider.get_tracer("test")

    async def request(i: int) -> tuple[int, int]:
        with tracer.start_as_current_span(f"request {i}") as span:
            await place(i)
            return i, span.get_span_context().span_id

    async def check_active() -> float:
        await all_started.wait()
        active = _active(telemetry, "checkout.concurrent")
        release.set()
        return active

    results, active_during = await asyncio.gather(
        asyncio.gather(*(request(i) for i in range(100))), check_active()
    )
    assert active_during == 100
    parents = dict(results)
    children = telemetry.spans("checkout.concurrent")
    requests = {span.name: span for span in telemetry.spans() if span.name.startswith("request ")}
    assert len(children) == 100
    for child in children:
        assert child.parent is not None
        owner = next(s for s in requests.values() if s.context.span_id == child.parent.span_id)
        index = int(owner.name.split()[1])
        assert parents[index] == child.parent.span_id
        assert owner.context.trace_id == child.context.trace_id
    assert len({child.context.trace_id for child in children}) == 100
    assert _active(telemetry, "checkout.concurrent") == 0
    assert _outcome(telemetry, "checkout.concurrent", "success") == 100


async def test_flow_entered_in_one_task_and_exited_in_another(
    telemetry: TelemetryCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """Exited in a child task: ends once (active back to 0), raises nothing, logs no error."""
    handover = watchkit.flow("kitchen.handover")
    handover.__enter__()

    async def finish() -> None:
        handover.__exit__(None, None, None)

    with caplog.at_level(logging.WARNING):
        await asyncio.create_task(finish())
        handover.__exit__(None, None, None)  # the entering task's exit finds it done
    assert len(telemetry.spans("kitchen.handover")) == 1
    assert _active(telemetry, "kitchen.handover") == 0
    assert _outcome(telemetry, "kitchen.handover", "success") == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_one_flow_object_from_many_threads(telemetry: TelemetryCapture) -> None:
    """A module-level Flow used as a context manager from 8 threads at once ends every run."""
    deliver = watchkit.flow("delivery.threaded")
    barrier = threading.Barrier(8)

    def work() -> None:
        for i in range(25):
            with deliver:
                if i == 0:
                    barrier.wait(timeout=5)  # all 8 threads inside the same flow at once

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _outcome(telemetry, "delivery.threaded", "success") == 200
    assert _active(telemetry, "delivery.threaded") == 0
    assert all(span.parent is None for span in telemetry.spans("delivery.threaded"))


# Transparency -----------------------------------------------------------------------------


def test_signature_name_doc_and_kind_are_preserved() -> None:
    """inspect sees the original function through the wrapper."""

    def place_order(order_id: str, quantity: int = 1, *, note: str = "") -> str:
        """Place an order."""
        return order_id

    async def charge(amount: int) -> int:
        return amount

    def stream() -> Iterator[int]:
        yield 1

    async def live() -> AsyncIterator[int]:
        yield 1

    flow = watchkit.flow("transparency")
    wrapped = flow(place_order)
    assert inspect.signature(wrapped) == inspect.signature(place_order)
    assert wrapped.__wrapped__ is place_order
    assert wrapped.__name__ == "place_order"
    assert wrapped.__doc__ == "Place an order."
    assert wrapped.__qualname__ == place_order.__qualname__
    assert inspect.iscoroutinefunction(flow(charge))
    assert inspect.isgeneratorfunction(flow(stream))
    assert inspect.isasyncgenfunction(flow(live))
    assert not inspect.iscoroutinefunction(wrapped)
    assert isinstance(wrapped, wrapt.FunctionWrapper)


def _plain_decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        return ("plain", fn(*args, **kwargs))

    return inner


@wrapt.decorator
def _wrapt_decorator(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return ("wrapt", wrapped(*args, **kwargs))


@pytest.mark.parametrize("other", [_plain_decorator, _wrapt_decorator])
def test_stacks_with_other_decorators_in_either_order(
    telemetry: TelemetryCapture, other: Callable[..., Any]
) -> None:
    """Other decorators work above and below the flow; signatures survive both."""

    def order(order_id: str) -> str:
        return order_id

    below = watchkit.flow("stack.below")(other(order))
    above = other(watchkit.flow("stack.above")(order))
    assert below("o-1")[1] == "o-1"
    assert above("o-2")[1] == "o-2"
    assert inspect.signature(below) == inspect.signature(order)
    assert inspect.signature(above) == inspect.signature(order)
    assert len(telemetry.spans("stack.below")) == 1
    assert len(telemetry.spans("stack.above")) == 1


# Definition errors, disabled mode ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "flow name must be a non-empty string"),
        ({"name": 3}, "flow name must be a non-empty string"),
        ({"name": "x", "expected": ValueError("x")}, "expected="),
        ({"name": "x", "expected": (int,)}, "expected="),
        ({"name": "x", "attributes": {"k": object()}}, "attribute 'k'"),
        ({"name": "x", "attributes": {"": "v"}}, "attribute keys must be non-empty"),
    ],
)
def test_invalid_definitions_raise_value_error(kwargs: dict[str, Any], match: str) -> None:
    """Bad arguments fail at definition time with a message naming them."""
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=match):
        watchkit.flow(name, **kwargs)


def test_equal_definitions_share_one_flow_object() -> None:
    """``watchkit.flow(...)`` per call returns the cached definition (it holds no run state)."""
    assert watchkit.flow("cache.a", k="v") is watchkit.flow("cache.a", k="v")
    assert watchkit.flow("cache.a", k="v") is not watchkit.flow("cache.a", k="w")
    assert watchkit.flow("cache.b", attributes={"tags": ["a"]}) is not None


def test_disabled_flows_run_the_function_and_record_nothing() -> None:
    """With OTEL_SDK_DISABLED semantics, flows are transparent no-ops."""
    watchkit.configure(disabled=True)

    @watchkit.flow("disabled.flow")
    def work(x: int) -> int:
        return x * 2

    assert work(21) == 42
    with watchkit.flow("disabled.flow") as f:
        f.set_attribute("k", "v")
        f.fail("ignored")
    assert trace.get_current_span() is trace.INVALID_SPAN


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_starts_with_no_flows_in_progress_and_free_locks() -> None:
    """Pre-fork servers: flows running in other parent threads are not in progress in the
    child, and a lock another thread held at the fork does not deadlock the child."""
    result = run_python(
        """
        import json, os, signal, threading
        from watchkit._internal import guard
        guard.set_raise(True)
        import watchkit
        from watchkit.testing import capture

        batch = watchkit.flow("batch.run")
        started, release = threading.Event(), threading.Event()

        def worker():
            with batch:
                started.set()
                release.wait()

        orders = watchkit.counter("orders.placed")
        thread = threading.Thread(target=worker)
        thread.start()
        started.wait()
        with batch:  # the forking thread is inside a flow too
            orders._lock.acquire()  # as if another thread were admitting a series
            pid = os.fork()
            if pid == 0:
                signal.alarm(10)  # a deadlock fails the test instead of hanging it
                with capture() as telemetry:
                    orders.add(1, channel="app")
                    active = telemetry.counter("watchkit.flow.active", {"flow.name": "batch.run"})
                    ok = active == 0 and telemetry.counter("orders.placed") == 1
            else:
                orders._lock.release()
        if pid == 0:  # the child left the parent's flow without an internal error
            os._exit(0 if ok else 5)
        release.set()
        thread.join()
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}))
        """,
        timeout=60,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"exit": 0}, result.stderr


# The in-progress count's last word ----------------------------------------------------


def test_last_export_after_a_flow_ended_carries_active_zero(
    clean_env: object, capfd: pytest.CaptureFixture[str]
) -> None:
    """Console exporter: 1 while the flow runs; the shutdown's last export says 0, not nothing.

    A backend keeps showing the last value it received, so a missing series
    after the flow ended would leave it showing one flow in progress for ever.
    """
    # Every series shown: observable instruments other tests left alive (pools,
    # forwarded instruments) must not push this one past the summary's cap.
    watchkit.configure(service_name="demo", exporter="console", console_max_series=10_000)
    with watchkit.flow("x"):
        assert watchkit.force_flush(timeout=5)
        during = capfd.readouterr().err
    assert re.search(r"watchkit\.flow\.active\{flow\.name=x\} +1\n", during), during
    assert watchkit.force_flush(timeout=5)
    after = capfd.readouterr().err
    assert re.search(r"watchkit\.flow\.active\{flow\.name=x\} +0\n", after), after
    assert watchkit.shutdown(timeout=5)
    last = capfd.readouterr().err
    assert re.search(r"watchkit\.flow\.active\{flow\.name=x\} +0\n", last), last


def test_active_zero_reaches_a_pipeline_after_it_stopped_being_current(
    clean_env: object,
) -> None:
    """A pipeline's collections after a capture came and went, and after it was replaced,
    still carry the 0 of a flow that ran in it (its last export happens after it is replaced).
    """
    reader = InMemoryMetricReader()
    pipeline = Pipeline(
        TracerProvider(), MeterProvider(metric_readers=[reader]), LoggerProvider(), resolve()
    )
    previous = STATE.set_configured(pipeline)
    try:
        with watchkit.testing.capture():
            pass
        with watchkit.flow("back.again"):
            assert _points(reader, "back.again") == [1]
        assert _points(reader, "back.again") == [0]
    finally:
        STATE.set_configured(previous)
    assert _points(reader, "back.again") == [0]


def _points(reader: InMemoryMetricReader, name: str) -> list[float]:
    data = reader.get_metrics_data()
    return [
        point.value
        for rm in (data.resource_metrics if data else [])
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == ACTIVE
        for point in metric.data.data_points  # type: ignore[union-attr]
        if point.attributes.get("flow.name") == name
    ]
