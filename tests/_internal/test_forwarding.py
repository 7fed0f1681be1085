"""Forwarding global providers: other libraries' telemetry follows every pipeline change."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_python
from tests.support.fixtures import otlp_receiver, rotel_collector  # noqa: F401
from tests.support.receiver import OtlpReceiver
from tests.support.rotel import RotelCollector
from watchkit._internal.forwarding import (
    ForwardingLoggerProvider,
    ForwardingMeterProvider,
    ForwardingTracerProvider,
)
from watchkit.testing import capture


def test_tracers_instruments_and_loggers_follow_the_current_pipeline() -> None:
    """Fetched once, used across pipeline changes: each use lands in the pipeline of that moment."""
    tracer = ForwardingTracerProvider().get_tracer("contrib.like", "1.0")
    meter = ForwardingMeterProvider().get_meter("contrib.like", "1.0")
    counter = meter.create_counter("forwarded.requests")
    histogram = meter.create_histogram("forwarded.duration", unit="s")
    up_down = meter.create_up_down_counter("forwarded.active")
    gauge = meter.create_gauge("forwarded.temperature")
    observed = meter.create_observable_gauge(
        "forwarded.observed", callbacks=[lambda options: [_observation(7)]]
    )
    logger = ForwardingLoggerProvider().get_logger("contrib.like")
    assert observed is not None

    def use(label: str) -> None:
        with tracer.start_as_current_span(f"span-{label}"):
            counter.add(1, {"run": label})
            histogram.record(0.5, {"run": label})
            up_down.add(2, {"run": label})
            gauge.set(21.5, {"run": label})
            logger.emit(body=f"log-{label}")

    use("nowhere")  # no pipeline: nothing recorded, nothing raised
    with capture() as first:
        use("first")
    with capture() as second:
        use("second")
        assert logger.enabled() is True
    for captured, label in ((first, "first"), (second, "second")):
        assert [s.name for s in captured.spans()] == [f"span-{label}"]
        assert captured.counter("forwarded.requests") == 1
        assert captured.histogram("forwarded.duration").count == 1
        assert captured.counter("forwarded.active") == 2
        assert captured.counter("forwarded.temperature") == 21.5
        assert [r.body for r in captured.logs()] == [f"log-{label}"]
        assert captured.counter("forwarded.observed") == 7  # registered with each pipeline


def test_an_observable_is_registered_once_per_pipeline() -> None:
    """A capture that comes and goes leaves the outer pipeline with one registration."""
    calls: list[int] = []

    def callback(options: object) -> list[object]:
        calls.append(1)
        return [_observation(1)]

    with capture() as outer:
        meter = ForwardingMeterProvider().get_meter("contrib.like")
        meter.create_observable_counter("forwarded.observed.once", callbacks=[callback])
        with capture():
            pass
        calls.clear()
        assert outer.counter("forwarded.observed.once") == 1
        assert len(calls) == 1


def _observation(value: float) -> object:
    from opentelemetry.metrics import Observation

    return Observation(value)


@pytest.mark.collector
def test_contrib_and_fastapi_telemetry_follow_shutdown_and_configure(
    rotel_collector: RotelCollector,  # noqa: F811
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    """A contrib WSGI middleware and FastAPI's own telemetry, set up once, export to each
    configuration in turn: the second pipeline gets their spans and metrics, not the first.
    """
    result = run_python(
        f"""
        import json
        from wsgiref.util import setup_testing_defaults
        from fastapi import FastAPI
        from fastapi.testclient import TestClient
        from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
        import watchkit

        def configure(name):
            return watchkit.configure(service_name=name, exporter="otlp", protocol="grpc",
                                      endpoint="{rotel_collector.grpc_endpoint}")

        configure("first")
        def plain(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        contrib = OpenTelemetryMiddleware(plain)  # takes its tracer and meter now
        api = FastAPI()
        @api.get("/native")
        def native():
            return {{"ok": True}}
        client = TestClient(api)

        def serve(path):
            environ = {{"PATH_INFO": path}}
            setup_testing_defaults(environ)
            b"".join(contrib(environ, lambda status, headers: None))
            assert client.get("/native").status_code == 200

        serve("/one")
        watchkit.shutdown(timeout=10)
        handle = configure("second")
        serve("/two")
        print(json.dumps({{"flushed": watchkit.shutdown(timeout=10),
                          "stats": {{k: v.dropped for k, v in handle.export_stats().items()}}}}))
        """,
        env={"OTEL_SEMCONV_STABILITY_OPT_IN": "http"},
        timeout=90,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["flushed"], result.stderr

    # Two requests through each library: one per configuration, each in its own pipeline.
    otlp_receiver.wait_for(
        lambda r: (
            len({s.resource_attributes["service.name"] for s in r.spans()}) == 2
            and len(r.spans()) >= 4
        )
    )
    contrib_spans = [s for s in otlp_receiver.spans() if s.scope_name.endswith("wsgi")]
    assert sorted(s.resource_attributes["service.name"] for s in contrib_spans) == [
        "first",
        "second",
    ]
    native = [s for s in otlp_receiver.spans() if s.scope_name == "fastapi"]
    assert sorted(s.resource_attributes["service.name"] for s in native if s.kind == "server") == [
        "first",
        "second",
    ], [(s.name, s.scope_name, s.kind) for s in otlp_receiver.spans()]

    def both_services(r: OtlpReceiver) -> set[str] | None:
        found = {
            p.resource_attributes["service.name"] for p in r.metrics("http.server.request.duration")
        }
        return found if found == {"first", "second"} else None

    assert otlp_receiver.wait_for(both_services)
