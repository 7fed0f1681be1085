"""Per-call cost of watchkit's business metrics against the SDK instruments they wrap (issue 3).

Both sides record into the same ``MeterProvider`` (one ``InMemoryMetricReader``,
never collected while timing), with the same two attributes, on an already
existing series: the steady state of a service. watchkit's row includes the
pipeline check and the cardinality guard (building the attribute-set key and
one set lookup).

The "guard off" row is watchkit's record path without its guard: what the
call would cost if watchkit left the cap to the SDK. OpenTelemetry SDK 1.45.2
caps each stream itself (2000 attribute sets per reader, then one
``otel.metric.overflow=true`` series), checked only when a new set arrives, so
on an existing series that row is also "the SDK's cap alone". 1.45.1 (what the
contrib instrumentations of the bench extra pin) has no cap: there the guard
is the only bound on memory.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.bench_flows import Providers
from benchmarks.harness import Budget, Suite


def suites() -> list[Suite]:
    import watchkit

    providers = Providers()
    meter = providers.meter_provider.get_meter("bench")
    sdk_counter = meter.create_counter("bench.sdk.orders")
    sdk_histogram = meter.create_histogram("bench.sdk.basket")
    wk_counter = watchkit.counter("bench.watchkit.orders")
    wk_histogram = watchkit.histogram("bench.watchkit.basket")
    attributes = {"payment.method": "card", "channel": "app"}

    def sdk_add() -> None:
        sdk_counter.add(1, attributes)

    def wk_add() -> None:
        wk_counter.add(1, attributes)

    # watchkit's record path minus the guard (reads the binding the path uses).
    wk_binding = wk_counter._binding

    def wk_add_unguarded() -> None:
        record = wk_binding.get().record
        if record is not None:
            record(1, attributes)

    def wk_add_keywords() -> None:
        wk_counter.add(1, method="card", channel="app")

    def sdk_record() -> None:
        sdk_histogram.record(12.5, attributes)

    def wk_record() -> None:
        wk_histogram.record(12.5, attributes)

    def wk_event() -> None:
        watchkit.event("order.placed", attributes)

    cases: dict[str, Callable[..., object]] = {
        "SDK Counter.add, 2 attributes": sdk_add,
        "watchkit.counter(...).add, 2 attributes (mapping)": wk_add,
        "watchkit.counter(...).add, 2 attributes (keywords)": wk_add_keywords,
        "watchkit record path, guard off (the SDK's cap alone)": wk_add_unguarded,
        "SDK Histogram.record, 2 attributes": sdk_record,
        "watchkit.histogram(...).record, 2 attributes": wk_record,
        "watchkit.event (log record + counter)": wk_event,
    }
    return [
        Suite(
            "Business metrics: per-call cost",
            cases=cases,
            budgets=[
                Budget(
                    "watchkit.counter(...).add, 2 attributes (mapping)",
                    "SDK Counter.add, 2 attributes",
                    1.1,
                ),
                Budget(
                    "watchkit.histogram(...).record, 2 attributes",
                    "SDK Histogram.record, 2 attributes",
                    1.1,
                ),
            ],
            setup=providers.install,
            teardown=providers.uninstall,
            number=5000,
            rounds=15,
        )
    ]
