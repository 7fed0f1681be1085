"""configure(), shutdown() and force_flush(): the life cycle of watchkit's pipeline."""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import fields

from opentelemetry import _logs as otel_logs
from opentelemetry import metrics, trace

from watchkit._compose import build_pipeline
from watchkit._internal import settings as _settings
from watchkit._internal.diagnostics import ExportStats, export_health
from watchkit._internal.guard import internal_logger
from watchkit._internal.pipeline import flush_pipeline, shutdown_pipeline
from watchkit._internal.state import STATE, Pipeline

__all__ = ["Telemetry", "configure", "current", "force_flush", "is_configured", "shutdown"]

_handle: Telemetry | None = None
_atexit_registered = False
_lock = threading.Lock()


class Telemetry:
    """The handle configure() returns: what is active, and its life cycle.

    Attributes:
        settings: the resolved settings (parameters, environment and defaults).
        tracer_provider: the tracer provider in use (watchkit's or the application's).
        meter_provider: the meter provider in use.
        logger_provider: the OpenTelemetry logger provider in use.
    """

    __module__ = "watchkit"

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._active = True
        self.settings: _settings.Settings = pipeline.settings
        self.tracer_provider: trace.TracerProvider = pipeline.tracer_provider
        self.meter_provider: metrics.MeterProvider = pipeline.meter_provider
        self.logger_provider: otel_logs.LoggerProvider = pipeline.logger_provider

    @property
    def exporter(self) -> str:
        """``"otlp"``, ``"console"`` or ``"none"``."""
        return self.settings.exporter

    @property
    def active(self) -> bool:
        """False once shut down."""
        return self._active

    @property
    def enabled(self) -> bool:
        """False when watchkit is switched off (``OTEL_SDK_DISABLED=true``)."""
        return self._pipeline.enabled

    @property
    def reused_providers(self) -> frozenset[str]:
        """Signals whose providers the application had installed before configure().

        One or more of ``traces``, ``metrics``, ``logs``. watchkit adds nothing to
        those providers; their exporters are the application's.
        """
        if not self._pipeline.enabled:
            return frozenset()
        return frozenset({"traces", "metrics", "logs"}) - self._pipeline.owned

    def export_stats(self) -> dict[str, ExportStats]:
        """Items exported and dropped per kind (``spans``, ``metric points``, ``log records``)."""
        with export_health.lock:
            return {name: ExportStats(**vars(stat)) for name, stat in export_health.stats.items()}

    def force_flush(self, timeout: float | None = None) -> bool:
        """Export what is pending; False if ``timeout`` (default: shutdown_timeout) ran out."""
        limit = self.settings.shutdown_timeout if timeout is None else timeout
        return flush_pipeline(self._pipeline, limit)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop; returns within ``timeout`` seconds (default: shutdown_timeout).

        Returns False if the deadline passed with telemetry still queued (which is
        then dropped). Safe to call more than once.
        """
        global _handle
        with _lock:
            if not self._active:
                return True
            self._active = False
            if _handle is self:
                _handle = None
                if STATE.configured is self._pipeline:
                    STATE.set_configured(None)
        limit = self.settings.shutdown_timeout if timeout is None else timeout
        return shutdown_pipeline(self._pipeline, limit)

    def __repr__(self) -> str:
        state = "active" if self._active else "shut down"
        return f"<watchkit.Telemetry exporter={self.exporter!r} {state}>"


def configure(
    *,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    resource_attributes: Mapping[str, str] | str | None = None,
    exporter: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | str | None = None,
    timeout: float | None = None,
    compression: str | None = None,
    sample_ratio: float | None = None,
    disabled: bool | None = None,
    duration_buckets: Sequence[float] | None = None,
    metric_export_interval: float | None = None,
    shutdown_timeout: float | None = None,
    cardinality_limit: int | None = None,
    log_format: str | None = None,
    log_level: str | None = None,
    redact_keys: Sequence[str] | None = None,
    redact_patterns: Sequence[str] | None = None,
    excluded_urls: Sequence[str] | None = None,
    trusted_proxies: Sequence[str] | int | None = None,
    audit_spool_dir: str | os.PathLike[str] | None = None,
    prometheus_port: int | None = None,
    console_max_series: int | None = None,
) -> Telemetry:
    """Set up traces, metrics and logs for this process; call once at start-up.

    Every parameter overrides its environment variable, which overrides the
    default (see the configuration reference in the docs). With no OTLP
    endpoint configured the output goes to the console, so a first run shows
    telemetry without any backend.

    Calling it again with the same effective settings returns the same handle
    and changes nothing; with different settings it logs a warning naming
    them and still changes nothing (call :func:`shutdown` first to
    reconfigure). If the application already installed OpenTelemetry SDK
    providers, watchkit uses them and adds no exporter of its own.

    Args:
        service_name: ``service.name`` (``OTEL_SERVICE_NAME``).
        service_version: ``service.version``.
        environment: ``deployment.environment.name``, e.g. ``"production"``.
        resource_attributes: extra resource attributes (``OTEL_RESOURCE_ATTRIBUTES``).
        exporter: ``"otlp"``, ``"console"`` or ``"none"`` (``WATCHKIT_EXPORTER``).
        endpoint: OTLP collector URL (``OTEL_EXPORTER_OTLP_ENDPOINT``).
        protocol: ``"grpc"`` or ``"http/protobuf"`` (``OTEL_EXPORTER_OTLP_PROTOCOL``).
        headers: headers sent with each export (``OTEL_EXPORTER_OTLP_HEADERS``).
        timeout: deadline of one export in seconds (``OTEL_EXPORTER_OTLP_TIMEOUT``, ms).
        compression: ``"gzip"`` or ``"none"`` (``OTEL_EXPORTER_OTLP_COMPRESSION``).
        sample_ratio: share of new traces to record, 0 to 1 (``OTEL_TRACES_SAMPLER``).
        disabled: switch everything off (``OTEL_SDK_DISABLED``).
        duration_buckets: histogram boundaries in seconds (``WATCHKIT_DURATION_BUCKETS``).
        metric_export_interval: seconds between metric exports (``OTEL_METRIC_EXPORT_INTERVAL``).
        shutdown_timeout: longest wait at shutdown and exit (``WATCHKIT_SHUTDOWN_TIMEOUT``).
        cardinality_limit: attribute sets kept per instrument (``WATCHKIT_CARDINALITY_LIMIT``).
        log_format: ``"json"``, ``"console"`` or ``"auto"`` (``WATCHKIT_LOG_FORMAT``).
        log_level: lowest level logged, e.g. ``"info"`` (``WATCHKIT_LOG_LEVEL``).
        redact_keys: extra key names to redact (``WATCHKIT_REDACT_KEYS``).
        redact_patterns: extra value regexes to redact (``WATCHKIT_REDACT_PATTERNS``).
        excluded_urls: path regexes that get no span or request metrics
            (``WATCHKIT_EXCLUDED_URLS``; default: the health endpoints).
        trusted_proxies: proxies whose ``X-Forwarded-For``/``Forwarded`` give
            ``client.address``: CIDR networks, or the number of proxy hops
            (``WATCHKIT_TRUSTED_PROXIES``; default: none, the socket peer).
        audit_spool_dir: directory of the durable audit spool
            (``WATCHKIT_AUDIT_SPOOL_DIR``; default: ``~/.local/state/watchkit/audit/<service>``).
        prometheus_port: also serve ``/metrics`` for Prometheus on this loopback port
            (``WATCHKIT_PROMETHEUS_PORT``; 0: mount ``watchkit.prometheus_wsgi_app`` /
            ``prometheus_asgi_app`` instead). One process only: a port another
            process (a sibling pre-fork worker) holds raises ConfigError.
        console_max_series: metric series the console summary prints, the
            application's first (``WATCHKIT_CONSOLE_MAX_SERIES``; default 25).

    Returns:
        The :class:`Telemetry` handle.

    Raises:
        ConfigError: a value is invalid; the message names the parameter or
            variable and the accepted values.

    Example:
        >>> import watchkit
        >>> telemetry = watchkit.configure(service_name="checkout", exporter="none")
        >>> telemetry.exporter
        'none'
        >>> watchkit.shutdown()
        True
    """
    global _handle, _atexit_registered
    resolved = _settings.resolve(
        service_name=service_name,
        service_version=service_version,
        environment=environment,
        resource_attributes=resource_attributes,
        exporter=exporter,
        endpoint=endpoint,
        protocol=protocol,
        headers=headers,
        timeout=timeout,
        compression=compression,
        sample_ratio=sample_ratio,
        disabled=disabled,
        duration_buckets=duration_buckets,
        metric_export_interval=metric_export_interval,
        shutdown_timeout=shutdown_timeout,
        cardinality_limit=cardinality_limit,
        log_format=log_format,
        log_level=log_level,
        redact_keys=redact_keys,
        redact_patterns=redact_patterns,
        excluded_urls=excluded_urls,
        trusted_proxies=trusted_proxies,
        audit_spool_dir=audit_spool_dir,
        prometheus_port=prometheus_port,
        console_max_series=console_max_series,
    )
    with _lock:
        if _handle is not None:
            if _handle.settings != resolved:
                changed = [
                    f.name
                    for f in fields(resolved)
                    if getattr(resolved, f.name) != getattr(_handle.settings, f.name)
                ]
                internal_logger.warning(
                    "watchkit is already configured; the new settings (%s) are ignored. "
                    "Call watchkit.shutdown() first to reconfigure.",
                    ", ".join(changed),
                )
            return _handle
        pull = None
        if resolved.prometheus_port is not None and not resolved.disabled:
            from watchkit._export.prometheus import start

            pull = start(resolved.prometheus_port)
        try:
            pipeline = build_pipeline(resolved, () if pull is None else (pull.reader,))
        except BaseException:
            if pull is not None:
                pull.stop()
            raise
        if pull is not None:
            pipeline.on_shutdown.append(pull.stop)
        if pipeline.enabled:
            # Structured logging and the audit spool (issue 4); undone at shutdown.
            from watchkit._audit.shipper import start_for_pipeline
            from watchkit.logs._setup import install as install_logging

            pipeline.on_shutdown.append(install_logging(resolved))
            pipeline.on_shutdown.append(start_for_pipeline(pipeline))
            # Process and runtime metrics are on by default (WATCHKIT_RUNTIME_METRICS).
            from watchkit._runtime import start_for_pipeline as start_runtime

            pipeline.on_shutdown.append(start_runtime(pipeline))
        STATE.set_configured(pipeline)
        _handle = Telemetry(pipeline)
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True
        return _handle


def current() -> Telemetry | None:
    """The handle of the active configuration, or ``None`` before configure() and after shutdown().

    Libraries and plug-ins use it to find out what the application chose (the
    exporter, the settings) without configuring watchkit themselves.

    Example:
        >>> import watchkit
        >>> watchkit.current() is None
        True
        >>> telemetry = watchkit.configure(service_name="checkout", exporter="none")
        >>> watchkit.current() is telemetry
        True
        >>> watchkit.shutdown()
        True
    """
    return _handle


def is_configured() -> bool:
    """Whether configure() ran and shutdown() has not been called since.

    A library that instruments itself with watchkit can check it and leave
    configuration to the application. A test capture (``watchkit.testing``) does
    not count as configuration.

    Example:
        >>> import watchkit
        >>> watchkit.is_configured()
        False
    """
    return STATE.configured is not None


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop watchkit's pipeline within ``timeout`` seconds (default 5).

    Returns True when everything was exported or nothing was configured, False
    if the deadline passed first. A later :func:`configure` starts afresh.
    """
    handle = _handle
    return True if handle is None else handle.shutdown(timeout)


def force_flush(timeout: float | None = None) -> bool:
    """Export pending telemetry now, waiting at most ``timeout`` seconds (default 5).

    Returns False if the deadline passed first. Note that True means the
    exporters returned, not that the collector accepted everything.
    """
    handle = _handle
    return True if handle is None else handle.force_flush(timeout)


def _at_exit() -> None:
    try:
        shutdown()
    except Exception:  # never turn interpreter exit into a traceback
        internal_logger.debug("watchkit: shutdown at exit failed", exc_info=True)
