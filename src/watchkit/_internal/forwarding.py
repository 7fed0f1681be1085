"""Global OpenTelemetry providers that forward to the current pipeline.

The OpenTelemetry API lets a process set each global provider once, and other
libraries (contrib instrumentations, FastAPI's own telemetry) fetch a tracer or
create instruments from it once, at instrumentation time. If the globals were
the first pipeline's SDK providers, those libraries would keep writing into a
shut-down pipeline after ``shutdown()`` and a new ``configure()``. So watchkit
sets these forwarding providers as the globals, once: every tracer, meter,
instrument and logger they hand out delegates to the current pipeline's
providers (the configured one, or a test capture), rebinding after each
pipeline change through :func:`~watchkit._internal.state.bound`. With no
pipeline they do nothing.

A call through them costs one generation check and one extra Python call.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import _logs as otel_logs
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackT
from opentelemetry.util.types import Attributes

from watchkit._internal.guard import report
from watchkit._internal.state import STATE, PerPipeline, bound

__all__ = [
    "FORWARDING_CLASSES",
    "ForwardingLoggerProvider",
    "ForwardingMeterProvider",
    "ForwardingTracerProvider",
]

_NOOP_TRACER_PROVIDER = trace.NoOpTracerProvider()
_NOOP_METER_PROVIDER = metrics.NoOpMeterProvider()
_NOOP_LOGGER_PROVIDER = otel_logs.NoOpLoggerProvider()


def _tracer_provider() -> trace.TracerProvider:
    pipeline = STATE.pipeline
    return _NOOP_TRACER_PROVIDER if pipeline is None else pipeline.tracer_provider


def _meter_provider() -> metrics.MeterProvider:
    pipeline = STATE.pipeline
    return _NOOP_METER_PROVIDER if pipeline is None else pipeline.meter_provider


def _logger_provider() -> otel_logs.LoggerProvider:
    pipeline = STATE.pipeline
    return _NOOP_LOGGER_PROVIDER if pipeline is None else pipeline.logger_provider


# Traces ---------------------------------------------------------------------------------
class _ForwardingTracer(trace.Tracer):
    def __init__(self, args: tuple[Any, ...]) -> None:
        self._tracer: PerPipeline[trace.Tracer] = bound(
            lambda: _tracer_provider().get_tracer(*args)
        )

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._tracer.get().start_span(*args, **kwargs)

    def start_as_current_span(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> AbstractContextManager[trace.Span]:
        return self._tracer.get().start_as_current_span(*args, **kwargs)


class ForwardingTracerProvider(trace.TracerProvider):
    """The global tracer provider: tracers that follow the current pipeline."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        args = (instrumenting_module_name, instrumenting_library_version, schema_url, attributes)
        return _ForwardingTracer(args)


# Metrics --------------------------------------------------------------------------------
class _Forwarded:
    """A synchronous instrument of the current pipeline, rebuilt after each pipeline change."""

    def __init__(self, real: PerPipeline[Any]) -> None:
        self._real = real


class _ForwardingCounter(_Forwarded, metrics.Counter):
    def add(self, amount: float, attributes: Attributes = None, context: Any = None) -> None:
        self._real.get().add(amount, attributes, context)


class _ForwardingUpDownCounter(_Forwarded, metrics.UpDownCounter):
    def add(self, amount: float, attributes: Attributes = None, context: Any = None) -> None:
        self._real.get().add(amount, attributes, context)


class _ForwardingHistogram(_Forwarded, metrics.Histogram):
    def record(self, amount: float, attributes: Attributes = None, context: Any = None) -> None:
        self._real.get().record(amount, attributes, context)


class _ForwardingGauge(_Forwarded, metrics._Gauge):
    def set(self, amount: float, attributes: Attributes = None, context: Any = None) -> None:
        self._real.get().set(amount, attributes, context)


class _ForwardingObservable:
    """An observable instrument registered with every pipeline that becomes current.

    Nothing on a hot path touches an observable, so it follows pipeline changes
    through a :meth:`State.add_listener` callback instead of :func:`bound`. Each
    meter provider gets the instrument once (a capture that comes and goes
    returns to a provider that already has it).
    """

    def __init__(self, register: Callable[[metrics.Meter], object], meter: _MeterSource) -> None:
        self._register = register
        self._meter = meter
        self._seen: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        with STATE.lock:
            self._follow()
            STATE.add_listener(self._follow)

    def _follow(self) -> None:
        provider = _meter_provider()
        if provider is _NOOP_METER_PROVIDER or self._seen.get(id(provider)) is provider:
            return
        try:
            self._register(self._meter.get())
            self._seen[id(provider)] = provider
        except Exception:
            report("forwarding observable instrument")


class _ForwardingObservableCounter(_ForwardingObservable, metrics.ObservableCounter):
    pass


class _ForwardingObservableUpDownCounter(_ForwardingObservable, metrics.ObservableUpDownCounter):
    pass


class _ForwardingObservableGauge(_ForwardingObservable, metrics.ObservableGauge):
    pass


_MeterSource = PerPipeline[metrics.Meter]


class _ForwardingMeter(metrics.Meter):
    def __init__(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> None:
        super().__init__(name, version=version, schema_url=schema_url)
        self._real: _MeterSource = bound(
            lambda: _meter_provider().get_meter(name, version, schema_url, attributes)
        )

    def _sync(self, create: Callable[[metrics.Meter], Any]) -> PerPipeline[Any]:
        real = self._real
        return bound(lambda: create(real.get()))

    def create_counter(self, name: str, unit: str = "", description: str = "") -> metrics.Counter:
        return _ForwardingCounter(self._sync(lambda m: m.create_counter(name, unit, description)))

    def create_up_down_counter(
        self, name: str, unit: str = "", description: str = ""
    ) -> metrics.UpDownCounter:
        return _ForwardingUpDownCounter(
            self._sync(lambda m: m.create_up_down_counter(name, unit, description))
        )

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> metrics.Histogram:
        return _ForwardingHistogram(
            self._sync(
                lambda m: m.create_histogram(
                    name,
                    unit,
                    description,
                    explicit_bucket_boundaries_advisory=explicit_bucket_boundaries_advisory,
                )
            )
        )

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> metrics._Gauge:
        return _ForwardingGauge(self._sync(lambda m: m.create_gauge(name, unit, description)))

    def create_observable_counter(
        self,
        name: str,
        callbacks: Sequence[CallbackT] | None = None,
        unit: str = "",
        description: str = "",
    ) -> metrics.ObservableCounter:
        return _ForwardingObservableCounter(
            lambda m: m.create_observable_counter(name, callbacks, unit, description), self._real
        )

    def create_observable_up_down_counter(
        self,
        name: str,
        callbacks: Sequence[CallbackT] | None = None,
        unit: str = "",
        description: str = "",
    ) -> metrics.ObservableUpDownCounter:
        return _ForwardingObservableUpDownCounter(
            lambda m: m.create_observable_up_down_counter(name, callbacks, unit, description),
            self._real,
        )

    def create_observable_gauge(
        self,
        name: str,
        callbacks: Sequence[CallbackT] | None = None,
        unit: str = "",
        description: str = "",
    ) -> metrics.ObservableGauge:
        return _ForwardingObservableGauge(
            lambda m: m.create_observable_gauge(name, callbacks, unit, description), self._real
        )


class ForwardingMeterProvider(metrics.MeterProvider):
    """The global meter provider: meters and instruments that follow the current pipeline."""

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> metrics.Meter:
        return _ForwardingMeter(name, version, schema_url, attributes)


# Logs -----------------------------------------------------------------------------------
class _ForwardingLogger(otel_logs.Logger):
    def __init__(self, args: tuple[Any, ...]) -> None:
        super().__init__(*args)
        self._logger: PerPipeline[otel_logs.Logger] = bound(
            lambda: _logger_provider().get_logger(*args)
        )

    def emit(self, *args: Any, **kwargs: Any) -> None:
        self._logger.get().emit(*args, **kwargs)

    def enabled(self, **kwargs: Any) -> bool:
        return self._logger.get().enabled(**kwargs)


class ForwardingLoggerProvider(otel_logs.LoggerProvider):
    """The global logger provider: loggers that follow the current pipeline."""

    def get_logger(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> otel_logs.Logger:
        return _ForwardingLogger((name, version, schema_url, attributes))


FORWARDING_CLASSES: tuple[type, ...] = (
    ForwardingTracerProvider,
    ForwardingMeterProvider,
    ForwardingLoggerProvider,
)
"""The forwarding providers' classes: a global of one of these is watchkit's, not the app's."""
