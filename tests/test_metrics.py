"""Business metrics: definition rules, recording through the pipeline, the cardinality guard."""

from __future__ import annotations

import json
import logging
import tracemalloc
from typing import Any

import pytest

import watchkit
from tests.helpers import run_python
from watchkit._internal import guard
from watchkit.testing import TelemetryCapture, capture

# Defined at import time, before any pipeline exists: must record into later captures.
ORDERS = watchkit.counter("test.orders.placed", unit="{order}", description="Orders placed")


def test_instrument_defined_before_capture_records_into_it(telemetry: TelemetryCapture) -> None:
    """A module-level counter (defined before any pipeline) records into the current one."""
    ORDERS.add(2, {"payment.method": "card"})
    ORDERS.add(1, payment_method="cash")
    assert telemetry.counter("test.orders.placed", {"payment.method": "card"}) == 2
    assert telemetry.counter("test.orders.placed", {"payment_method": "cash"}) == 1


def test_instrument_follows_each_new_capture() -> None:
    """Each capture (a pipeline change) gets its own points; nothing leaks between them."""
    with capture() as first:
        ORDERS.add(5)
        assert first.counter("test.orders.placed") == 5
    with capture() as second:
        ORDERS.add(1)
        assert second.counter("test.orders.placed") == 1


def test_instrument_defined_before_configure_records_after_it() -> None:
    """Defined at import, before configure(): records into the configured provider."""
    result = run_python(
        """
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        import watchkit

        orders = watchkit.counter("orders.placed")      # before any provider exists
        orders.add(1)                                   # no pipeline yet: a no-op
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        watchkit.configure(exporter="none")             # adopts the app's provider
        orders.add(3, {"channel": "app"})
        points = [
            (dict(p.attributes), p.value)
            for rm in reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics for m in sm.metrics if m.name == "orders.placed"
            for p in m.data.data_points
        ]
        print(points)
        """
    )
    assert result.stdout.strip().splitlines()[-1] == "[({'channel': 'app'}, 3)]"


def test_counter_up_down_counter_histogram_and_gauges(telemetry: TelemetryCapture) -> None:
    """Every instrument kind records through the telemetry fixture."""
    open_carts = watchkit.up_down_counter("test.carts.open", unit="{cart}")
    basket = watchkit.histogram("test.basket.value", unit="EUR", buckets=[10, 50, 100])
    prep = watchkit.histogram("test.prep.duration", unit="s")
    couriers = watchkit.gauge("test.couriers.online", unit="{courier}")
    queue = [1, 2, 3]
    depth = watchkit.gauge("test.queue.depth", callback=lambda: len(queue), attributes={"q": "a"})
    zones = watchkit.gauge(
        "test.zone.load", callback=lambda: [(0.5, {"zone": "north"}), (0.9, {"zone": "south"})]
    )

    open_carts.add(3)
    open_carts.add(-1)
    basket.record(42.0, channel="web")
    basket.record(120.0, {"channel": "web"})
    prep.record(0.3)
    couriers.set(12, zone="north")

    assert telemetry.counter("test.carts.open") == 2
    summary = telemetry.histogram("test.basket.value", {"channel": "web"})
    assert summary.count == 2 and summary.sum == 162.0
    assert summary.explicit_bounds == (10.0, 50.0, 100.0)
    assert summary.bucket_counts == (0, 1, 0, 1)
    assert telemetry.histogram("test.prep.duration").explicit_bounds[0] == 0.005
    assert telemetry.counter("test.couriers.online", {"zone": "north"}) == 12
    assert telemetry.counter("test.queue.depth", {"q": "a"}) == 3
    assert telemetry.counter("test.zone.load", {"zone": "south"}) == 0.9
    assert depth.callback is not None and zones.callback is not None


def test_histogram_without_unit_seconds_keeps_sdk_buckets(telemetry: TelemetryCapture) -> None:
    """Only seconds histograms get the duration buckets by default."""
    watchkit.histogram("test.distance", unit="km").record(3)
    assert telemetry.histogram("test.distance").explicit_bounds[-1] == 10000.0


def test_gauge_callback_failure_is_logged_once(
    telemetry: TelemetryCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising callback costs one warning and no value; collection goes on."""

    def broken() -> float:
        raise RuntimeError("sensor offline")

    watchkit.gauge("test.broken.gauge", callback=broken)
    with caplog.at_level(logging.WARNING, logger="watchkit"):
        telemetry.metric_names()
        telemetry.metric_names()
    assert "test.broken.gauge" not in telemetry.metric_names()
    assert sum("test.broken.gauge" in r.getMessage() for r in caplog.records) == 1


def test_same_definition_returns_same_object_conflict_raises() -> None:
    """Defining a name twice returns the same instrument; a different kind or unit raises."""
    first = watchkit.counter("test.defined.twice", unit="{x}")
    assert watchkit.counter("test.defined.twice", unit="{x}") is first
    assert watchkit.counter("TEST.defined.twice", unit="{x}") is first
    with pytest.raises(ValueError, match="already defined"):
        watchkit.counter("test.defined.twice", unit="s")
    with pytest.raises(ValueError, match="already defined"):
        watchkit.histogram("test.defined.twice", unit="{x}")


@pytest.mark.parametrize(
    "name", ["", "1orders", "orders placed", "orders!", "ü.orders", "x" * 256, None, 3]
)
def test_invalid_names_raise_at_definition(name: Any) -> None:
    """OpenTelemetry instrument name rules are enforced with a message naming the rule."""
    for define in (watchkit.counter, watchkit.up_down_counter, watchkit.histogram, watchkit.gauge):
        with pytest.raises(ValueError, match="OpenTelemetry instrument names start with a letter"):
            define(name)


def test_valid_name_edge_cases() -> None:
    """Letters, digits, _ . - / and 255 characters are accepted."""
    watchkit.counter("a" * 255)
    watchkit.counter("Orders_2/placed-total.v1")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "watchkit.flow.duration"}, "reserved for watchkit"),
        ({"name": "test.bad.unit", "unit": "é"}, "unit"),
        ({"name": "test.bad.unit2", "unit": "x" * 64}, "unit"),
        ({"name": "test.bad.description", "description": 3}, "description"),
    ],
)
def test_invalid_definitions(kwargs: dict[str, Any], match: str) -> None:
    """Reserved names, bad units and descriptions raise ValueError at definition."""
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=match):
        watchkit.counter(name, **kwargs)


@pytest.mark.parametrize("buckets", [[], [1, 1], [2, 1], [1, float("inf")], ["a"], [True, 2]])
def test_invalid_buckets(buckets: list[Any]) -> None:
    """Buckets must be strictly increasing finite numbers."""
    with pytest.raises(ValueError, match="buckets"):
        watchkit.histogram("test.bad.buckets", buckets=buckets)


def test_invalid_gauge_callback() -> None:
    """A callback that is not callable is refused."""
    with pytest.raises(ValueError, match="callback"):
        watchkit.gauge("test.bad.callback", callback=3)  # type: ignore[arg-type]


def test_set_on_observable_gauge_is_an_internal_error_not_a_crash() -> None:
    """set() on a gauge with a callback is misuse: the guard logs it once in production."""
    observed = watchkit.gauge("test.observed.only", callback=lambda: 1.0)
    with pytest.raises(TypeError, match="has a callback"):
        observed.set(3)  # type: ignore[attr-defined]  # our tests make the guard re-raise
    old = guard.set_raise(False)
    try:
        observed.set(3)  # type: ignore[attr-defined]  # production: swallowed
    finally:
        guard.set_raise(old)


@pytest.mark.slow
def test_cardinality_overflow_with_ten_thousand_user_ids(
    telemetry: TelemetryCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """10,000 distinct user ids: at most limit+1 series, one warning, bounded memory."""
    logins = watchkit.counter("test.logins")
    with caplog.at_level(logging.WARNING, logger="watchkit"):
        for i in range(10_000):
            logins.add(1, {"user.id": f"u-{i}", "method": "password"})
    points = telemetry.metric_points("test.logins")
    assert len(points) == 2001
    overflow = telemetry.metric_points("test.logins", {"otel.metric.overflow": True})
    assert len(overflow) == 1 and overflow[0].value == 8000
    assert sum(p.value for p in points) == 10_000
    warnings = [r for r in caplog.records if "cardinality limit" in r.getMessage()]
    assert len(warnings) == 1 and "'test.logins'" in warnings[0].getMessage()
    assert logins.series == 2000

    # Steady state: 10,000 more new ids allocate (almost) nothing that stays.
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(10_000, 20_000):
            logins.add(1, {"user.id": f"u-{i}", "method": "password"})
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # Unguarded, the SDK keeps ~12 MB for 10,000 new series; the margin absorbs
    # allocations of other threads while the suite runs.
    assert grown < 1024 * 1024, f"memory grew by {grown} bytes"
    assert len(telemetry.metric_points("test.logins")) == 2001


def test_configure_cardinality_limit_caps_every_instrument_with_one_warning_each() -> None:
    """configure(cardinality_limit=3): each instrument keeps 3 attribute sets plus the overflow
    series, and says so once, naming itself; a capture under that configuration does the same.
    """
    result = run_python(
        """
        import json, logging
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        import watchkit
        from watchkit.testing import capture

        warnings = []
        class Keep(logging.Handler):
            def emit(self, record):
                if "cardinality limit" in record.getMessage():
                    warnings.append(record.getMessage())
        logging.getLogger("watchkit").addHandler(Keep())
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        watchkit.configure(exporter="none", cardinality_limit=3)
        logins = watchkit.counter("app.logins")
        sizes = watchkit.histogram("app.basket.size")
        for i in range(10):
            logins.add(1, {"user.id": f"u{i}"})
            sizes.record(i, {"user.id": f"u{i}"})
        points = {
            m.name: sorted(json.dumps(dict(p.attributes)) for p in m.data.data_points)
            for rm in reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics for m in sm.metrics
        }
        with capture() as captured:
            for i in range(10):
                logins.add(1, {"user.id": f"c{i}"})
            under_capture = len(captured.metric_points("app.logins"))
        print(json.dumps({"points": points, "warnings": warnings, "capture": under_capture}))
        """
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    overflow = json.dumps({"otel.metric.overflow": True})
    for name in ("app.logins", "app.basket.size"):
        assert len(out["points"][name]) == 4 and overflow in out["points"][name], out
    warned = [w for w in out["warnings"] if "'app.logins'" in w]
    assert len(warned) == 2, out["warnings"]  # once in the configured pipeline, once in the capture
    assert "'app.logins' reached its cardinality limit of 3" in warned[0]
    assert len([w for w in out["warnings"] if "'app.basket.size'" in w]) == 1
    assert out["capture"] == 4


def test_cardinality_limit_comes_from_settings(
    telemetry: TelemetryCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a capture the limit follows WATCHKIT_CARDINALITY_LIMIT; histograms are guarded too."""
    monkeypatch.setenv("WATCHKIT_CARDINALITY_LIMIT", "5")
    with capture() as inner:
        sizes = watchkit.histogram("test.guarded.sizes")
        for i in range(20):
            sizes.record(1.0, user=f"u{i}")
        assert len(inner.metric_points("test.guarded.sizes")) == 6
        assert inner.histogram("test.guarded.sizes", {"otel.metric.overflow": True}).count == 15


def test_recording_never_raises_on_bad_values(telemetry: TelemetryCapture) -> None:
    """Odd values are the SDK's to drop (it logs); nothing reaches the caller."""
    counter = watchkit.counter("test.odd.values")
    counter.add(-1)  # the SDK ignores negative counter increments
    counter.add(1, {"tags": ["a", "b"]})  # list values: unhashable, still guarded
    assert telemetry.counter("test.odd.values", {"tags": ("a", "b")}) == 1


def test_disabled_instruments_are_no_ops() -> None:
    """configure(disabled=True): recording does nothing and costs little."""
    watchkit.configure(disabled=True)
    counter = watchkit.counter("test.disabled.counter")
    counter.add(1, {"channel": "app"})
    assert counter.series == 0  # returned before the guard: no SDK instrument to feed


def test_unhashable_attribute_values_are_recorded_as_the_sdk_would(
    telemetry: TelemetryCapture,
) -> None:
    """A dict or nested value is the SDK's to handle; the guard must not drop the point."""
    orders = watchkit.counter("test.unhashable.values")
    orders.add(1, {"cart": {"items": 2}})  # the SDK keeps mappings
    orders.add(1, {"tags": [{"x"}]})  # the SDK stringifies what it cannot keep
    orders.add(1, cart={"items": 2})
    sizes = watchkit.histogram("test.unhashable.sizes")
    sizes.record(2.0, meta={"a": [1, 2]})
    assert telemetry.counter("test.unhashable.values", {"cart": {"items": 2}}) == 2
    assert telemetry.counter("test.unhashable.values") == 3
    assert telemetry.histogram("test.unhashable.sizes").count == 1
    assert orders.series == 2 and sizes.series == 1


def test_start_at_zero_reports_known_series_before_the_first_add() -> None:
    """The series is exported at 0 before its first add, then at 1: increase() sees the step,
    in every new pipeline; sets beyond the cardinality limit fall into the overflow series."""
    failed = watchkit.counter("test.payments.failed", unit="{payment}")
    with capture() as first:
        failed.start_at_zero({"payment.provider": "stripe"}, {"payment.provider": "adyen"})
        points = first.metric_points("test.payments.failed")
        assert sorted((p.attributes["payment.provider"], p.value) for p in points) == [
            ("adyen", 0),
            ("stripe", 0),
        ]
        failed.add(1, {"payment.provider": "stripe"})
        assert first.counter("test.payments.failed", {"payment.provider": "stripe"}) == 1
    with capture() as second:  # a new pipeline: the zeros are recorded again, before any add
        assert len(second.metric_points("test.payments.failed")) == 2
        assert second.counter("test.payments.failed") == 0


def test_start_at_zero_respects_the_cardinality_limit_and_rejects_non_mappings() -> None:
    """Zeros are bounded by the cardinality limit, and a bad argument is a ValueError."""
    result = run_python(
        """
        import json
        import watchkit
        from watchkit.testing import capture

        watchkit.configure(exporter="none", cardinality_limit=3)
        known = watchkit.counter("app.known")
        with capture() as captured:
            known.start_at_zero(*({"tier": str(i)} for i in range(5)))
            found = captured.metric_points("app.known")
            points = sorted(json.dumps(dict(p.attributes)) for p in found)
        print(json.dumps(points))
        """
    )
    points = json.loads(result.stdout.strip().splitlines()[-1])
    # Sets beyond the limit are left out (they would only fill the overflow series).
    assert points == [json.dumps({"tier": str(i)}) for i in range(3)]
    with pytest.raises(ValueError, match="attribute set 'tier' is invalid: use a mapping"):
        ORDERS.start_at_zero("tier")  # type: ignore[arg-type]
