"""The one place that knows which providers watchkit's telemetry goes to.

``configure()`` and the test capture install a :class:`Pipeline`; everything
else asks this module for tracers, meters and loggers. Objects that cache
instruments (flows, counters, middleware) remember the :attr:`State.generation`
they were bound at and rebind when it moves, so a metric defined at import time,
before configure(), or reused across tests, records into the current pipeline.
The hot path pays one integer comparison for this.

Before any pipeline is installed, watchkit uses the OpenTelemetry global
providers (no-op until somebody configures the SDK).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from opentelemetry import _logs as otel_logs
from opentelemetry import metrics, trace

from watchkit._internal import fork
from watchkit._internal.guard import report
from watchkit._internal.semconv import DEFAULT_DURATION_BUCKETS, SCOPE
from watchkit._internal.settings import Settings, resolve_or_defaults
from watchkit._version import __version__

__all__ = [
    "STATE",
    "PerPipeline",
    "Pipeline",
    "State",
    "bound",
    "current_settings",
    "get_logger",
    "get_meter",
    "get_tracer",
]


@dataclass
class Pipeline:
    """Providers in use, what watchkit owns of them, and the settings they were built for.

    A test capture carries real settings too (the configured pipeline's, or the
    environment's), so code reads ``pipeline.settings`` without asking whether
    it runs under a capture.
    """

    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    logger_provider: otel_logs.LoggerProvider
    settings: Settings
    duration_buckets: tuple[float, ...] = DEFAULT_DURATION_BUCKETS
    enabled: bool = True
    """False when switched off (OTEL_SDK_DISABLED): API calls skip their work."""
    owned: frozenset[str] = frozenset()
    """Signals whose providers watchkit created (and so flushes and shuts down)."""
    on_shutdown: list[Callable[[], None]] = field(default_factory=list)
    capture: bool = False
    """A test capture: everything is recorded, whatever the exporter settings say."""


class State:
    """Mutable process-wide state, guarded by :attr:`lock` for writers.

    ``configured`` is what configure() built; ``override`` is a test capture that
    temporarily takes precedence without undoing the configuration.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.configured: Pipeline | None = None
        self.override: Pipeline | None = None
        self.pipeline: Pipeline | None = None
        self.generation = 0
        self._listeners: list[Callable[[], None]] = []

    def _refresh(self) -> None:
        self.pipeline = self.override if self.override is not None else self.configured
        self.generation += 1
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a listener must not break configure() or a capture
                report("pipeline change listener")

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every pipeline change (under :attr:`lock`).

        Used by objects nothing on a hot path touches, such as observable
        instruments, which must register their callbacks with each new pipeline.
        """
        with self.lock:
            self._listeners.append(listener)

    def set_configured(self, pipeline: Pipeline | None) -> Pipeline | None:
        """Install what configure() built; return the pipeline it replaces."""
        with self.lock:
            previous, self.configured = self.configured, pipeline
            self._refresh()
            return previous

    def set_override(self, pipeline: Pipeline | None) -> Pipeline | None:
        """Install (or with None remove) a test capture; return the previous override."""
        with self.lock:
            previous, self.override = self.override, pipeline
            self._refresh()
            return previous

    @property
    def duration_buckets(self) -> tuple[float, ...]:
        """Bucket boundaries (seconds) for every duration histogram watchkit creates."""
        pipeline = self.pipeline
        return DEFAULT_DURATION_BUCKETS if pipeline is None else pipeline.duration_buckets

    @property
    def enabled(self) -> bool:
        """Whether telemetry is on (false only when configured disabled)."""
        pipeline = self.pipeline
        return True if pipeline is None else pipeline.enabled


STATE = State()


def _fresh_lock() -> None:
    # A lock another thread held at fork() (a configure() or capture in
    # progress) stays held for ever in the child: give the child a fresh one.
    STATE.lock = threading.RLock()


fork.at_fork(fork.LOCKS, "state.lock", _fresh_lock)

_T = TypeVar("_T")


class PerPipeline(Generic[_T]):
    """A value derived from the current pipeline, rebuilt after every pipeline change.

    The one way for a module to hold pipeline-dependent state (a tracer, bound
    instruments, a redactor built from the settings): ``factory()`` runs on the
    first :meth:`get` after each configure(), shutdown() or test capture, and
    every other :meth:`get` costs one integer comparison. Rebuilding happens
    under :attr:`State.lock`, the lock pipeline changes take, so a factory sees
    one consistent pipeline and nothing else needs a lock or a fork hook.

    Example:
        >>> tracer = bound(lambda: get_tracer())
        >>> tracer.get() is tracer.get()
        True
    """

    __slots__ = ("_factory", "_generation", "_value")

    def __init__(self, factory: Callable[[], _T]) -> None:
        self._factory = factory
        self._generation = -1
        self._value: _T | None = None

    def get(self) -> _T:
        """The value for the current pipeline."""
        if self._generation == STATE.generation:
            return self._value  # type: ignore[return-value]
        with STATE.lock:
            generation = STATE.generation
            if self._generation != generation:
                # Value before generation: a reader that sees the new
                # generation without the lock also sees the new value.
                self._value = self._factory()
                self._generation = generation
            return self._value  # type: ignore[return-value]

    def peek(self) -> _T | None:
        """The value last built, without rebuilding (None before the first :meth:`get`)."""
        return self._value

    def invalidate(self) -> None:
        """Rebuild on the next :meth:`get`, even if the pipeline has not changed."""
        self._generation = -1


def bound(factory: Callable[[], _T]) -> PerPipeline[_T]:
    """``PerPipeline(factory)``: pipeline-aware state in one line."""
    return PerPipeline(factory)


def current_settings() -> Settings:
    """The current pipeline's settings; before configure(), the environment's (or defaults)."""
    pipeline = STATE.pipeline
    return resolve_or_defaults() if pipeline is None else pipeline.settings


def get_tracer(scope: str = SCOPE) -> trace.Tracer:
    """A tracer of the current pipeline (or of the global provider before configure)."""
    pipeline = STATE.pipeline
    provider = trace.get_tracer_provider() if pipeline is None else pipeline.tracer_provider
    return provider.get_tracer(scope, __version__)


def get_meter(scope: str = SCOPE) -> metrics.Meter:
    """A meter of the current pipeline (or of the global provider before configure)."""
    pipeline = STATE.pipeline
    provider = metrics.get_meter_provider() if pipeline is None else pipeline.meter_provider
    return provider.get_meter(scope, __version__)


def get_logger(scope: str = SCOPE) -> otel_logs.Logger:
    """An OpenTelemetry logger of the current pipeline (or of the global provider)."""
    pipeline = STATE.pipeline
    provider = otel_logs.get_logger_provider() if pipeline is None else pipeline.logger_provider
    return provider.get_logger(scope, __version__)
