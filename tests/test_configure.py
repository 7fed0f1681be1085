"""configure(), shutdown() and force_flush(): idempotency, coexistence, fail-safety, isolation."""

from __future__ import annotations

import json
import logging

import pytest

import watchkit
from tests.helpers import free_port, run_python
from watchkit._configure import current
from watchkit._internal.state import STATE, get_tracer


def test_configure_returns_a_handle_and_sets_up_three_providers(clean_env: object) -> None:
    """One call builds tracer, meter and logger providers sharing one Resource."""
    handle = watchkit.configure(service_name="orders", exporter="none", environment="test")
    assert isinstance(handle, watchkit.Telemetry)
    assert handle.active and handle.enabled and handle.exporter == "none"
    assert handle.reused_providers == frozenset()
    resources = {
        id(handle.tracer_provider.resource),  # type: ignore[attr-defined]
        id(handle.meter_provider._sdk_config.resource),  # type: ignore[attr-defined]
        id(handle.logger_provider.resource),  # type: ignore[attr-defined]
    }
    assert len(resources) == 1
    attrs = dict(handle.tracer_provider.resource.attributes)  # type: ignore[attr-defined]
    assert attrs["service.name"] == "orders"
    assert attrs["deployment.environment.name"] == "test"
    for key in (
        "service.instance.id",
        "host.name",
        "process.pid",
        "telemetry.sdk.name",
        "telemetry.sdk.language",
        "telemetry.sdk.version",
    ):
        assert key in attrs, key


def test_second_identical_call_returns_the_same_handle(clean_env: object) -> None:
    """Idempotent: a repeated configure() adds no processor and returns the same handle."""
    first = watchkit.configure(service_name="a", exporter="console")
    processors = first.tracer_provider._active_span_processor._span_processors  # type: ignore[attr-defined]
    generation = STATE.generation
    second = watchkit.configure(service_name="a", exporter="console")
    assert second is first
    assert first.tracer_provider._active_span_processor._span_processors == processors  # type: ignore[attr-defined]
    assert STATE.generation == generation


def test_second_different_call_warns_and_changes_nothing(
    clean_env: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Different settings on a second call are ignored with one warning naming them."""
    first = watchkit.configure(service_name="a", exporter="none")
    with caplog.at_level(logging.WARNING, logger="watchkit"):
        second = watchkit.configure(service_name="b", exporter="none")
    assert second is first
    assert dict(first.settings.resource_attributes)["service.name"] == "a"
    messages = [r.getMessage() for r in caplog.records if r.name == "watchkit"]
    assert len(messages) == 1
    assert "resource_attributes" in messages[0] and "shutdown()" in messages[0]


def test_shutdown_then_configure_starts_afresh(clean_env: object) -> None:
    """After shutdown(), configure() builds a new pipeline that watchkit's telemetry uses."""
    first = watchkit.configure(service_name="a", exporter="none")
    assert watchkit.shutdown() is True
    assert not first.active and current() is None
    assert watchkit.shutdown() is True  # nothing configured: harmless
    second = watchkit.configure(service_name="b", exporter="none")
    assert second is not first
    assert STATE.pipeline is not None
    assert STATE.pipeline.tracer_provider is second.tracer_provider


def test_disabled_builds_no_sdk_pipeline(clean_env: object) -> None:
    """OTEL_SDK_DISABLED=true: no providers, spans are non-recording no-ops."""
    clean_env.setenv("OTEL_SDK_DISABLED", "true")  # type: ignore[attr-defined]
    handle = watchkit.configure(service_name="x")
    assert not handle.enabled
    assert not STATE.enabled
    with get_tracer().start_as_current_span("nothing") as span:
        assert not span.is_recording()
    assert handle.force_flush() is True


def test_console_exporter_prints_an_indented_span_tree(
    clean_env: object, capfd: pytest.CaptureFixture[str]
) -> None:
    """Console output is one line per span, children indented under their parent."""
    watchkit.configure(service_name="demo", exporter="console")
    tracer = get_tracer()
    with (
        tracer.start_as_current_span("checkout", attributes={"order.items": 3}),
        tracer.start_as_current_span("charge"),
    ):
        pass
    assert watchkit.force_flush(timeout=5)
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "checkout" in line or "charge" in line]
    assert len(lines) == 2, err
    assert "order.items=3" in lines[0] and "trace=" in lines[0]
    prefix = lines[1].split("charge")[0]
    assert prefix.endswith("  ") and len(prefix) > len(lines[0].split("checkout")[0])


def test_http_protobuf_exporter_never_loads_grpc() -> None:
    """Choosing OTLP over http/protobuf loads no gRPC (nor a framework).

    `import watchkit` alone is covered by tests/test_architecture.py.
    """
    result = run_python(
        """
        import json, sys
        import watchkit
        watchkit.configure(exporter="otlp", endpoint="http://127.0.0.1:9", protocol="http/protobuf")
        loaded = sorted({m.split(".")[0] for m in sys.modules} & {"grpc", "fastapi", "flask"})
        watchkit.shutdown(timeout=0.5)
        print(json.dumps(loaded))
        """
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_existing_sdk_providers_are_reused_not_replaced() -> None:
    """Under opentelemetry-instrument-style setups watchkit adds no exporter of its own."""
    result = run_python(
        """
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        app_provider = TracerProvider()
        app_provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(app_provider)

        import watchkit
        from watchkit._internal.state import get_tracer
        handle = watchkit.configure(service_name="x", exporter="console")
        processors = app_provider._active_span_processor._span_processors
        with get_tracer().start_as_current_span("through-app-provider"):
            pass
        print(json.dumps({
            "same": handle.tracer_provider is app_provider,
            "reused": sorted(handle.reused_providers),
            "processors": len(processors),
            "spans": [s.name for s in exporter.get_finished_spans()],
        }))
        watchkit.shutdown()
        """
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {
        "same": True,
        "reused": ["traces"],
        "processors": 1,
        "spans": ["through-app-provider"],
    }


def test_globals_are_set_so_other_instrumentations_share_the_pipeline() -> None:
    """Unset OpenTelemetry globals become watchkit's forwarding providers, set once."""
    result = run_python(
        """
        from opentelemetry import trace, metrics
        from opentelemetry import _logs
        import watchkit
        from watchkit._internal.forwarding import FORWARDING_CLASSES
        h = watchkit.configure(exporter="none")
        globals_ = (trace.get_tracer_provider(), metrics.get_meter_provider(),
                    _logs.get_logger_provider())
        assert all(type(g) in FORWARDING_CLASSES for g in globals_), globals_
        assert h.reused_providers == frozenset()
        watchkit.shutdown()
        h = watchkit.configure(exporter="none")
        assert h.reused_providers == frozenset()  # its own forwarding globals are not adopted
        again = (trace.get_tracer_provider(), metrics.get_meter_provider(),
                 _logs.get_logger_provider())
        assert all(a is b for a, b in zip(globals_, again))
        print("ok")
        """
    )
    assert result.stdout.strip().endswith("ok")


def test_dead_collector_shutdown_and_exit_are_bounded() -> None:
    """With nothing listening, shutdown() and interpreter exit return within their timeout."""
    port = free_port()
    result = run_python(
        f"""
        import time, json
        import watchkit
        from watchkit._internal.state import get_tracer
        watchkit.configure(exporter="otlp", endpoint="http://127.0.0.1:{port}",
                           protocol="grpc", shutdown_timeout=1.5)
        for _ in range(50):
            with get_tracer().start_as_current_span("work"):
                pass
        start = time.monotonic()
        ok = watchkit.shutdown()
        print(json.dumps({{"ok": ok, "took": time.monotonic() - start}}))
        """,
        timeout=30,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["took"] < 2.5, out

    started = run_python(
        f"""
        import time
        import watchkit
        from watchkit._internal.state import get_tracer
        watchkit.configure(exporter="otlp", endpoint="http://127.0.0.1:{port}",
                           shutdown_timeout=1.0)
        with get_tracer().start_as_current_span("work"):
            pass
        print(time.time())
        """,
        timeout=30,
    )
    import time

    exited_after = time.time() - float(started.stdout.strip().splitlines()[-1])
    assert exited_after < 3.0, (exited_after, started.stderr)


def test_refused_collector_costs_few_warnings_and_bounded_memory() -> None:
    """Emitting for a while with nothing listening: no exception, few warnings, flat memory."""
    port = free_port()
    result = run_python(
        f"""
        import json, resource, time, logging
        import watchkit
        from watchkit._internal.state import get_tracer, get_meter, get_logger
        watchkit.configure(exporter="otlp", endpoint="http://127.0.0.1:{port}",
                           metric_export_interval=0.2, timeout=0.5, shutdown_timeout=1.0)
        tracer, meter, otel_log = get_tracer(), get_meter(), get_logger()
        counter = meter.create_counter("orders")

        def emit(n):
            for i in range(n):
                with tracer.start_as_current_span("request", attributes={{"i": i % 10}}):
                    counter.add(1, {{"kind": "x"}})
                    otel_log.emit(body="served")

        def rss_kib():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        return int(line.split()[1])

        emit(20000)
        time.sleep(1.0)
        before = rss_kib()
        start = time.monotonic()
        emit(60000)
        elapsed = time.monotonic() - start
        time.sleep(1.0)
        after = rss_kib()
        stats = watchkit._configure.current().export_stats()
        watchkit.shutdown()
        print(json.dumps({{"before": before, "after": after, "elapsed": elapsed,
                          "dropped": {{k: v.dropped for k, v in stats.items()}}}}))
        """,
        timeout=120,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    # One rate-limited report (plus the shutdown notice), not one per batch or per retry.
    assert len([w for w in warnings if "watchkit" in w or "Failed" in w]) <= 3, result.stderr
    assert "Traceback" not in result.stderr
    assert out["after"] - out["before"] < 20 * 1024, out  # KiB: flat, not growing with 60k spans
    assert out["dropped"].get("spans", 0) > 0, out


def test_force_flush_and_shutdown_without_configure_are_harmless() -> None:
    """Calling the life-cycle functions before configure() does nothing and returns True."""
    assert watchkit.force_flush() is True
    assert watchkit.shutdown() is True


def test_unhashable_foreign_providers_are_reused_without_error() -> None:
    """Another library's unhashable, proxy-named global providers are adopted without error."""
    result = run_python(
        """
        import json
        from dataclasses import dataclass
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider

        @dataclass
        class ProxyMeterProvider(metrics.MeterProvider):  # eq=True: unhashable, like logfire's
            inner: MeterProvider
            def get_meter(self, *args, **kwargs):
                return self.inner.get_meter(*args, **kwargs)

        class ProxyTracerProvider(TracerProvider):  # a vendor class that shares the API's name
            pass

        meter_provider = ProxyMeterProvider(MeterProvider())
        tracer_provider = ProxyTracerProvider()
        metrics.set_meter_provider(meter_provider)
        trace.set_tracer_provider(tracer_provider)

        import watchkit
        handle = watchkit.configure(exporter="none")
        print(json.dumps({
            "reused": sorted(handle.reused_providers),
            "meter": handle.meter_provider is meter_provider,
            "tracer": handle.tracer_provider is tracer_provider,
        }))
        """
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"reused": ["metrics", "traces"], "meter": True, "tracer": True}


def test_shutdown_is_bounded_even_where_no_thread_can_be_started() -> None:
    """Python 3.12 refuses new threads at exit: shutdown then runs inline, still on time."""
    port = free_port()
    result = run_python(
        f"""
        import json, threading, time
        import watchkit
        from watchkit._internal.state import get_logger, get_tracer
        watchkit.configure(exporter="otlp", endpoint="http://127.0.0.1:{port}",
                           protocol="grpc", shutdown_timeout=1.5)
        for _ in range(20):
            with get_tracer().start_as_current_span("work"):
                get_logger().emit(body="x")
        time.sleep(0.3)  # let the export threads start their (failing) retries

        original = threading.Thread.start
        def refuse(self):
            if self.name == "watchkit-flush":
                raise RuntimeError("can't create new thread at interpreter shutdown")
            return original(self)
        threading.Thread.start = refuse
        start = time.monotonic()
        watchkit.shutdown()
        print(json.dumps(time.monotonic() - start))
        """,
        timeout=60,
    )
    took = json.loads(result.stdout.strip().splitlines()[-1])
    assert took < 3.0, (took, result.stderr)


def test_is_configured_and_current_follow_the_life_cycle(clean_env: pytest.MonkeyPatch) -> None:
    """False/None before configure(), the handle while configured, False/None after shutdown()."""
    assert watchkit.is_configured() is False
    assert watchkit.current() is None
    telemetry = watchkit.configure(service_name="checkout", exporter="none")
    assert watchkit.is_configured() is True
    assert watchkit.current() is telemetry
    assert watchkit.shutdown()
    assert watchkit.is_configured() is False
    assert watchkit.current() is None


def test_a_test_capture_is_not_a_configuration() -> None:
    """Inside `watchkit.testing.capture()` nothing is configured; the configured handle stays."""
    from watchkit.testing import capture

    with capture():
        assert watchkit.is_configured() is False
        assert watchkit.current() is None
    telemetry = watchkit.configure(service_name="checkout", exporter="none")
    with capture():
        assert watchkit.is_configured() is True
        assert watchkit.current() is telemetry
