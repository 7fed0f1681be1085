"""``@watchkit.traced``: a span around every call of a function.

::

    import watchkit

    @watchkit.traced
    def quote_delivery(address): ...

    @watchkit.traced("payments.charge", attributes={"payment.provider": "stripe"},
                     record_args=("order_id",))
    async def charge(order_id: str, amount_cents: int): ...

Works on functions, methods, classmethods, staticmethods, ``async def``,
generators and async generators (see :mod:`watchkit._internal.wrapping`).
The default span name is the module-qualified name of the function
(``shop.payments.charge``). An exception leaving the function is recorded on
the span as an ``exception`` event with its stack trace, the span status
becomes ERROR, ``error.type`` is set to the exception's fully-qualified class
name (``builtins`` types without a module: ``ValueError``), and the exception is
re-raised unchanged. Use :func:`watchkit.flow` when you also want metrics.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from contextvars import Token
from types import MethodType, TracebackType
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from watchkit._internal import errors, semconv
from watchkit._internal.guard import invalid_argument, report
from watchkit._internal.scopes import SyncScope
from watchkit._internal.semconv import ERROR_TYPE
from watchkit._internal.state import STATE, bound, get_tracer
from watchkit._internal.wrapping import instrument, unwrap_descriptor
from watchkit.redaction import redact_attributes

__all__ = ["error_type", "span", "traced"]

F = TypeVar("F", bound=Callable[..., Any])

_attach = otel_context.attach
_detach = otel_context.detach
_set_span_in_context = trace.set_span_in_context
_MAX_ARG_LENGTH = 256


def error_type(error: BaseException) -> str:
    """``error.type`` of an exception: ``module.QualName``; builtins without a module.

    The same convention as the OpenTelemetry SDK's ``exception.type``.

    Example:
        >>> error_type(ValueError("bad"))
        'ValueError'
        >>> import asyncio
        >>> error_type(asyncio.TimeoutError())
        'TimeoutError'
    """
    return errors.exception_type(error)


def add_exception_event(
    span: trace.Span, error: BaseException, *, escaped: bool | None = None
) -> None:
    """Add the ``exception`` event to a recording ``span``: type, message, stack trace, fingerprint.

    The shape of the SDK's ``Span.record_exception`` (plus ``exception.fingerprint``),
    with the fast stack-trace formatter (the SDK's re-parses every frame's source
    on Python 3.11+) and the message redacted.
    """
    message = errors.safe_str(error)
    try:
        from watchkit.redaction import redact

        message = redact(message)
    except Exception:
        report("exception.redact")
    attributes: dict[str, AttributeValue] = {
        semconv.EXCEPTION_TYPE: errors.exception_type(error),
        semconv.EXCEPTION_MESSAGE: message,
        semconv.EXCEPTION_STACKTRACE: errors.format_stacktrace(error),
        semconv.EXCEPTION_FINGERPRINT: errors.fingerprint(error),
    }
    if escaped is not None:
        attributes[semconv.EXCEPTION_ESCAPED] = str(escaped)
    span.add_event("exception", attributes)


def _tracer() -> trace.Tracer | None:
    return get_tracer() if STATE.enabled else None


TRACER = bound(_tracer)
"""watchkit's tracer for the current pipeline; ``None`` when telemetry is disabled."""


def record_error(span: trace.Span, error: BaseException, kind: str) -> None:
    """Mark ``span`` failed: exception event with stack trace, status ERROR, ``error.type``."""
    if span.is_recording():
        add_exception_event(span, error, escaped=True)
        span.set_attribute(ERROR_TYPE, kind)
        # The description is the type only: exception messages may carry
        # personal data, and the exception event already has the message.
        span.set_status(Status(StatusCode.ERROR, kind))


def _safe_value(value: Any) -> AttributeValue:
    if isinstance(value, (str, bool, int, float)):
        return value
    text = repr(value)
    return text if len(text) <= _MAX_ARG_LENGTH else text[: _MAX_ARG_LENGTH - 3] + "..."


class _ArgRecorder:
    """Reads chosen parameters from a call, bound once against the signature."""

    __slots__ = ("_fields", "_prebound")

    def __init__(self, fn: Any, names: Iterable[str]) -> None:
        target = unwrap_descriptor(fn)
        names = tuple(names)
        for name in names:
            if not isinstance(name, str):
                raise ValueError(f"record_args entries must be parameter names, got {name!r}")
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"record_args={names!r} needs the signature of {fn!r}: {error}"
            ) from None
        params = list(signature.parameters.values())
        # A method bound before decoration: wrapt passes its instance separately
        # and the signature already lacks it.
        self._prebound = isinstance(target, MethodType)
        fields = []
        for name in names:
            found = signature.parameters.get(name)
            if found is None or found.kind in (found.VAR_POSITIONAL, found.VAR_KEYWORD):
                accepted = [
                    p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                ]
                raise ValueError(
                    f"record_args name {name!r} is not a parameter of "
                    f"{getattr(target, '__qualname__', target)!r}; its parameters are {accepted}"
                )
            position = (
                params.index(found)
                if found.kind in (found.POSITIONAL_ONLY, found.POSITIONAL_OR_KEYWORD)
                else None
            )
            keyword = found.kind is not found.POSITIONAL_ONLY
            default = found.default
            fields.append((name, position, keyword, default))
        self._fields = tuple(fields)

    def read(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        # wrapt hands methods their instance (or class) separately from args.
        shift = 1 if instance is not None and not self._prebound else 0
        values: dict[str, Any] = {}
        for name, position, keyword, default in self._fields:
            if position is not None and 0 <= position - shift < len(args):
                values[name] = _safe_value(args[position - shift])
            elif keyword and name in kwargs:
                values[name] = _safe_value(kwargs[name])
            elif default is not inspect.Parameter.empty:
                values[name] = _safe_value(default)
        return values


class _Run:
    __slots__ = ("context", "span", "token")

    def __init__(
        self, span: trace.Span, context: otel_context.Context, token: Token[otel_context.Context]
    ) -> None:
        self.span = span
        self.context = context
        self.token = token


class _Traced:
    """The hooks of one ``@traced`` function (see :mod:`watchkit._internal.wrapping`)."""

    __slots__ = ("attributes", "name", "recorder")

    def __init__(
        self, name: str, attributes: dict[str, AttributeValue] | None, recorder: _ArgRecorder | None
    ) -> None:
        self.name = name
        self.attributes = attributes
        self.recorder = recorder

    def begin(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Run | None:
        try:
            tracer = TRACER.get()
            if tracer is None:
                return None
            attributes = self.attributes
            if self.recorder is not None:
                recorded = redact_attributes(self.recorder.read(instance, args, kwargs))
                attributes = {**(attributes or {}), **recorded}
            span = tracer.start_span(self.name, attributes=attributes)
            context = _set_span_in_context(span)
            return _Run(span, context, _attach(context))
        except Exception:
            report("watchkit.traced start")
            return None

    def end(self, run: _Run, error: BaseException | None) -> None:
        try:
            try:
                if error is not None:
                    record_error(run.span, error, error_type(error))
            finally:
                _detach(run.token)
                run.span.end()
        except Exception:
            report("watchkit.traced end")

    def pause(self, run: _Run) -> None:
        try:
            _detach(run.token)
        except Exception:
            report("watchkit.traced pause")

    def resume(self, run: _Run) -> None:
        try:
            run.token = _attach(run.context)
        except Exception:
            report("watchkit.traced resume")


def _default_name(fn: Any) -> str:
    target = unwrap_descriptor(fn)
    while isinstance(target, functools.partial):
        target = target.func
    qualname = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    if qualname is None:
        qualname = type(target).__qualname__
    module = getattr(target, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


def _check_attributes(attributes: Mapping[str, AttributeValue] | None) -> dict[str, Any] | None:
    if attributes is None:
        return None
    if not isinstance(attributes, Mapping):
        raise ValueError(f"attributes must be a mapping of str to values, got {attributes!r}")
    checked: dict[str, Any] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"attribute keys must be non-empty strings, got {key!r}")
        if not isinstance(value, (str, bool, int, float, list, tuple)):
            raise ValueError(
                f"attribute {key!r} = {value!r} is invalid: use str, bool, int, float "
                "or a sequence of one of them"
            )
        checked[key] = list(value) if isinstance(value, tuple) else value
    return checked or None


@overload
def traced(fn: F, /) -> F: ...


@overload
def traced(
    name: str | None = None,
    /,
    *,
    attributes: Mapping[str, AttributeValue] | None = None,
    record_args: Iterable[str] = (),
) -> Callable[[F], F]: ...


def traced(
    name: Any = None,
    /,
    *,
    attributes: Mapping[str, AttributeValue] | None = None,
    record_args: Iterable[str] = (),
) -> Any:
    """Decorate a function so that each call runs in its own span.

    Use it bare (``@watchkit.traced``) or with options. The span is the
    current span while the function body runs, so spans started inside it
    (and log lines) are its children.

    Args:
        name: span name; default: the function's module-qualified name.
        attributes: attributes set on every span of this function.
        record_args: parameter names whose values are set as span attributes
            (attribute key = parameter name); checked against the signature
            now. Values that are not str, bool, int or float are recorded as
            their ``repr()``, cut at 256 characters. Do not name parameters
            that carry secrets or personal data.

    Returns:
        The decorated function (or a decorator, when called with options).

    Raises:
        ValueError: a ``record_args`` name is not a parameter, or
            ``attributes`` is not a mapping of valid attribute values.

    Example:
        >>> import watchkit
        >>> @watchkit.traced("delivery.track", record_args=("order_id",))
        ... def track(order_id: str) -> str:
        ...     return "on the way"
        >>> track("o-42")
        'on the way'
    """
    if callable(name) or isinstance(name, (classmethod, staticmethod)):
        return _decorate(name, None, None, ())
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"span name must be a non-empty string, got {name!r}")
    checked = _check_attributes(attributes)
    if isinstance(record_args, str):
        record_args = (record_args,)
    names = tuple(record_args)

    def decorator(fn: F) -> F:
        return _decorate(fn, name, checked, names)

    return decorator


def _decorate(
    fn: F, name: str | None, attributes: dict[str, Any] | None, record_args: tuple[str, ...]
) -> F:
    recorder = _ArgRecorder(fn, record_args) if record_args else None
    # Static attributes are redacted once, here; recorded arguments on every call.
    safe = redact_attributes(attributes) if attributes else attributes
    hooks = _Traced(name or _default_name(fn), safe, recorder)
    return instrument(fn, hooks)


_PLAIN = (str, bool, int, float)


def _valid_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """The attributes OpenTelemetry accepts; the others are reported and left out."""
    for value in attributes.values():
        if not isinstance(value, _PLAIN):
            break
    else:
        return attributes
    kept: dict[str, Any] = {}
    for key, value in attributes.items():
        if isinstance(value, _PLAIN) or (
            isinstance(value, (list, tuple)) and all(isinstance(v, _PLAIN) for v in value)
        ):
            kept[key] = list(value) if isinstance(value, tuple) else value
        else:
            invalid_argument(
                "watchkit.span()",
                f"attribute {key!r} = {value!r} is invalid: use str, bool, int, float "
                "or a sequence of one of them",
                "the attribute was left out",
            )
    return kept


class SpanScope(SyncScope[trace.Span]):
    """What :func:`span` returns: enter it with ``with`` or ``async with``.

    Entering starts the span and makes it current; the ``as`` target is the
    OpenTelemetry :class:`~opentelemetry.trace.Span` (a non-recording one while
    watchkit is disabled). Exiting ends it; an exception leaving the block is
    recorded as for :func:`traced` and re-raised unchanged. One scope is one span:
    call :func:`span` again for the next one.
    """

    __module__ = "watchkit"
    __slots__ = ("_attributes", "_name", "_span", "_token")

    def __init__(self, name: str, attributes: dict[str, Any] | None) -> None:
        self._name = name
        self._attributes = attributes
        self._span: trace.Span | None = None
        self._token: Token[otel_context.Context] | None = None

    def __enter__(self) -> trace.Span:
        try:
            tracer = TRACER.get()
            if tracer is None or self._span is not None:
                return trace.INVALID_SPAN
            attributes = self._attributes
            if attributes:
                attributes = redact_attributes(_valid_attributes(attributes))
            span = tracer.start_span(self._name, attributes=attributes)
            self._token = _attach(_set_span_in_context(span))
            self._span = span
            return span
        except Exception:
            report("watchkit.span start")
            return trace.INVALID_SPAN

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, token = self._span, self._token
        if span is None:
            return
        self._span = self._token = None
        try:
            try:
                if exc is not None:
                    record_error(span, exc, error_type(exc))
            finally:
                if token is not None:
                    _detach(token)
                span.end()
        except Exception:
            report("watchkit.span end")

    def __repr__(self) -> str:
        return f"<watchkit.SpanScope {self._name!r}>"


def span(name: str, /, **attributes: AttributeValue) -> SpanScope:
    """A span around a block of code: ``with watchkit.span(...)`` or ``async with``.

    For work that is not a whole function (use :func:`traced` for that). The span
    is current inside the block, so spans and log lines there are its children.
    Attributes are redacted like those of :func:`traced`; an exception leaving the
    block is recorded on the span (``exception`` event, status ERROR,
    ``error.type``) and re-raised unchanged.

    A bad argument never breaks the caller: an invalid name gives a non-recording
    span, an invalid attribute value is left out, and each is reported once per
    call site (see "Bad arguments on the request path" in the architecture docs;
    under ``WATCHKIT_RAISE_INTERNAL_ERRORS`` they raise ``ValueError``).

    Args:
        name: the span name, e.g. ``"pricing.quote"``.
        **attributes: span attributes (str, bool, int, float or a sequence of one
            of them); use dotted keys through a dict: ``**{"order.id": "o-1"}``.

    Returns:
        A :class:`SpanScope`; entering it gives the OpenTelemetry span.

    Example:
        >>> import watchkit
        >>> with watchkit.span("pricing.quote", currency="EUR") as quote:
        ...     quote.set_attribute("pricing.items", 3)
    """
    if not isinstance(name, str) or not name:
        invalid_argument(
            "watchkit.span()",
            f"span name must be a non-empty string, got {name!r}",
            "no span was recorded",
        )
        return _NO_SPAN_SCOPE
    return SpanScope(name, attributes or None)


class _NoSpanScope(SpanScope):
    """Stands in for a span whose arguments were unusable: records nothing."""

    __slots__ = ()

    def __enter__(self) -> trace.Span:
        return trace.INVALID_SPAN

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


_NO_SPAN_SCOPE = _NoSpanScope("", None)
