"""@watchkit.traced: a span per call, errors recorded, arguments recorded on request."""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import pickle
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import watchkit
from tests.helpers import run_python
from watchkit._tracing import error_type
from watchkit.testing import TelemetryCapture


class PaymentError(Exception):
    """Raised by the fake gateway."""


@watchkit.traced
def quote(distance_km: float) -> float:
    """Delivery fee for a distance."""
    return 2.0 + distance_km


@watchkit.flow("test.module.flow")
def _module_flow() -> None: ...


class _Kitchen:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Kitchen)

    __hash__ = object.__hash__

    @watchkit.traced
    def cook(self, dish: str) -> str:
        return dish

    @watchkit.traced
    @classmethod
    def open(cls) -> str:
        return cls.__name__

    @watchkit.traced
    @staticmethod
    def clean() -> str:
        return "clean"


def test_bare_decorator_uses_module_qualified_name(telemetry: TelemetryCapture) -> None:
    """``@traced`` without arguments names the span module.qualname."""
    assert quote(3.0) == 5.0
    span = telemetry.span(f"{__name__}.quote")
    assert span.kind is trace.SpanKind.INTERNAL
    assert quote.__doc__ == "Delivery fee for a distance."
    assert inspect.signature(quote).parameters["distance_km"].annotation == "float"


def test_options_name_attributes_and_record_args(telemetry: TelemetryCapture) -> None:
    """Name, static attributes and chosen arguments (positional, keyword, default) are set."""

    @watchkit.traced(
        "payments.charge",
        attributes={"payment.provider": "stripe"},
        record_args=("order_id", "currency"),
    )
    def charge(order_id: str, amount: int, currency: str = "EUR") -> int:
        return amount

    charge("o-1", 100)
    charge(order_id="o-2", amount=5, currency="GBP")
    first, second = telemetry.spans("payments.charge")
    assert first.attributes == {"payment.provider": "stripe", "order_id": "o-1", "currency": "EUR"}
    assert second.attributes == {"payment.provider": "stripe", "order_id": "o-2", "currency": "GBP"}


def test_record_args_on_methods_skip_self(telemetry: TelemetryCapture) -> None:
    """On methods and classmethods the instance is not counted as an argument."""

    class Courier:
        @watchkit.traced("courier.assign", record_args=("order_id",))
        def assign(self, order_id: str) -> str:
            return order_id

        @classmethod
        @watchkit.traced("courier.create", record_args=("zone",))
        def create(cls, zone: str) -> str:
            return zone

    Courier().assign("o-7")
    Courier.assign(Courier(), "o-8")
    Courier.create("north")
    values = [s.attributes["order_id"] for s in telemetry.spans("courier.assign")]  # type: ignore[index]
    assert values == ["o-7", "o-8"]
    assert telemetry.span("courier.create").attributes == {"zone": "north"}


def test_record_args_of_other_types_use_a_bounded_repr(telemetry: TelemetryCapture) -> None:
    """Values that are not attribute types are recorded as repr(), at most 256 characters."""

    @watchkit.traced("basket.price", record_args=("items",))
    def price(items: list[str]) -> int:
        return len(items)

    price(["x" * 10] * 100)
    value = telemetry.span("basket.price").attributes["items"]  # type: ignore[index]
    assert isinstance(value, str) and len(value) == 256 and value.endswith("...")


@pytest.mark.parametrize(
    ("record_args", "match"),
    [(("missing",), "'missing' is not a parameter"), (("rest",), "'rest' is not a parameter")],
)
def test_record_args_are_checked_at_decoration(record_args: tuple[str, ...], match: str) -> None:
    """A name that is not a (named) parameter raises ValueError listing the parameters."""

    def fn(order_id: str, *rest: str) -> None:
        pass

    with pytest.raises(ValueError, match=match) as caught:
        watchkit.traced("x", record_args=record_args)(fn)
    assert "['order_id']" in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"attributes": {"k": {"nested": 1}}}, "attribute 'k'"),
        ({"attributes": ["k"]}, "attributes must be a mapping"),
    ],
)
def test_bad_options_raise_value_error(kwargs: dict[str, Any], match: str) -> None:
    """Invalid attributes fail at decoration time."""
    with pytest.raises(ValueError, match=match):
        watchkit.traced("x", **kwargs)


def test_bad_name_raises_value_error() -> None:
    """An empty span name is refused."""
    with pytest.raises(ValueError, match="span name"):
        watchkit.traced("")


def test_exception_recorded_with_stacktrace_and_reraised(telemetry: TelemetryCapture) -> None:
    """Status ERROR, error.type module.QualName, exception event; the same exception propagates."""
    error = PaymentError("declined")

    @watchkit.traced("payments.fail")
    def fail() -> None:
        raise error

    with pytest.raises(PaymentError) as caught:
        fail()
    assert caught.value is error
    span = telemetry.span("payments.fail")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes == {"error.type": f"{__name__}.PaymentError"}
    (event,) = span.events
    assert event.attributes is not None
    assert event.attributes["exception.type"] == f"{__name__}.PaymentError"
    assert "raise error" in str(event.attributes["exception.stacktrace"])


def test_error_type_convention() -> None:
    """Builtins have no module prefix; everything else is module.QualName."""
    assert error_type(ValueError()) == "ValueError"
    assert error_type(asyncio.CancelledError()) == "asyncio.exceptions.CancelledError"
    assert error_type(PaymentError()) == f"{__name__}.PaymentError"


def test_nested_traced_calls_are_parent_and_child(telemetry: TelemetryCapture) -> None:
    """A traced function called from another is its child span."""

    @watchkit.traced("inner")
    def inner() -> None:
        pass

    @watchkit.traced("outer")
    def outer() -> None:
        inner()

    outer()
    child, parent = telemetry.span("inner"), telemetry.span("outer")
    assert child.parent is not None and child.parent.span_id == parent.context.span_id


async def test_async_kinds(telemetry: TelemetryCapture) -> None:
    """Coroutines, async generators and generators each get one span covering their work."""

    @watchkit.traced("async.fn")
    async def fn() -> int:
        await asyncio.sleep(0)
        return 1

    @watchkit.traced("async.gen")
    async def agen() -> AsyncIterator[int]:
        yield 1
        yield 2

    @watchkit.traced("sync.gen")
    def gen() -> Iterator[int]:
        yield 1

    assert await fn() == 1
    assert [x async for x in agen()] == [1, 2]
    assert list(gen()) == [1]
    assert inspect.iscoroutinefunction(fn)
    assert inspect.isasyncgenfunction(agen)
    for name in ("async.fn", "async.gen", "sync.gen"):
        assert len(telemetry.spans(name)) == 1


async def test_cancelled_coroutine_ends_its_span_as_error(telemetry: TelemetryCapture) -> None:
    """Cancellation ends the span (status ERROR, error.type CancelledError) and propagates."""

    @watchkit.traced("slow")
    async def slow() -> None:
        await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = telemetry.span("slow")
    assert span.attributes == {"error.type": "asyncio.exceptions.CancelledError"}
    assert trace.get_current_span() is trace.INVALID_SPAN


# Transparency of the wrapper (review of issue 3) ---------------------------------


def test_decorated_module_function_pickles_and_copies_by_reference(
    telemetry: TelemetryCapture,
) -> None:
    """Like a plain function: pickle (process pools, multiprocessing) and copy keep the object."""
    assert pickle.loads(pickle.dumps(quote)) is quote
    assert copy.copy(quote) is quote
    assert copy.deepcopy(quote) is quote
    assert copy.deepcopy({"fn": quote})["fn"] is quote
    assert pickle.loads(pickle.dumps(_module_flow)) is _module_flow
    assert pickle.loads(pickle.dumps(quote))(1.0) == 3.0
    # Methods, as bound methods pickle: looked up again on their object or class.
    assert pickle.loads(pickle.dumps(_Kitchen().cook))("soup") == "soup"
    assert pickle.loads(pickle.dumps(_Kitchen.cook))(_Kitchen(), "tea") == "tea"
    assert pickle.loads(pickle.dumps(_Kitchen.open))() == "_Kitchen"
    assert pickle.loads(pickle.dumps(_Kitchen().open))() == "_Kitchen"
    assert pickle.loads(pickle.dumps(_Kitchen.clean))() == "clean"
    kitchen = _Kitchen()
    assert copy.copy(kitchen.cook).__self__ is kitchen
    copied = copy.deepcopy(kitchen.cook)  # like a bound method: bound to a copy
    assert copied("pie") == "pie" and copied.__self__ is not kitchen
    assert len(telemetry.spans(f"{__name__}.quote")) == 1


def test_local_decorated_function_fails_to_pickle_like_a_plain_one() -> None:
    """A function pickle cannot find by name fails with the same error as without watchkit."""

    def local() -> None: ...

    with pytest.raises(Exception) as plain:
        pickle.dumps(local)
    with pytest.raises(type(plain.value)):
        pickle.dumps(watchkit.traced(local))
    assert isinstance(plain.value, (pickle.PicklingError, AttributeError))


class _AsyncCallable:
    async def __call__(self, delay: float) -> str:
        await asyncio.sleep(delay)
        raise PaymentError("declined")


async def test_instance_with_async_call_is_traced_as_a_coroutine(
    telemetry: TelemetryCapture,
) -> None:
    """An instance whose ``__call__`` is ``async def``: the span lasts until the await ends."""
    charge = watchkit.traced("gateway.charge")(_AsyncCallable())
    with pytest.raises(PaymentError):
        await charge(0.05)
    span = telemetry.span("gateway.charge")
    assert span.end_time is not None and span.start_time is not None
    assert span.end_time - span.start_time >= 40_000_000
    assert span.status.status_code is StatusCode.ERROR


def test_partial_is_named_after_the_function_it_wraps(telemetry: TelemetryCapture) -> None:
    """``traced(functools.partial(f, ...))`` is named after ``f``, not ``functools.partial``."""
    watchkit.traced(functools.partial(quote.__wrapped__, 1.0))()
    telemetry.span(f"{__name__}.quote")


# watchkit.span: an ad-hoc span around a block ---------------------------------------------


def test_span_with_block_is_current_and_ended(telemetry: TelemetryCapture) -> None:
    """`with watchkit.span(...)` gives the live span, current inside the block, ended after it."""
    with watchkit.span("pricing.quote", currency="EUR", items=3) as current:
        assert trace.get_current_span() is current
        assert current.is_recording()
        with watchkit.span("pricing.tax"):
            pass
    assert trace.get_current_span() is trace.INVALID_SPAN
    outer = telemetry.span("pricing.quote", {"currency": "EUR", "items": 3})
    inner = telemetry.span("pricing.tax")
    assert outer.end_time is not None
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id


async def test_span_async_with(telemetry: TelemetryCapture) -> None:
    """`async with` works the same way, and the span stays current across awaits."""
    async with watchkit.span("pricing.remote", region="eu") as current:
        await asyncio.sleep(0)
        assert trace.get_current_span() is current
    assert telemetry.span("pricing.remote", {"region": "eu"}).end_time is not None


def test_span_records_the_exception_and_reraises_it(telemetry: TelemetryCapture) -> None:
    """An exception leaving the block is recorded like `traced` does, then re-raised unchanged."""
    error = PaymentError("declined")
    with pytest.raises(PaymentError) as raised, watchkit.span("payments.charge"):
        raise error
    assert raised.value is error
    recorded = telemetry.span("payments.charge")
    assert recorded.status.status_code is StatusCode.ERROR
    assert recorded.attributes is not None
    assert recorded.attributes["error.type"] == error_type(error)
    assert [event.name for event in recorded.events] == ["exception"]


def test_span_attributes_are_redacted(telemetry: TelemetryCapture) -> None:
    """Secrets in attributes are replaced before the span is recorded."""
    with watchkit.span("auth.refresh", **{"auth.token": "s3cr3t", "user.tier": "gold"}):
        pass
    attributes = telemetry.span("auth.refresh").attributes
    assert attributes is not None
    assert attributes["auth.token"] == "[REDACTED]"
    assert attributes["user.tier"] == "gold"
    assert "s3cr3t" not in str(dict(attributes))


def test_span_without_configuration_is_harmless() -> None:
    """In a fresh process, before configure(), the block runs with a non-recording span."""
    result = run_python(
        """
        import watchkit
        with watchkit.span("idle.work", n=1) as current:
            print("recording" if current.is_recording() else "idle")
        """
    )
    assert result.stdout.strip().splitlines()[-1] == "idle"


def test_span_bad_arguments_raise_under_the_test_switch() -> None:
    """watchkit's own suite runs with the test switch: a bad argument fails at the call."""
    with pytest.raises(ValueError, match="span name must be a non-empty string"):
        watchkit.span("")
    with (
        pytest.raises(ValueError, match=r"attribute 'order' = .* is invalid"),
        watchkit.span(
            "checkout",
            order=object(),  # type: ignore[arg-type]
        ),
    ):
        pass


def test_span_bad_arguments_degrade_in_production(
    telemetry: TelemetryCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the switch: the bad attribute is left out, reported once per call site."""
    from watchkit._internal import guard

    previous = guard.set_raise(False)
    try:
        for _ in range(3):
            with watchkit.span("checkout", order=object(), items=2):  # type: ignore[arg-type]
                pass
        with watchkit.span(None) as nothing:  # type: ignore[arg-type]
            assert not nothing.is_recording()
    finally:
        guard.set_raise(previous)
    spans = telemetry.spans("checkout")
    assert len(spans) == 3
    assert all(dict(s.attributes or {}) == {"items": 2} for s in spans)
    warnings = [r.getMessage() for r in caplog.records if r.name == "watchkit"]
    assert len(warnings) == 2, warnings
    assert "attribute 'order'" in warnings[0] and "test_tracing.py" in warnings[0]
    assert "span name must be a non-empty string" in warnings[1]
