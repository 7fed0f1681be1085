"""``watchkit.flow``: time the flows your business depends on.

One object works as a decorator and as a context manager, sync and async::

    import watchkit

    @watchkit.flow("checkout.place_order", channel="app")
    async def place_order(cart): ...

    with watchkit.flow("payments.charge", provider="stripe") as f:
        result = gateway.charge(card, amount)
        f.set_attribute("payment.attempts", result.attempts)   # span only
        if result.declined:
            f.fail("card_declined")                            # handled failure

Each run records:

- a span named after the flow, carrying the flow's attributes;
- a point of histogram ``watchkit.flow.duration`` (unit ``s``, the duration
  buckets of ``configure()``) with ``flow.name``, ``flow.outcome``
  (``success`` | ``error``), ``error.type`` on error, and the flow's attributes;
- ``watchkit.flow.active``: flows in progress by ``flow.name`` (an observable
  up-down counter; back to 0 when they finish).

Outcomes:

- returns normally: ``success``;
- raises: ``error``; the span gets an ``exception`` event with the stack trace,
  status ERROR and ``error.type`` = the exception's fully-qualified class name
  (``payments.CardDeclined``; builtins without a module: ``TimeoutError``). Any
  exception counts, ``asyncio.CancelledError`` included. The exception is
  re-raised unchanged;
- raises one of ``expected=(...)``: ``success`` (the exception is part of the
  flow's normal results, e.g. ``NotFound``): no error status, no exception
  event (no stack trace is formatted), no ``error.type``; still re-raised;
- ``fail("reason")`` was called: ``error`` with ``error.type=reason``, and
  nothing is raised. An exception raised afterwards wins.

The flow's attributes go on metric points, so keep them low-cardinality
(payment provider, channel, tier: never ids); the cardinality guard of
:mod:`watchkit._metrics` applies. Use ``set_attribute`` for per-run values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from time import perf_counter
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from watchkit._internal.guard import report
from watchkit._internal.scopes import SyncScope
from watchkit._internal.semconv import (
    ERROR_TYPE,
    ERROR_TYPE_OTHER,
    FLOW_ACTIVE,
    FLOW_ACTIVE_UNIT,
    FLOW_DURATION,
    FLOW_NAME,
    FLOW_OUTCOME,
    FLOW_OUTCOME_ERROR,
    FLOW_OUTCOME_SUCCESS,
    UNIT_SECONDS,
)
from watchkit._internal.wrapping import instrument
from watchkit._metrics import Histogram, InFlight, attributes_key, record
from watchkit._tracing import TRACER, _check_attributes, error_type, record_error
from watchkit.redaction import redact_attributes

__all__ = ["Flow", "FlowRun", "flow"]

F = TypeVar("F", bound=Callable[..., Any])

_attach = otel_context.attach
_detach = otel_context.detach
_set_span_in_context = trace.set_span_in_context

_DURATION = Histogram(
    FLOW_DURATION, UNIT_SECONDS, "Duration of watchkit flows, by name and outcome.", None
)
_MAX_ERROR_TYPES_CACHED = 64
_MAX_FLOWS_CACHED = 1024
_FLOWS: dict[Any, Flow] = {}


_ACTIVE = InFlight(FLOW_ACTIVE, FLOW_ACTIVE_UNIT, "watchkit flows in progress, by name.")


class FlowRun:
    """One run of a flow: what ``with watchkit.flow(...) as f`` gives you."""

    __module__ = "watchkit"

    __slots__ = (
        "_context",
        "_done",
        "_flow",
        "_recording",
        "_span",
        "_start",
        "_token",
        "_var_token",
        "failure",
    )

    def __init__(self, flow: Flow, span: trace.Span, context: otel_context.Context) -> None:
        self._flow = flow
        self._span = span
        self._context = context
        self._token: Token[otel_context.Context] | None = None
        self._var_token: Token[FlowRun | None] | None = None
        self._start = 0.0
        self._recording = True
        self._done = False
        self.failure: str | None = None
        """The ``error.type`` given to :meth:`fail`, if it was called."""

    @property
    def name(self) -> str:
        """The flow's name."""
        return self._flow.name

    @property
    def span(self) -> trace.Span:
        """The flow's span (for events, links, or your own attributes)."""
        return self._span

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set an attribute on the flow's span only (not on metrics): ids are fine here.

        Example:
            >>> import watchkit
            >>> with watchkit.flow("delivery.assign_courier") as f:
            ...     f.set_attribute("courier.id", "c-981")
        """
        try:
            self._span.set_attribute(key, redact_attributes({key: value})[key])
        except Exception:
            report("watchkit.flow set_attribute")

    def fail(self, error_type: str) -> None:
        """Mark this run as a handled failure: ``flow.outcome=error``, ``error.type=error_type``.

        Nothing is raised. Use a short, low-cardinality reason such as
        ``"card_declined"``: it becomes a metric attribute. A value that is not
        a non-empty string is recorded as ``_OTHER``.

        Example:
            >>> import watchkit
            >>> with watchkit.flow("payments.charge") as f:
            ...     f.fail("card_declined")
        """
        self.failure = (
            error_type if isinstance(error_type, str) and error_type else ERROR_TYPE_OTHER
        )


# The innermost flow run entered with ``with`` in this context: __exit__ finds
# its run here, so one Flow object can be entered concurrently by many threads
# and tasks, and nested in itself.
_CURRENT: ContextVar[FlowRun | None] = ContextVar("watchkit_flow_run", default=None)


class Flow(SyncScope[FlowRun]):
    """A named business flow; create with :func:`flow`.

    Use it as a decorator (``@flow``) or as a context manager (``with`` /
    ``async with``). The object holds no per-run state, so one module-level
    ``Flow`` may be used from many threads and tasks at once.
    """

    __module__ = "watchkit"

    __slots__ = (
        "_active",
        "_errors",
        "_span_attributes",
        "_success",
        "_success_key",
        "attributes",
        "expected",
        "name",
    )

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any] | None,
        expected: tuple[type[BaseException], ...],
    ) -> None:
        self.name = name
        # Redacted once, at definition: these go on every span and metric point.
        attributes = redact_attributes(attributes) if attributes else attributes
        self.attributes: Mapping[str, AttributeValue] = attributes or {}
        self.expected = expected
        self._span_attributes = attributes
        self._success: dict[str, Any] = {
            FLOW_NAME: name,
            FLOW_OUTCOME: FLOW_OUTCOME_SUCCESS,
            **self.attributes,
        }
        self._success_key = attributes_key(self._success)
        self._errors: dict[str, tuple[dict[str, Any], Any]] = {}
        self._active = _ACTIVE.slot({FLOW_NAME: name}, name)

    # Hooks for watchkit._internal.wrapping ------------------------------------
    def _begin(
        self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> FlowRun | None:
        """Start a run and make its span current (internal; use ``with`` or ``@``)."""
        try:
            tracer = TRACER.get()
            if tracer is None:
                return None
            span = tracer.start_span(self.name, attributes=self._span_attributes)
            context = _set_span_in_context(span)
            run = FlowRun(self, span, context)
            run._token = _attach(context)
            _ACTIVE.enter(self._active)
            run._start = perf_counter()
            return run
        except Exception:
            report("watchkit.flow start")
            return None

    def _end(self, run: FlowRun, error: BaseException | None) -> None:
        """Finish a run: metrics, span status, context restored (internal)."""
        try:
            try:
                duration = perf_counter() - run._start
                if error is not None and not isinstance(error, self.expected):
                    kind = error_type(error)
                    record_error(run._span, error, kind)
                    self._record(duration, kind)
                elif run.failure is not None:
                    span = run._span
                    if span.is_recording():
                        span.set_attribute(ERROR_TYPE, run.failure)
                        span.set_status(Status(StatusCode.ERROR, run.failure))
                    self._record(duration, run.failure)
                else:
                    self._record(duration, None)
            finally:
                # Recorded while the span is still current, so the duration's
                # exemplar points at this flow's own span.
                if run._token is not None:
                    _detach(run._token)
                run._span.end()
                _ACTIVE.leave(self._active)
        except Exception:
            report("watchkit.flow end")

    def _pause(self, run: FlowRun) -> None:
        """A generator flow yielded: restore the consumer's context (internal)."""
        try:
            if run._token is not None:
                _detach(run._token)
        except Exception:
            report("watchkit.flow pause")

    def _resume(self, run: FlowRun) -> None:
        """A generator flow resumes: make its span current again (internal)."""
        try:
            run._token = _attach(run._context)
        except Exception:
            report("watchkit.flow resume")

    def _record(self, duration: float, failure: str | None) -> None:
        if failure is None:
            record(_DURATION, duration, self._success, self._success_key)
        else:
            attributes, key = self._error_attributes(failure)
            record(_DURATION, duration, attributes, key)

    def _error_attributes(self, kind: str) -> tuple[dict[str, Any], Any]:
        found = self._errors.get(kind)
        if found is None:
            attributes = {**self._success, FLOW_OUTCOME: FLOW_OUTCOME_ERROR, ERROR_TYPE: kind}
            found = (attributes, attributes_key(attributes))
            if len(self._errors) < _MAX_ERROR_TYPES_CACHED:
                self._errors[kind] = found
        return found

    # Decorator ----------------------------------------------------------------
    def __call__(self, fn: F) -> F:
        """Decorate ``fn``: each call (or iteration, for generators) is one run."""
        return instrument(fn, _Hooks(self))

    # Context manager ------------------------------------------------------------
    def __enter__(self) -> FlowRun:
        run = self._begin(None, (), {})
        if run is None:  # disabled: a handle that records nothing
            run = FlowRun(self, trace.INVALID_SPAN, otel_context.get_current())
            run._recording = False
        try:
            run._var_token = _CURRENT.set(run)
        except Exception:
            report("watchkit.flow enter")
        return run

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            run = _CURRENT.get()
            if run is not None and run._flow is self and not run._done:
                token = run._var_token
                if token is not None:
                    try:
                        _CURRENT.reset(token)
                    except ValueError:
                        # Exited in another context than entered (another task,
                        # or a copied context): the span cannot be detached
                        # from here. End the run, and leave the entering
                        # context alone (OpenTelemetry would log an error).
                        run._token = None
                    except RuntimeError:  # the token was used already
                        pass
            else:
                run = _find_run(self)
            if run is None or run._done:
                return
            run._done = True
        except Exception:
            report("watchkit.flow exit")
            return
        if run._recording:
            self._end(run, exc)

    def __repr__(self) -> str:
        return f"<watchkit.Flow {self.name!r}>"


class _Hooks:
    """The wrapper factory's view of a :class:`Flow`: its hooks stay off the public class."""

    __slots__ = ("begin", "end", "pause", "resume")

    def __init__(self, flow: Flow) -> None:
        self.begin = flow._begin
        self.end = flow._end
        self.pause = flow._pause
        self.resume = flow._resume


def _find_run(flow: Flow) -> FlowRun | None:
    # Exits out of order (a ``with`` spanning a ``yield``, interleaved with the
    # consumer's own flows): the innermost unfinished run of this flow. The
    # context variable is left alone, since resetting it would undo the other
    # runs; the chain is walked through the runs' reset tokens.
    run = _CURRENT.get()
    while run is not None:
        if run._flow is flow and not run._done:
            return run
        token = run._var_token
        previous = token.old_value if token is not None else None
        run = previous if isinstance(previous, FlowRun) else None
    return None


def flow(
    name: str,
    /,
    *,
    expected: type[BaseException] | tuple[type[BaseException], ...] = (),
    attributes: Mapping[str, AttributeValue] | None = None,
    **kw_attributes: AttributeValue,
) -> Flow:
    """Define a business flow: a span, a duration histogram and an in-progress count.

    Args:
        name: the flow's name, e.g. ``"checkout.place_order"``: the span name
            and the ``flow.name`` attribute. Keep it a constant.
        expected: exception types that are normal results of the flow (e.g.
            ``NotFound``): they end it as a success and are re-raised.
        attributes: attributes (also as keyword arguments) put on the span and
            on the metric points; they must be low-cardinality.

    Returns:
        A :class:`Flow`, usable as ``@decorator``, ``with`` and ``async with``.

    Raises:
        ValueError: ``name`` is not a non-empty string, ``expected`` holds
            something other than exception classes, or an attribute value is
            not a str, bool, int, float or a sequence of them.

    Example:
        >>> import watchkit
        >>> class NotFound(Exception): ...
        >>> @watchkit.flow("delivery.track", expected=(NotFound,), channel="app")
        ... def track(order_id: str) -> str:
        ...     return "on the way"
        >>> track("o-42")
        'on the way'
        >>> with watchkit.flow("payments.charge", provider="stripe") as f:
        ...     f.fail("card_declined")
    """
    # ``with watchkit.flow("x", k=v):`` builds a Flow on every call; a Flow
    # holds no per-run state, so equal definitions share one cached object.
    try:
        cache_key: Any = (
            name,
            expected,
            attributes_key(attributes) if attributes else None,
            frozenset(kw_attributes.items()),
        )
        cached = _FLOWS.get(cache_key)
    except TypeError:  # unhashable values: build without the cache
        cache_key = cached = None
    if cached is not None:
        return cached
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"flow name must be a non-empty string, got {name!r}")
    if isinstance(expected, type):
        expected = (expected,)
    if not isinstance(expected, tuple) or not all(
        isinstance(e, type) and issubclass(e, BaseException) for e in expected
    ):
        raise ValueError(
            f"expected={expected!r} is invalid: use an exception class or a tuple of them"
        )
    merged = {**attributes, **kw_attributes} if attributes else kw_attributes
    checked = _check_attributes(merged)
    created = Flow(name, checked, expected)
    if cache_key is not None and len(_FLOWS) < _MAX_FLOWS_CACHED:
        _FLOWS[cache_key] = created
    return created
