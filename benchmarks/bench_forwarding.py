"""Per-call cost of the forwarding global providers against the SDK objects they forward to.

Other libraries (contrib instrumentations, FastAPI's own telemetry) get their
tracers and instruments from the OpenTelemetry globals, which watchkit sets to
forwarding providers so that they follow ``shutdown()`` and a new
``configure()``. Each row pair records into the same SDK providers: once
through the SDK object directly, once through the forwarding object (one
pipeline-generation check and one extra call).
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks._providers import Providers
from benchmarks.harness import Budget, Suite


def suites() -> list[Suite]:
    from watchkit._internal.forwarding import ForwardingMeterProvider, ForwardingTracerProvider

    providers = Providers()
    sdk_tracer = providers.tracer_provider.get_tracer("bench.contrib")
    sdk_meter = providers.meter_provider.get_meter("bench.contrib")
    forwarding_tracer = ForwardingTracerProvider().get_tracer("bench.contrib")
    forwarding_meter = ForwardingMeterProvider().get_meter("bench.contrib")
    sdk_histogram = sdk_meter.create_histogram("bench.sdk.duration", unit="s")
    forwarding_histogram = forwarding_meter.create_histogram("bench.forwarded.duration", unit="s")
    attributes = {"http.request.method": "GET", "http.route": "/orders/{id}"}

    def sdk_span() -> None:
        with sdk_tracer.start_as_current_span("GET /orders/{id}"):
            pass

    def forwarding_span() -> None:
        with forwarding_tracer.start_as_current_span("GET /orders/{id}"):
            pass

    def sdk_record() -> None:
        sdk_histogram.record(0.012, attributes)

    def forwarding_record() -> None:
        forwarding_histogram.record(0.012, attributes)

    cases: dict[str, Callable[..., object]] = {
        "SDK tracer: start_as_current_span": sdk_span,
        "forwarding tracer: start_as_current_span": forwarding_span,
        "SDK Histogram.record, 2 attributes": sdk_record,
        "forwarding Histogram.record, 2 attributes": forwarding_record,
    }
    return [
        Suite(
            "Forwarding global providers: per-call cost",
            cases=cases,
            budgets=[
                Budget(
                    "forwarding tracer: start_as_current_span",
                    "SDK tracer: start_as_current_span",
                    1.1,
                ),
                Budget(
                    "forwarding Histogram.record, 2 attributes",
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
