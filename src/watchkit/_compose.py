"""The composition root: settings in, a running pipeline out.

Chooses the exporters, builds the SDK providers around one Resource (with the
batch processors of ``watchkit._export.batch``), and installs the OpenTelemetry
globals. Only ``configure()`` calls it; the pipeline's life cycle after that
(flush, shutdown, fork) is plumbing, in ``watchkit._internal.pipeline``.

Coexistence: if the application (or ``opentelemetry-instrument``) already set
global SDK providers, watchkit uses them as they are — it adds no processor,
reader or exporter to them, so nothing is exported twice — and says so once.

Reconfiguration: the OpenTelemetry API lets each global be set once, and other
libraries keep what they got from it. So the globals watchkit installs are
forwarding providers (``watchkit._internal.forwarding``), set once per process:
contrib instrumentations and FastAPI's own telemetry follow every later
``shutdown()`` and ``configure()``, as watchkit's own telemetry does.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import _logs as otel_logs
from opentelemetry import metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import SpanExporter

from watchkit._export.batch import LogBatchProcessor, SpanBatchProcessor
from watchkit._internal.diagnostics import install_sdk_log_filter
from watchkit._internal.forwarding import (
    FORWARDING_CLASSES,
    ForwardingLoggerProvider,
    ForwardingMeterProvider,
    ForwardingTracerProvider,
)
from watchkit._internal.guard import internal_logger
from watchkit._internal.resource import build_resource
from watchkit._internal.settings import Settings, Signal
from watchkit._internal.state import Pipeline

__all__ = ["build_pipeline"]

# Console output should appear promptly for a developer; OTLP keeps the SDK's
# defaults (OTEL_BSP_SCHEDULE_DELAY etc., read by the SDK itself).
_CONSOLE_DELAY_MS = 200


def _api_proxy_classes() -> tuple[type, ...]:
    # The API installs these until somebody sets a real provider. Matched by
    # identity: vendors ship classes with the same names (logfire does).
    from opentelemetry._logs._internal import ProxyLoggerProvider
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    return (trace.ProxyTracerProvider, _ProxyMeterProvider, ProxyLoggerProvider)


_PROXY_CLASSES = _api_proxy_classes()


def _is_unset(provider: object) -> bool:
    return type(provider) in _PROXY_CLASSES


def _foreign(provider: object) -> bool:
    """An SDK (or vendor) provider the application installed itself."""
    return not _is_unset(provider) and type(provider) not in FORWARDING_CLASSES


def _sampler(settings: Settings) -> sampling.Sampler:
    name, ratio = settings.sampler, settings.sampler_ratio
    root: sampling.Sampler
    if name.endswith("always_off"):
        root = sampling.ALWAYS_OFF
    elif name.endswith("traceidratio"):
        root = sampling.TraceIdRatioBased(ratio)
    else:
        root = sampling.ALWAYS_ON
    return sampling.ParentBased(root) if name.startswith("parentbased") else root


def _exporters(
    settings: Settings,
) -> tuple[SpanExporter | None, MetricExporter | None, LogRecordExporter | None]:
    if settings.exporter == "console":
        from watchkit._export.console import (
            ConsoleLogExporter,
            ConsoleMetricExporter,
            ConsoleSpanExporter,
        )

        return (
            ConsoleSpanExporter(),
            ConsoleMetricExporter(max_series=settings.console_max_series),
            ConsoleLogExporter(),
        )
    if settings.exporter == "otlp":
        from watchkit._export.otlp import (
            build_log_exporter,
            build_metric_exporter,
            build_span_exporter,
        )

        install_sdk_log_filter()
        return (
            build_span_exporter(settings.otlp_for("traces")),
            build_metric_exporter(settings.otlp_for("metrics")),
            build_log_exporter(settings.otlp_for("logs")),
        )
    return None, None, None


def _where(settings: Settings, signal: Signal) -> str:
    if settings.exporter == "otlp":
        return settings.otlp_for(signal).endpoint
    return settings.exporter


def build_pipeline(settings: Settings, extra_readers: Sequence[MetricReader] = ()) -> Pipeline:
    """Create (or adopt) the providers for ``settings``; install the forwarding globals.

    ``extra_readers`` (a pull endpoint's) join the meter provider watchkit creates.
    """
    if settings.disabled:
        return Pipeline(
            trace.NoOpTracerProvider(),
            metrics.NoOpMeterProvider(),
            otel_logs.NoOpLoggerProvider(),
            settings,
            settings.duration_buckets,
            enabled=False,
        )
    resource = build_resource(settings)
    span_exporter, metric_exporter, log_exporter = _exporters(settings)
    delay = _CONSOLE_DELAY_MS if settings.exporter == "console" else None
    owned: set[str] = set()
    reused: list[str] = []

    tracer_provider: trace.TracerProvider = trace.get_tracer_provider()
    if _foreign(tracer_provider):
        reused.append("traces")
    else:
        sdk_tracer_provider = TracerProvider(
            resource=resource, sampler=_sampler(settings), shutdown_on_exit=False
        )
        if span_exporter is not None:
            sdk_tracer_provider.add_span_processor(
                SpanBatchProcessor(span_exporter, _where(settings, "traces"), delay)
            )
        tracer_provider = sdk_tracer_provider
        owned.add("traces")

    meter_provider: metrics.MeterProvider = metrics.get_meter_provider()
    if _foreign(meter_provider):
        reused.append("metrics")
    else:
        readers: list[MetricReader] = []
        if metric_exporter is not None:
            readers.append(
                PeriodicExportingMetricReader(
                    metric_exporter,
                    export_interval_millis=settings.metric_export_interval * 1000,
                    export_timeout_millis=settings.otlp_for("metrics").timeout * 1000,
                )
            )
        readers.extend(extra_readers)
        meter_provider = MeterProvider(
            resource=resource, metric_readers=readers, shutdown_on_exit=False
        )
        owned.add("metrics")

    logger_provider: otel_logs.LoggerProvider = otel_logs.get_logger_provider()
    if _foreign(logger_provider):
        reused.append("logs")
    else:
        sdk_logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        if log_exporter is not None:
            sdk_logger_provider.add_log_record_processor(
                LogBatchProcessor(log_exporter, _where(settings, "logs"), delay)
            )
        logger_provider = sdk_logger_provider
        owned.add("logs")

    _install_forwarding_globals(owned)
    if reused:
        internal_logger.info(
            "watchkit: using the %s provider(s) the application already installed; "
            "their processors and exporters are left as they are",
            ", ".join(reused),
        )
    return Pipeline(
        tracer_provider,
        meter_provider,
        logger_provider,
        settings,
        settings.duration_buckets,
        owned=frozenset(owned),
    )


def _install_forwarding_globals(owned: set[str]) -> None:
    # Only globals nobody set: once set (by watchkit's first configure() or by
    # the application), the API refuses to replace them.
    if "traces" in owned and _is_unset(trace.get_tracer_provider()):
        trace.set_tracer_provider(ForwardingTracerProvider())
    if "metrics" in owned and _is_unset(metrics.get_meter_provider()):
        metrics.set_meter_provider(ForwardingMeterProvider())
    if "logs" in owned and _is_unset(otel_logs.get_logger_provider()):
        otel_logs.set_logger_provider(ForwardingLoggerProvider())
