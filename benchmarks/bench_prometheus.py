"""One scrape of 100 series: watchkit's pull endpoint next to prometheus_client's own.

Both sides hold the same 100 counter series (one metric, 100 values of one
label). watchkit's row is what a Prometheus scrape of its endpoint costs: the
SDK collects its cumulative points and the SDK's Prometheus reader translates
them into ``prometheus_client`` families, rendered by ``generate_latest``. The
peer row is ``prometheus_client`` rendering its own counter: the floor any
Python exporter starts from. The endpoint is not on a request path (it runs
once per scrape interval), so the ratio is reported with a loose budget.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.harness import Budget, Suite


def suites() -> list[Suite]:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    from watchkit._internal import semconv

    otel_registry = CollectorRegistry(auto_describe=False)
    promoted = frozenset(semconv.PROMOTED_RESOURCE_ATTRIBUTES)
    reader = PrometheusMetricReader(
        registry=otel_registry, resource_attribute_filter=promoted.__contains__
    )
    provider = MeterProvider(metric_readers=[reader])
    otel_counter = provider.get_meter("bench").create_counter("bench.orders")
    peer_registry = CollectorRegistry()
    peer_counter = Counter("bench_orders", "orders", ["route"], registry=peer_registry)
    for index in range(100):
        otel_counter.add(1, {"route": f"/r{index}"})
        peer_counter.labels(route=f"/r{index}").inc()
    assert generate_latest(otel_registry).count(b"bench_orders_total{") == 100

    def watchkit_scrape() -> None:
        generate_latest(otel_registry)

    def peer_scrape() -> None:
        generate_latest(peer_registry)

    cases: dict[str, Callable[..., object]] = {
        "prometheus_client generate_latest, 100 series": peer_scrape,
        "watchkit pull endpoint (SDK reader) scrape, 100 series": watchkit_scrape,
    }
    return [
        Suite(
            "Prometheus pull endpoint: one scrape",
            cases=cases,
            budgets=[
                Budget(
                    "watchkit pull endpoint (SDK reader) scrape, 100 series",
                    "prometheus_client generate_latest, 100 series",
                    3.0,
                )
            ],
            teardown=provider.shutdown,
            number=200,
            rounds=9,
        )
    ]
