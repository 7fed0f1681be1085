"""OTLP exporters for traces, metrics and logs, wrapped to be safe in production.

The wrappers add three things to the SDK's exporters and nothing else:

* **per-process exporters**: an exporter created before ``fork()`` (gunicorn
  ``--preload``) holds a gRPC channel or HTTP connection pool that must not be
  used by the child; the first export in a new process builds a fresh one.
* **accounting and one warning**: failed exports are counted per signal and
  reported by :mod:`watchkit._internal.diagnostics` at most once a minute.
* **no exceptions escape** into the SDK's export threads.

gRPC and the HTTP client are imported only when an OTLP exporter of that
protocol is built, so ``import watchkit`` stays light.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from watchkit._internal.diagnostics import export_health, exporting
from watchkit._internal.settings import OtlpSettings

__all__ = ["build_log_exporter", "build_metric_exporter", "build_span_exporter"]

_E = TypeVar("_E")


class _PerProcess(Generic[_E]):
    """Holds an exporter built by ``factory``, rebuilt after a fork."""

    def __init__(self, factory: Callable[[], _E]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._exporter = factory()

    def get(self) -> _E:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    # Deliberately not closing the inherited exporter: its channel
                    # belongs to the parent and closing it here can hang.
                    self._exporter = self._factory()
                    self._pid = os.getpid()
        return self._exporter

    def current(self) -> _E:
        return self._exporter


def _metric_points(data: MetricsData) -> int:
    return sum(
        len(metric.data.data_points)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    )


class _SpanExporter(SpanExporter):
    def __init__(self, factory: Callable[[], SpanExporter], endpoint: str) -> None:
        self._inner = _PerProcess(factory)
        self._endpoint = endpoint

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            with exporting:
                result = self._inner.get().export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            export_health.succeeded("spans", self._endpoint, len(spans))
        else:
            export_health.failed("spans", self._endpoint, len(spans))
        return result

    def shutdown(self) -> None:
        try:
            with exporting:
                self._inner.current().shutdown()
        except Exception:
            export_health.last_detail = "span exporter shutdown failed"

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _LogExporter(LogRecordExporter):
    def __init__(self, factory: Callable[[], LogRecordExporter], endpoint: str) -> None:
        self._inner = _PerProcess(factory)
        self._endpoint = endpoint

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        try:
            with exporting:
                result = self._inner.get().export(batch)
        except Exception:
            result = LogRecordExportResult.FAILURE
        if result is LogRecordExportResult.SUCCESS:
            export_health.succeeded("log records", self._endpoint, len(batch))
        else:
            export_health.failed("log records", self._endpoint, len(batch))
        return result

    def shutdown(self) -> None:
        try:
            with exporting:
                self._inner.current().shutdown()  # type: ignore[no-untyped-call]
        except Exception:
            export_health.last_detail = "log exporter shutdown failed"

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _MetricExporter(MetricExporter):
    def __init__(self, factory: Callable[[], MetricExporter], endpoint: str) -> None:
        self._inner = _PerProcess(factory)
        self._endpoint = endpoint
        first = self._inner.current()
        # The periodic reader reads these once, at construction.
        super().__init__(
            preferred_temporality=first._preferred_temporality,
            preferred_aggregation=first._preferred_aggregation,
        )

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        points = _metric_points(metrics_data)
        try:
            with exporting:
                result = self._inner.get().export(metrics_data, timeout_millis=timeout_millis)
        except Exception:
            result = MetricExportResult.FAILURE
        if result is MetricExportResult.SUCCESS:
            export_health.succeeded("metric points", self._endpoint, points)
        else:
            export_health.failed("metric points", self._endpoint, points)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        try:
            with exporting:
                self._inner.current().shutdown(timeout_millis=timeout_millis)
        except Exception:
            export_health.last_detail = "metric exporter shutdown failed"


def _common_kwargs(settings: OtlpSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "endpoint": settings.endpoint,
        "headers": dict(settings.headers),
        "timeout": settings.timeout,
    }
    if settings.protocol == "grpc":
        from grpc import Compression

        kwargs["compression"] = (
            Compression.Gzip if settings.compression == "gzip" else Compression.NoCompression
        )
        # Plain-text http:// endpoints need an insecure channel; https:// uses TLS.
        kwargs["insecure"] = urlsplit(settings.endpoint).scheme == "http"  # scheme: lower case
    else:
        from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression

        kwargs["compression"] = (
            HttpCompression.Gzip
            if settings.compression == "gzip"
            else HttpCompression.NoCompression
        )
    return kwargs


def build_span_exporter(settings: OtlpSettings) -> SpanExporter:
    """An OTLP span exporter for ``settings`` with watchkit's safety wrapper."""

    def factory() -> SpanExporter:
        if settings.protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter(**_common_kwargs(settings))
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpSpanExporter,
        )

        return HttpSpanExporter(**_common_kwargs(settings))

    return _SpanExporter(factory, settings.endpoint)


def build_metric_exporter(settings: OtlpSettings) -> MetricExporter:
    """An OTLP metric exporter for ``settings`` with watchkit's safety wrapper."""

    def factory() -> MetricExporter:
        if settings.protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            return OTLPMetricExporter(**_common_kwargs(settings))
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpMetricExporter,
        )

        return HttpMetricExporter(**_common_kwargs(settings))

    return _MetricExporter(factory, settings.endpoint)


def build_log_exporter(
    settings: OtlpSettings,
    adapt: Callable[[LogRecordExporter], LogRecordExporter] | None = None,
) -> LogRecordExporter:
    """An OTLP log-record exporter for ``settings`` with watchkit's safety wrapper.

    ``adapt`` is applied to every SDK exporter built (again after a fork); the
    audit shipper uses it to learn why an export failed.
    """

    def sdk_exporter() -> LogRecordExporter:
        if settings.protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

            return OTLPLogExporter(**_common_kwargs(settings))
        from opentelemetry.exporter.otlp.proto.http._log_exporter import (
            OTLPLogExporter as HttpLogExporter,
        )

        return HttpLogExporter(**_common_kwargs(settings))

    def factory() -> LogRecordExporter:
        return sdk_exporter() if adapt is None else adapt(sdk_exporter())

    return _LogExporter(factory, settings.endpoint)
