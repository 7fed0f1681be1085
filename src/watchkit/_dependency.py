"""``watchkit.dependency("payments")``: a call to an external service through any SDK.

One object is both a decorator (sync, ``async def``, generators, through the
shared wrapper factory) and a context manager (``with`` / ``async with``). Each
call is a CLIENT span named after the dependency, current while the call runs
(so an instrumented HTTP request inside it is its child), and one point of
``watchkit.dependency.duration`` (s) with ``service.peer.name`` and
``watchkit.dependency.outcome`` = success|error (and ``error.type``), so the
failure rate of one dependency is one query away.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from watchkit._internal.guard import report
from watchkit._internal.scopes import SyncScope
from watchkit._internal.semconv import (
    ERROR_TYPE,
    SERVICE_PEER_NAME,
    UNIT_SECONDS,
    WATCHKIT_DEPENDENCY_DURATION,
    WATCHKIT_DEPENDENCY_OUTCOME,
)
from watchkit._internal.wrapping import instrument
from watchkit._metrics import Histogram, attributes_key, record
from watchkit._tracing import TRACER, error_type, record_error

__all__ = ["Dependency", "dependency"]

F = TypeVar("F", bound=Callable[..., Any])

_DURATION = Histogram(
    WATCHKIT_DEPENDENCY_DURATION, UNIT_SECONDS,
    "Duration of calls to external dependencies, by dependency and outcome.", None,
)  # fmt: skip


class _Run:
    __slots__ = ("span", "start", "token")

    def __init__(self, span: trace.Span | None, token: object, start: float) -> None:
        self.span = span
        self.token = token
        self.start = start


class _Hooks:
    """What the shared wrapper factory calls around each call of one dependency."""

    __slots__ = ("name", "success", "success_key")

    def __init__(self, name: str) -> None:
        self.name = name
        self.success = {SERVICE_PEER_NAME: name, WATCHKIT_DEPENDENCY_OUTCOME: "success"}
        self.success_key = attributes_key(self.success)

    def begin(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Run | None:
        try:
            tracer = TRACER.get()
            span = None
            token = None
            if tracer is not None:
                span = tracer.start_span(
                    self.name, kind=SpanKind.CLIENT, attributes={SERVICE_PEER_NAME: self.name}
                )
                token = otel_context.attach(trace.set_span_in_context(span))
            return _Run(span, token, time.perf_counter())
        except Exception:
            report("dependency begin")
            return None

    def end(self, run: _Run | None, error: BaseException | None) -> None:
        if run is None:
            return
        try:
            duration = time.perf_counter() - run.start
            if run.token is not None:
                otel_context.detach(run.token)  # type: ignore[arg-type]
            if error is None:
                record(_DURATION, duration, self.success, self.success_key)
            else:
                kind = error_type(error)
                attributes = {
                    SERVICE_PEER_NAME: self.name,
                    WATCHKIT_DEPENDENCY_OUTCOME: "error",
                    ERROR_TYPE: kind,
                }
                record(_DURATION, duration, attributes)
            if run.span is not None:
                if error is not None:
                    record_error(run.span, error, error_type(error))
                run.span.end()
        except Exception:
            report("dependency end")

    def pause(self, run: _Run | None) -> None:
        if run is not None and run.token is not None:
            otel_context.detach(run.token)  # type: ignore[arg-type]

    def resume(self, run: _Run | None) -> None:
        if run is not None and run.span is not None:
            run.token = otel_context.attach(trace.set_span_in_context(run.span))


class Dependency(SyncScope["Dependency"]):
    """Calls to one external dependency; create with :func:`dependency`."""

    __module__ = "watchkit"

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"dependency name must be a non-empty string, got {name!r}")
        self.name = name
        self._hooks = _Hooks(name)
        self._runs: contextvars.ContextVar[list[_Run]] = contextvars.ContextVar(
            f"watchkit.dependency.{name}"
        )

    # Decorator ------------------------------------------------------------------
    def __call__(self, fn: F) -> F:
        """Record every call of ``fn`` (sync, async, generator) as a call to this dependency."""
        return instrument(fn, self._hooks)

    # Context manager ------------------------------------------------------------
    def _enter(self) -> Dependency:
        run = self._hooks.begin(None, (), {})
        if run is not None:
            stack = self._runs.get(None)
            if stack is None:
                stack = []
                self._runs.set(stack)
            stack.append(run)
        return self

    def _exit(self, error: BaseException | None) -> None:
        stack = self._runs.get(None)
        if stack:
            self._hooks.end(stack.pop(), error)

    def __enter__(self) -> Dependency:
        return self._enter()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(error)

    def __repr__(self) -> str:
        return f"<watchkit dependency {self.name!r}>"


def dependency(name: str) -> Dependency:
    """A call to the external dependency ``name``: decorator or context manager.

    Example:
        >>> import watchkit
        >>> with watchkit.dependency("payments"):
        ...     pass
        >>> @watchkit.dependency("sms")
        ... async def send_sms(number: str, text: str) -> None: ...
    """
    return Dependency(name)
