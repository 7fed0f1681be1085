"""The Prometheus names the generators query are the ones the SDK's Prometheus reader emits."""

from __future__ import annotations

from opentelemetry.exporter import prometheus

from watchkit._internal import semconv
from watchkit.ops import _promnames as names


def test_names_match_a_real_scrape() -> None:
    """Each instrument, created with its semconv name and unit, scrapes under the derived name."""
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    reader = prometheus.PrometheusMetricReader(registry=registry)
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("names")
    attrs = {semconv.HTTP_ROUTE: "/x", semconv.HTTP_RESPONSE_STATUS_CODE: 500,
             semconv.FLOW_NAME: "f", semconv.DB_SYSTEM_NAME: "postgresql",
             semconv.SECURITY_ALERT_KIND: "brute_force", semconv.MESSAGING_DESTINATION_NAME: "q",
             semconv.JOB_NAME: "send", semconv.JOB_OUTCOME: "failure", semconv.USERS_PERIOD: "day",
             semconv.SECURITY_STORE_OPERATION: "record"}  # fmt: skip
    for name, unit in (
        (semconv.HTTP_SERVER_REQUEST_DURATION, semconv.UNIT_SECONDS),
        (semconv.FLOW_DURATION, semconv.UNIT_SECONDS),
        (semconv.DB_CLIENT_OPERATION_DURATION, semconv.UNIT_SECONDS),
        (semconv.HTTP_CLIENT_REQUEST_DURATION_METRIC, semconv.UNIT_SECONDS),
    ):
        meter.create_histogram(
            name, unit=unit, explicit_bucket_boundaries_advisory=semconv.DEFAULT_DURATION_BUCKETS
        ).record(0.2, attrs)
    for name, unit in (
        (semconv.WATCHKIT_DEPENDENCY_DURATION, semconv.UNIT_SECONDS),
        (semconv.WATCHKIT_CACHE_OPERATION_DURATION, semconv.UNIT_SECONDS),
        (semconv.SYNTHETIC_DURATION, semconv.UNIT_SECONDS),
        (semconv.WATCHKIT_QUEUE_WAIT_DURATION, semconv.UNIT_SECONDS),
        (semconv.MESSAGING_PROCESS_DURATION, semconv.UNIT_SECONDS),
    ):
        meter.create_histogram(name, unit=unit).record(0.2, attrs)
    for name, unit in (
        (semconv.SECURITY_ALERTS, semconv.SECURITY_ALERTS_UNIT),
        (semconv.SECURITY_LOGIN_ATTEMPTS, semconv.SECURITY_LOGIN_ATTEMPTS_UNIT),
        (semconv.EVENTS, semconv.EVENTS_UNIT),
        (semconv.WATCHKIT_CACHE_OPERATIONS, semconv.WATCHKIT_CACHE_OPERATIONS_UNIT),
        (semconv.SYNTHETIC_RUNS, semconv.SYNTHETIC_RUNS_UNIT),
        (semconv.WATCHKIT_QUEUE_JOBS, semconv.UNIT_JOBS),
        (semconv.MESSAGING_CLIENT_SENT_MESSAGES, semconv.UNIT_MESSAGES),
        (semconv.MESSAGING_CLIENT_CONSUMED_MESSAGES, semconv.UNIT_MESSAGES),
        (semconv.SECURITY_STORE_ERRORS, semconv.SECURITY_STORE_ERRORS_UNIT),
    ):
        meter.create_counter(name, unit=unit).add(1, attrs)
    for name, unit in (
        (semconv.PROCESS_CPU_UTILIZATION, semconv.UNIT_RATIO),
        (semconv.SYSTEM_MEMORY_UTILIZATION, semconv.UNIT_RATIO),
        (semconv.HEALTH_CHECK_STATUS, semconv.UNIT_RATIO),
        (semconv.WATCHKIT_QUEUE_DEPTH, semconv.UNIT_MESSAGES),
        (semconv.USERS_ACTIVE, semconv.USERS_ACTIVE_UNIT),
    ):
        meter.create_gauge(name, unit=unit).set(0.5, attrs)
    for name, unit in (
        (semconv.PROCESS_MEMORY_USAGE, semconv.UNIT_BYTES),
        (semconv.SYSTEM_FILESYSTEM_USAGE, semconv.UNIT_BYTES),
        (semconv.FLOW_ACTIVE, semconv.FLOW_ACTIVE_UNIT),
        (semconv.DB_CLIENT_CONNECTION_COUNT, semconv.UNIT_CONNECTIONS),
    ):
        meter.create_up_down_counter(name, unit=unit).add(1, attrs)
    text = generate_latest(registry).decode()
    provider.shutdown()
    series = {line.split("{")[0] for line in text.splitlines() if line and line[0] != "#"}
    for histogram in (names.HTTP_DURATION, names.FLOW_DURATION, names.DB_DURATION,
                      names.HTTP_CLIENT_DURATION, names.DEPENDENCY_DURATION,
                      names.CACHE_DURATION, names.SYNTHETIC_DURATION, names.QUEUE_WAIT,
                      names.MESSAGING_PROCESS_DURATION):  # fmt: skip
        assert {f"{histogram}_bucket", f"{histogram}_count", f"{histogram}_sum"} <= series
    for name in (names.SECURITY_ALERTS, names.SECURITY_LOGIN_ATTEMPTS, names.EVENTS,
                 names.CPU_UTILIZATION, names.MEMORY_USAGE, names.FILESYSTEM_USAGE,
                 names.FLOW_ACTIVE, names.CACHE_OPERATIONS, names.SYNTHETIC_RUNS,
                 names.SYSTEM_MEMORY_UTILIZATION, names.HEALTH_STATUS,
                 names.DB_CONNECTIONS, names.QUEUE_DEPTH, names.QUEUE_JOBS,
                 names.MESSAGING_SENT, names.MESSAGING_CONSUMED, names.USERS_ACTIVE,
                 names.SECURITY_STORE_ERRORS):  # fmt: skip
        assert name in series, (name, sorted(series))
    for label in (names.LABEL_ROUTE, names.LABEL_STATUS, names.LABEL_FLOW_NAME,
                  names.LABEL_DB_SYSTEM, names.LABEL_ALERT_KIND, names.LABEL_QUEUE,
                  names.LABEL_JOB_NAME, names.LABEL_JOB_OUTCOME, names.LABEL_USERS_PERIOD,
                  names.LABEL_STORE_OPERATION):  # fmt: skip
        assert f'{label}="' in text
    # Float bounds are written in float form, which is what le_matcher expects.
    assert 'le="0.2"' in text
    assert 'le="1.0"' in text


def test_le_matcher_accepts_both_spellings_of_whole_bounds() -> None:
    """Prometheus 3 turns le="1" into le="1.0": whole bounds match either."""
    assert names.le_matcher(0.5) == 'le="0.5"'
    assert names.le_matcher(1) == 'le=~"1|1[.]0"'
    assert names.le_matcher(10.0) == 'le=~"10|10[.]0"'


def test_user_metric_names_match_a_real_scrape() -> None:
    """An application's counter, up-down counter, gauge and histogram, with their units,
    scrape under the names user_metric() gives a kind="metric" threshold."""
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[prometheus.PrometheusMetricReader(registry=registry)])
    meter = provider.get_meter("app")
    meter.create_counter("payments.failed", unit="{payment}").add(1)
    meter.create_counter("checkout.abandoned").add(1)
    meter.create_up_down_counter("carts.open", unit="{cart}").add(1)
    meter.create_gauge("kitchen.load", unit="1").set(0.5)
    meter.create_histogram("kitchen.preparation.duration", unit="s").record(3.0)
    meter.create_histogram("basket.value", unit="EUR").record(3.0)
    text = generate_latest(registry).decode()
    provider.shutdown()
    series = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    expected = {
        ("payments.failed", "counter", "{payment}"): ("payments_failed_total", "counter"),
        ("checkout.abandoned", "counter", ""): ("checkout_abandoned_total", "counter"),
        ("carts.open", "up_down_counter", "{cart}"): ("carts_open", "gauge"),
        ("kitchen.load", "gauge", "1"): ("kitchen_load", "gauge"),
        ("kitchen.preparation.duration", "histogram", "s"): (
            "kitchen_preparation_duration_seconds",
            "histogram",
        ),
        ("basket.value", "histogram", "EUR"): ("basket_value_EUR", "histogram"),
    }
    for (name, instrument, unit), (prom, reading) in expected.items():
        assert names.user_metric(name, instrument, unit) == (prom, reading)
        assert (f"{prom}_count" if reading == "histogram" else prom) in series, (prom, series)
