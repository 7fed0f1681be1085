"""Hardening of the core: secrets in errors, header rules, fork safety, scoped SDK log filter."""

from __future__ import annotations

import logging

import pytest

import watchkit
from tests.helpers import free_port, run_python
from watchkit._internal.diagnostics import export_health, install_sdk_log_filter
from watchkit._internal.settings import resolve


@pytest.mark.parametrize(
    ("kwargs", "env", "names"),
    [
        ({"headers": "api-key=SEKRIT-123,broken"}, {}, "parameter headers"),
        ({"headers": {"authorization": "SEKRIT-123", "k": 1}}, {}, "parameter headers"),
        (
            {},
            {"OTEL_EXPORTER_OTLP_HEADERS": "api-key=SEKRIT-123,=x"},
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
        (
            {},
            {"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-api-key=SEKRIT-123,bad key=v"},
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ),
    ],
)
def test_header_errors_never_show_header_values(
    kwargs: dict[str, object], env: dict[str, str], names: str
) -> None:
    """A malformed headers value is reported by its keys; the values (API keys) are hidden."""
    with pytest.raises(watchkit.ConfigError) as caught:
        resolve(**kwargs, environ=env)  # type: ignore[arg-type]
    message = str(caught.value)
    assert names in message and "key=value" in message
    assert "SEKRIT" not in message, message


def test_header_names_are_lower_cased_as_grpc_requires() -> None:
    """Header names are case-insensitive in HTTP and must be lower case in gRPC metadata."""
    s = resolve(headers={"Authorization": "Bearer x"}, environ={})
    assert s.otlp_for("traces").headers == (("authorization", "Bearer x"),)
    s = resolve(environ={"OTEL_EXPORTER_OTLP_HEADERS": " X-Api-Key = a%20b=c , Other=1"})
    assert s.otlp_for("logs").headers == (("x-api-key", "a b=c"), ("other", "1"))


@pytest.mark.parametrize(
    "headers",
    ["api key=x", "x-key=line%0Abreak", {"x-key": "a\r\nInjected: 1"}, {"bad(name)": "v"}],
)
def test_headers_that_no_transport_accepts_are_config_errors(headers: object) -> None:
    """Invalid header names or control characters fail at configure(), not at every export."""
    with pytest.raises(watchkit.ConfigError, match="parameter headers"):
        resolve(headers=headers, environ={})  # type: ignore[arg-type]


def test_grpc_plaintext_detection_ignores_scheme_case() -> None:
    """`HTTP://host:4317` is plain text: the gRPC channel must be insecure, not TLS."""
    from watchkit._export.otlp import _common_kwargs

    s = resolve(endpoint="HTTP://[::1]:4317", protocol="grpc", environ={})
    assert _common_kwargs(s.otlp_for("traces"))["insecure"] is True
    s = resolve(endpoint="https://collector:4317", protocol="grpc", environ={})
    assert _common_kwargs(s.otlp_for("traces"))["insecure"] is False


@pytest.mark.collector
def test_mixed_case_headers_reach_a_real_grpc_collector(
    rotel_collector: object, otlp_receiver: object, clean_env: object
) -> None:
    """OTEL_EXPORTER_OTLP_HEADERS=Authorization=... works over gRPC as it does with the SDK."""
    from tests.support.receiver import OtlpReceiver
    from tests.support.rotel import RotelCollector
    from watchkit._internal.state import get_tracer

    assert isinstance(rotel_collector, RotelCollector)
    assert isinstance(otlp_receiver, OtlpReceiver)
    clean_env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20abc")  # type: ignore[attr-defined]
    watchkit.configure(
        exporter="otlp", endpoint=rotel_collector.grpc_endpoint, protocol="grpc", timeout=2
    )
    with get_tracer().start_as_current_span("with-headers"):
        pass
    watchkit.force_flush(timeout=5)
    otlp_receiver.wait_for(lambda r: [s for s in r.spans() if s.name == "with-headers"])


def test_fork_while_another_thread_holds_the_stats_lock_does_not_hang_the_child() -> None:
    """The at-fork hook must not acquire a lock another thread may have held at fork time."""
    result = run_python(
        """
        import os, threading, time
        import watchkit
        from watchkit._internal.diagnostics import export_health
        watchkit.configure(exporter="none")
        held = threading.Event()
        def hold():
            with export_health.lock:
                held.set()
                time.sleep(5)
        threading.Thread(target=hold, daemon=True).start()
        held.wait()
        pid = os.fork()
        if pid == 0:
            export_health.failed("spans", "http://x", 1)  # the child's lock works
            os._exit(0 if watchkit.shutdown(timeout=1) else 3)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                print("exit", os.waitstatus_to_exitcode(status))
                break
            time.sleep(0.02)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            print("hung")
        """,
        timeout=30,
    )
    assert result.stdout.strip().splitlines()[-1] == "exit 0", result.stdout + result.stderr


def test_sdk_log_filter_leaves_the_applications_own_exporters_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only complaints raised inside watchkit's exporters are folded into its report."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from watchkit._export.otlp import _SpanExporter

    name = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
    sdk_logger = logging.getLogger(name)

    class Failing(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            sdk_logger.error("Failed to export span batch code: 401, reason: inside watchkit")
            return SpanExportResult.FAILURE

        def shutdown(self) -> None:
            return None

    install_sdk_log_filter()
    export_health.interval = 3600.0
    try:
        with caplog.at_level(logging.WARNING):
            # The application's own exporter (not wrapped by watchkit) logs: must be visible.
            sdk_logger.error("Failed to export span batch code: 503, reason: application's own")
            _SpanExporter(Failing, "http://collector:4318/v1/traces").export([])
    finally:
        export_health.interval = 60.0
    texts = [r.getMessage() for r in caplog.records]
    assert any("application's own" in t for t in texts), texts
    assert not any(r.name == name and "inside watchkit" in r.getMessage() for r in caplog.records)
    report = [t for t in texts if t.startswith("watchkit: cannot export")]
    assert len(report) == 1 and "inside watchkit" in report[0], texts


def test_reused_providers_keep_their_own_export_errors_visible() -> None:
    """With the application's own SDK pipeline, its failed exports are still logged."""
    port = free_port()
    result = run_python(
        f"""
        import logging, time
        logging.basicConfig(level=logging.WARNING, format="APPLOG %(name)s %(message)s")
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        provider = TracerProvider(shutdown_on_exit=False)
        exporter = OTLPSpanExporter(endpoint="http://127.0.0.1:{port}/v1/traces", timeout=1)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
        trace.set_tracer_provider(provider)
        import watchkit
        watchkit.configure(exporter="otlp", endpoint="http://127.0.0.1:{port}",
                           log_format="json", shutdown_timeout=1)
        with trace.get_tracer("app").start_as_current_span("app-span"):
            pass
        provider.force_flush()
        watchkit.shutdown()
        provider.shutdown()
        """,
        timeout=60,
    )
    assert "APPLOG opentelemetry.exporter.otlp" in result.stderr, result.stderr


def test_export_warnings_hide_credentials_in_the_endpoint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """User info and query strings of the endpoint URL never appear in a warning."""
    endpoint = "https://user:pa55word@collector.example:4318/v1/traces?api_key=tok3n"
    with caplog.at_level(logging.WARNING, logger="watchkit"):
        export_health.failed("spans", endpoint, 3)
        export_health.succeeded("spans", endpoint, 1)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "collector.example:4318/v1/traces" in text
    assert "works again" in text
    assert "pa55word" not in text and "tok3n" not in text and "user:" not in text, text


def test_spans_dropped_from_a_full_queue_are_counted_not_logged_per_span(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A full export queue (collector down or slow) is counted in export_stats, quietly."""
    clean_env.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "10")
    clean_env.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10")
    clean_env.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    from watchkit._internal.state import get_tracer

    handle = watchkit.configure(
        exporter="otlp", endpoint=f"http://127.0.0.1:{free_port()}", timeout=3, shutdown_timeout=1
    )
    with caplog.at_level(logging.INFO):
        for _ in range(60):
            with get_tracer().start_as_current_span("burst"):
                pass
    dropped = handle.export_stats()["spans"].dropped
    assert 30 <= dropped <= 50, dropped
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]
    reports = [r for r in caplog.records if r.name == "watchkit" and r.levelno >= logging.WARNING]
    assert len(reports) <= 1, [r.getMessage() for r in reports]


def test_child_forked_while_state_and_guard_locks_are_held_does_not_hang() -> None:
    """STATE.lock and the guard's lock, held by another thread at fork(), are fresh in the child."""
    from tests.helpers import run_python

    result = run_python(
        """
        import os, signal, threading, time
        from watchkit._internal import guard
        from watchkit._internal.state import STATE
        import watchkit

        held = threading.Event()
        release = threading.Event()

        def holder():
            with STATE.lock, guard._lock:
                held.set()
                release.wait(5)

        threading.Thread(target=holder, daemon=True).start()
        held.wait(5)
        pid = os.fork()
        if pid == 0:
            signal.alarm(5)
            handle = watchkit.configure(exporter="none")   # takes STATE.lock
            with guard._lock:
                pass
            handle.shutdown(timeout=1)
            os._exit(0)
        release.set()
        _, status = os.waitpid(pid, 0)
        print(status)
        """,
        timeout=30,
    )
    assert result.stdout.strip().splitlines()[-1] == "0", result.stderr
