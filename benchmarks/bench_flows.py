"""Per-call cost of ``watchkit.traced`` and ``watchkit.flow`` against the peers (issue 3).

Fair set-up: every OpenTelemetry-based variant records into the *same* SDK
providers, built here once: a ``TracerProvider`` (always-on sampling) with a
``BatchSpanProcessor`` whose exporter discards the batch, and a
``MeterProvider`` with one ``InMemoryMetricReader`` (collection is never
triggered during timing). watchkit is pointed at these providers through the
same mechanism its test capture uses (``STATE.set_override``), because
``configure(exporter="none")`` adds no span processor at all and would make
watchkit look cheaper than the peers. The peers' tracer is taken from the same
provider. logfire builds its own providers (``send_to_logfire=False,
console=False``) and gets the same discarding batch processor as an additional
processor. prometheus_client records into a private registry.

What each row does, per call: the instrumented function returns a constant;
``perf_counter closure`` is the floor of any timer (two clock reads and an
add); ``watchkit.flow`` rows start and end a span, record the duration
histogram (with the exemplar of the current span, as in production) and update
the in-progress count. Async rows await the function inside one running loop,
so they include the cost of an ``await``; compare them with the async
``start_as_current_span`` row, not the sync one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from benchmarks._providers import Providers, discarding_processor
from benchmarks.harness import Budget, Suite, async_case


def _logfire_instrument(providers: Providers) -> Callable[[Callable[..., Any]], Any] | None:
    try:
        import logfire
    except ImportError:  # pragma: no cover - the bench extra installs it
        return None
    logfire.configure(
        send_to_logfire=False,
        console=False,
        metrics=False,
        additional_span_processors=[discarding_processor()],
    )
    return logfire.instrument("checkout.place_order")  # type: ignore[no-any-return]


def suites() -> list[Suite]:
    import prometheus_client

    import watchkit

    providers = Providers()
    tracer = providers.tracer_provider.get_tracer("bench")

    def work() -> int:
        return 42

    async def awork() -> int:
        return 42

    total = [0.0]

    def floor_timer(fn: Callable[[], int]) -> Callable[[], int]:
        def timed() -> int:
            start = time.perf_counter()
            try:
                return fn()
            finally:
                total[0] += time.perf_counter() - start

        return timed

    otel_sync = tracer.start_as_current_span("checkout.place_order")(work)
    otel_async = tracer.start_as_current_span("checkout.place_order")(awork)
    traced_sync = watchkit.traced("checkout.place_order")(work)
    flow_sync = watchkit.flow("checkout.place_order")(work)
    flow_async = watchkit.flow("checkout.place_order")(awork)
    flow_attrs = watchkit.flow("checkout.place_order", channel="app", tier="gold")(work)
    place_order = watchkit.flow("checkout.place_order")

    def flow_with() -> int:
        with watchkit.flow("checkout.place_order"):
            return work()

    def flow_with_reused() -> int:
        with place_order:
            return work()

    async def flow_async_with() -> int:
        async with watchkit.flow("checkout.place_order"):
            return await awork()

    # What a user writes by hand for the same telemetry (span + duration histogram).
    meter = providers.meter_provider.get_meter("bench")
    hand_histogram = meter.create_histogram(
        "bench.hand.duration", unit="s", explicit_bucket_boundaries_advisory=[0.005, 0.01, 0.1, 1]
    )
    hand_attributes = {"flow.name": "checkout.place_order", "flow.outcome": "success"}

    def hand_written() -> int:
        with tracer.start_as_current_span("checkout.place_order"):
            start = time.perf_counter()
            result = work()
            hand_histogram.record(time.perf_counter() - start, hand_attributes)
            return result

    registry = prometheus_client.CollectorRegistry()
    prom = prometheus_client.Histogram(
        "checkout_place_order_seconds", "place order", registry=registry
    )
    prom_sync = prom.time()(work)

    cases: dict[str, Callable[..., object]] = {
        "bare call": work,
        "perf_counter closure (floor)": floor_timer(work),
        "OTel start_as_current_span decorator": otel_sync,
        "watchkit.traced": traced_sync,
        "hand-written: start_as_current_span + SDK Histogram.record": hand_written,
        "watchkit.flow decorator": flow_sync,
        "watchkit.flow decorator, 2 attributes": flow_attrs,
        "watchkit.flow context manager (new flow per call)": flow_with,
        "watchkit.flow context manager (module-level flow)": flow_with_reused,
        "prometheus_client Histogram.time()": prom_sync,
    }
    instrument = _logfire_instrument(providers)
    if instrument is not None:
        cases["logfire.instrument"] = instrument(work)
    async_cases: dict[str, Callable[..., object]] = {
        "async: bare await": async_case(awork),
        "async: OTel start_as_current_span decorator": async_case(otel_async),
        "async: watchkit.flow decorator": async_case(flow_async),
        "async: watchkit.flow async with": async_case(flow_async_with),
    }
    error_cases = _error_cases(tracer)
    sacs = "OTel start_as_current_span decorator"
    asacs = "async: OTel start_as_current_span decorator"
    return [
        Suite(
            "Flows and traced: per-call cost (sync)",
            cases=cases,
            budgets=[
                Budget("watchkit.traced", sacs, 1.0),
                Budget("watchkit.flow decorator", sacs, 1.2),
                Budget("watchkit.flow context manager (new flow per call)", sacs, 1.2),
                Budget(
                    "watchkit.flow decorator",
                    "hand-written: start_as_current_span + SDK Histogram.record",
                    1.0,
                ),
            ],
            setup=providers.install,
            number=2000,
            rounds=15,
        ),
        Suite(
            "Flows and traced: a call that raises (exception event with stack trace)",
            cases=error_cases,
            budgets=[
                Budget("watchkit.flow decorator, raising", _OTEL_RAISING, 1.0),
                Budget("watchkit.traced, raising", _OTEL_RAISING, 1.0),
            ],
            number=500,
            rounds=15,
        ),
        Suite(
            "Flows: per-call cost (async)",
            cases=async_cases,
            budgets=[
                Budget("async: watchkit.flow decorator", asacs, 1.2),
                Budget("async: watchkit.flow async with", asacs, 1.2),
            ],
            teardown=providers.uninstall,
            number=2000,
            rounds=15,
        ),
    ]


_OTEL_RAISING = "OTel start_as_current_span decorator (SDK record_exception), raising"


def _error_cases(tracer: Any) -> dict[str, Callable[..., object]]:
    """A function that raises from five frames deep, caught by the caller.

    The peer is what contrib and hand-written code do: ``start_as_current_span``
    records the exception with the SDK's ``Span.record_exception`` (which on
    Python 3.11+ re-parses each frame's source for the ``^^^`` markers).
    """
    import watchkit

    class DeclinedError(Exception):
        pass

    def level(depth: int) -> int:
        if depth == 0:
            raise DeclinedError("card declined")
        return level(depth - 1)

    def fail() -> int:
        return level(4)

    def catching(fn: Callable[[], int]) -> Callable[[], None]:
        def call() -> None:
            with contextlib.suppress(DeclinedError):
                fn()

        return call

    return {
        "bare call that raises (caught)": catching(fail),
        _OTEL_RAISING: catching(tracer.start_as_current_span("checkout.place_order")(fail)),
        "watchkit.traced, raising": catching(watchkit.traced("checkout.place_order")(fail)),
        "watchkit.flow decorator, raising": catching(watchkit.flow("checkout.place_order")(fail)),
    }
