"""The request logic every HTTP server integration shares.

One :class:`HttpConfig` per middleware instance holds the validated options;
one :class:`ServerRequest` per request carries the span, the timing and the
log-context tokens from :func:`start` to :meth:`ServerRequest.finish`. The
framework adapters (``asgi``, ``wsgi``, ``django``, ``flask``) only translate
their request and response shapes into these calls, so naming, attributes,
exclusion, header capture, redaction, error rules and RED recording behave
the same everywhere (issue 5; OpenTelemetry HTTP semantic conventions, stable).

Hot path: instruments, the tracer, excluded-URL regexes and redaction decisions
are bound once per ``STATE.generation``; metric attribute dicts, span names and
``error.type`` strings are cached by their inputs, so a request does dict
lookups rather than string formatting or regex compilation.
"""

from __future__ import annotations

import linecache
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import Token
from random import getrandbits as _random_bits
from time import perf_counter
from typing import Any, Final, TypedDict

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode

from watchkit._exceptions import ConfigError
from watchkit._internal import guard, semconv
from watchkit._internal.state import STATE, get_meter, get_tracer

__all__ = [
    "ALWAYS_REDACTED_HEADERS",
    "HttpConfig",
    "HttpOptions",
    "ServerRequest",
    "already_instrumented",
    "exception_type",
    "flush_telemetry",
    "format_stacktrace",
    "number",
    "port_number",
    "safe_str",
    "start",
    "warn_once",
]


class HttpOptions(TypedDict, total=False):
    """Options every HTTP integration accepts (all optional).

    Attributes:
        excluded_urls: regexes searched in the request path; matching requests get
            no span and no metrics. Default: ``configure(excluded_urls=...)`` /
            ``WATCHKIT_EXCLUDED_URLS`` (the health endpoints).
        capture_request_headers: request header names recorded as
            ``http.request.header.<name>`` span attributes (case-insensitive).
        capture_response_headers: response header names recorded as
            ``http.response.header.<name>``.
        tracing: ``False`` records the metrics, request id and log context but no
            span (and does not read incoming trace context).
    """

    excluded_urls: Sequence[str]
    capture_request_headers: Sequence[str]
    capture_response_headers: Sequence[str]
    tracing: bool


_OPTION_NAMES: Final = tuple(sorted(HttpOptions.__annotations__))

ALWAYS_REDACTED_HEADERS: Final[frozenset[str]] = frozenset(
    {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key"}
)
# Query keys redacted on top of the redaction module's sensitive keys: the issue's
# list (key, signature) and the semconv list of signed-URL parameters.
_QUERY_KEYS: Final = (
    "key",
    "signature",
    "sig",
    "x_amz_credential",
    "x_amz_security_token",
    "aws_access_key_id",
    "awsaccesskeyid",
)
_NO_EXEMPLAR: Final = Context()
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")
# An HTTP header name (RFC 9110 token): anything else can never be captured.
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# network.protocol.version as clients may send it: werkzeug passes "HTTP/1.01",
# "HTTP/1.001"... through, so anything else is dropped (it is a metric attribute).
_PROTOCOL_VERSIONS: Final = {
    "1.0": "1.0",
    "1.1": "1.1",
    "2": "2",
    "2.0": "2",
    "3": "3",
    "3.0": "3",
}
# url.scheme is a metric attribute too, and behind a proxy fix-up (werkzeug's
# ProxyFix copies X-Forwarded-Proto) it can come from the client.
_SCHEMES: Final = {
    "http": "http", "https": "https", "ws": "ws", "wss": "wss",
    "HTTP": "http", "HTTPS": "https", "WS": "ws", "WSS": "wss",
}  # fmt: skip
_CACHE_LIMIT: Final = 4096

_warned: set[str] = set()
_warn_lock = threading.Lock()


def warn_once(key: str, message: str, *args: object) -> None:
    """Log ``message`` as a warning the first time ``key`` is seen in this process."""
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    guard.internal_logger.warning(message, *args)


def _known_methods() -> frozenset[str]:
    override = os.environ.get("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS", "").strip()
    if not override:
        return semconv.HTTP_KNOWN_METHODS
    return frozenset(m.strip() for m in override.split(",") if m.strip())


def _strings(value: object, option: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise ConfigError(
            f"{where}: option {option}={value!r} is not accepted; use a list of strings"
        )
    items = tuple(value)
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise ConfigError(
            f"{where}: option {option}={value!r} is not accepted; use a list of non-empty strings"
        )
    return tuple(item.strip() for item in items)


def _header_names(value: object, option: str, where: str) -> tuple[str, ...]:
    names = tuple(h.lower() for h in _strings(value, option, where))
    for name in names:
        if _HEADER_NAME.fullmatch(name) is None:
            raise ConfigError(
                f"{where}: option {option} has {name!r}, which is not an HTTP header name; "
                "use names of letters, digits and !#$%&'*+-.^_`|~"
            )
    return names


def _compile(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns))


class _Bound:
    """What a configuration generation gives every request: instruments and matchers."""

    __slots__ = (
        "active",
        "duration",
        "enabled",
        "excluded",
        "generation",
        "redactor",
        "request_size",
        "response_size",
        "tracer",
    )

    def __init__(self, generation: int) -> None:
        from watchkit.redaction import Redactor

        self.generation = generation
        self.enabled = STATE.enabled
        self.tracer = get_tracer()
        meter = get_meter()
        self.duration = meter.create_histogram(
            semconv.HTTP_SERVER_REQUEST_DURATION,
            unit=semconv.UNIT_SECONDS,
            description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=STATE.duration_buckets,
        )
        # Observed at collection from watchkit's own in-flight counts: an SDK
        # UpDownCounter.add costs ~8 us, twice per request, on the hot path.
        self.active = meter.create_observable_up_down_counter(
            semconv.HTTP_SERVER_ACTIVE_REQUESTS,
            callbacks=[_observe_active],
            unit=semconv.UNIT_REQUESTS,
            description="Number of active HTTP server requests.",
        )
        self.request_size = meter.create_histogram(
            semconv.HTTP_SERVER_REQUEST_BODY_SIZE,
            unit=semconv.UNIT_BYTES,
            description="Size of HTTP server request bodies.",
        )
        self.response_size = meter.create_histogram(
            semconv.HTTP_SERVER_RESPONSE_BODY_SIZE,
            unit=semconv.UNIT_BYTES,
            description="Size of HTTP server response bodies.",
        )
        settings = _settings()
        excluded = settings.excluded_urls if settings is not None else ()
        self.excluded = _compile(excluded)
        redact_keys = settings.redact_keys if settings is not None else ()
        patterns = settings.redact_patterns if settings is not None else ()
        # Keys for url.query; value patterns (bearer tokens, JWTs, cards and the
        # configured ones) for url.query and the captured header values.
        try:
            self.redactor = Redactor(keys=(*_QUERY_KEYS, *redact_keys), patterns=patterns)
        except ValueError:  # configure() validates patterns; never fail a request here
            self.redactor = Redactor(keys=(*_QUERY_KEYS, *redact_keys))


_active_lock = threading.Lock()
_active_counts: dict[tuple[str, str], int] = {}


def _active_add(method: str, scheme: str, delta: int) -> None:
    key = (method, scheme)
    with _active_lock:
        _active_counts[key] = _active_counts.get(key, 0) + delta


def _observe_active(options: CallbackOptions) -> Iterable[Observation]:
    with _active_lock:
        items = list(_active_counts.items())
    return [Observation(count, _active_attributes(*key)) for key, count in items]


def _settings() -> Any:
    pipeline = STATE.pipeline
    settings = pipeline.settings if pipeline is not None else None
    if settings is None and STATE.configured is not None:
        settings = STATE.configured.settings  # under a test capture
    if settings is None:
        from watchkit._internal.settings import resolve

        try:
            settings = resolve()
        except ConfigError:  # configure() reports bad variables; use defaults here
            settings = resolve(environ={})
    return settings


_bound: _Bound | None = None
_bind_lock = threading.Lock()


def _current() -> _Bound:
    bound = _bound
    if bound is not None and bound.generation == STATE.generation:
        return bound
    return _rebind()


def _rebind() -> _Bound:
    global _bound
    with _bind_lock:
        generation = STATE.generation
        if _bound is None or _bound.generation != generation:
            _bound = _Bound(generation)
            _METRIC_ATTRS.clear()
        return _bound


class HttpConfig:
    """Validated options of one middleware instance.

    Raises:
        ConfigError: an unknown option or an invalid value; the message names it.
    """

    __slots__ = (
        "_excluded",
        "_excluded_option",
        "_header_generation",
        "_request_headers",
        "_response_headers",
        "capture_request_headers",
        "capture_response_headers",
        "known_methods",
        "tracing",
        "where",
    )

    def __init__(self, options: Mapping[str, Any], where: str) -> None:
        self.where = where
        for name in options:
            if name not in _OPTION_NAMES:
                raise ConfigError(
                    f"{where}: unknown option {name!r}; accepted options: "
                    + ", ".join(_OPTION_NAMES)
                )
        tracing = options.get("tracing", True)
        if not isinstance(tracing, bool):
            raise ConfigError(
                f"{where}: option tracing={tracing!r} is not accepted; use True or False"
            )
        self.tracing = tracing
        self._excluded_option: re.Pattern[str] | None = None
        self._excluded: bool = "excluded_urls" in options
        if self._excluded:
            patterns = _strings(options["excluded_urls"], "excluded_urls", where)
            try:
                self._excluded_option = _compile(patterns)
            except re.error as error:
                raise ConfigError(
                    f"{where}: option excluded_urls={list(patterns)!r} is not accepted; "
                    f"use valid regular expressions ({error})"
                ) from None
        self.capture_request_headers = _header_names(
            options.get("capture_request_headers", ()), "capture_request_headers", where
        )
        self.capture_response_headers = _header_names(
            options.get("capture_response_headers", ()), "capture_response_headers", where
        )
        self.known_methods = _known_methods()
        self._header_generation = -1
        self._request_headers: tuple[tuple[str, str, bool], ...] = ()
        self._response_headers: tuple[tuple[str, str, bool], ...] = ()

    def excluded_pattern(self, bound: _Bound) -> re.Pattern[str] | None:
        """The excluded-URL regex in force (the option's, else the settings')."""
        return self._excluded_option if self._excluded else bound.excluded

    def _headers(self, bound: _Bound) -> None:
        from watchkit.redaction import is_sensitive_key

        def plan(names: tuple[str, ...], prefix: str) -> tuple[tuple[str, str, bool], ...]:
            return tuple(
                (
                    name,
                    prefix + name,
                    name in ALWAYS_REDACTED_HEADERS or is_sensitive_key(name),
                )
                for name in names
            )

        self._request_headers = plan(
            self.capture_request_headers, semconv.HTTP_REQUEST_HEADER_PREFIX
        )
        self._response_headers = plan(
            self.capture_response_headers, semconv.HTTP_RESPONSE_HEADER_PREFIX
        )
        self._header_generation = bound.generation

    def request_header_plan(self, bound: _Bound) -> tuple[tuple[str, str, bool], ...]:
        """``(header, attribute key, redacted)`` per captured request header."""
        if self._header_generation != bound.generation:
            self._headers(bound)
        return self._request_headers

    def response_header_plan(self, bound: _Bound) -> tuple[tuple[str, str, bool], ...]:
        """``(header, attribute key, redacted)`` per captured response header."""
        if self._header_generation != bound.generation:
            self._headers(bound)
        return self._response_headers


def capture_headers(
    plan: tuple[tuple[str, str, bool], ...],
    lookup: Callable[[str], list[str] | None],
    bound: _Bound,
) -> dict[str, Any]:
    """Span attributes for the allowlisted headers.

    Sensitive header names give ``[REDACTED]``; in the other values, secrets
    found by the value patterns are replaced.
    """
    from watchkit.redaction import REDACTED

    redact_string = bound.redactor.redact_string
    out: dict[str, Any] = {}
    for name, key, redacted in plan:
        values = lookup(name)
        if values:
            out[key] = (
                [REDACTED] * len(values)
                if redacted
                else [redact_string(v) if isinstance(v, str) else v for v in values]
            )
    return out


def redact_query(query: str, bound: _Bound) -> str:
    """``query`` with the values of sensitive keys, and secret-looking values, redacted."""
    from urllib.parse import unquote_plus

    from watchkit.redaction import REDACTED

    redactor = bound.redactor
    parts = query.split("&")
    changed = False
    for index, part in enumerate(parts):
        key, sep, _ = part.partition("=")
        if sep and redactor.is_sensitive_key(unquote_plus(key)):
            parts[index] = f"{key}={REDACTED}"
            changed = True
    return redactor.redact_string("&".join(parts) if changed else query)


# Caches keyed by request shape; bounded because route/status come from the app.
_METRIC_ATTRS: dict[tuple[Any, ...], dict[str, Any]] = {}
_ACTIVE_ATTRS: dict[tuple[str, str], dict[str, Any]] = {}
_SPAN_NAMES: dict[tuple[str, str | None], str] = {}
_STATUS_TEXT: dict[int, str] = {}
_ERROR_TYPES: dict[type[BaseException], str] = {}


def _metric_attributes(
    method: str,
    route: str | None,
    status: int | None,
    scheme: str,
    version: str | None,
    error_type: str | None,
) -> dict[str, Any]:
    key = (method, route, status, scheme, version, error_type)
    found = _METRIC_ATTRS.get(key)
    if found is not None:
        return found
    attrs: dict[str, Any] = {semconv.HTTP_REQUEST_METHOD: method, semconv.URL_SCHEME: scheme}
    if route is not None:
        attrs[semconv.HTTP_ROUTE] = route
    if status is not None:
        attrs[semconv.HTTP_RESPONSE_STATUS_CODE] = status
    if version is not None:
        attrs[semconv.NETWORK_PROTOCOL_VERSION] = version
    if error_type is not None:
        attrs[semconv.ERROR_TYPE] = error_type
    if len(_METRIC_ATTRS) < _CACHE_LIMIT:
        _METRIC_ATTRS[key] = attrs
    return attrs


def _active_attributes(method: str, scheme: str) -> dict[str, Any]:
    key = (method, scheme)
    found = _ACTIVE_ATTRS.get(key)
    if found is None:
        found = {semconv.HTTP_REQUEST_METHOD: method, semconv.URL_SCHEME: scheme}
        if len(_ACTIVE_ATTRS) < _CACHE_LIMIT:
            _ACTIVE_ATTRS[key] = found
    return found


def span_name(method: str, route: str | None) -> str:
    """``{method} {route}``, ``{method}`` without a route, ``HTTP`` for ``_OTHER``."""
    key = (method, route)
    found = _SPAN_NAMES.get(key)
    if found is None:
        verb = "HTTP" if method == semconv.HTTP_METHOD_OTHER else method
        found = verb if route is None else f"{verb} {route}"
        if len(_SPAN_NAMES) < _CACHE_LIMIT:
            _SPAN_NAMES[key] = found
    return found


def _status_text(status: int) -> str:
    found = _STATUS_TEXT.get(status)
    if found is None:
        found = _STATUS_TEXT[status] = str(status) if 0 < status < 1000 else "_OTHER"
    return found


def exception_type(exc: BaseException) -> str:
    """The fully-qualified class name (``error.type`` of an exception)."""
    cls = type(exc)
    found = _ERROR_TYPES.get(cls)
    if found is None:
        module = cls.__module__
        found = cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
        if len(_ERROR_TYPES) < _CACHE_LIMIT:
            _ERROR_TYPES[cls] = found
    return found


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the exception's ``__str__`` itself fails."""
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__} object>"


def format_stacktrace(exc: BaseException) -> str:
    """A Python-style traceback of ``exc`` (with its causes), without 3.11's ``^^^`` markers.

    ``traceback.format_exception`` on Python 3.11+ re-parses each frame's source
    line to place the caret markers; with ~20 framework frames per request that
    dominates the error path (REFERENCE section 3). File, line, function and the
    source line (from linecache) carry the same information.
    """
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    note: str | None = None
    while current is not None and id(current) not in seen and len(chain) < 8:
        seen.add(id(current))
        chain.append((current, note))
        if current.__cause__ is not None:
            note = "The above exception was the direct cause of the following exception:"
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            note = "During handling of the above exception, another exception occurred:"
            current = current.__context__
        else:
            current = None
    lines: list[str] = []
    for error, link in reversed(chain):
        tb = error.__traceback__
        if tb is not None:
            lines.append("Traceback (most recent call last):\n")
        depth = 0
        while tb is not None and depth < 100:
            code = tb.tb_frame.f_code
            lineno = tb.tb_lineno
            lines.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}\n')
            source = linecache.getline(code.co_filename, lineno).strip()
            if source:
                lines.append(f"    {source}\n")
            tb = tb.tb_next
            depth += 1
        message = safe_str(error)
        name = exception_type(error)
        lines.append(f"{name}: {message}\n" if message else f"{name}\n")
        if link is not None:
            lines.append(f"\n{link}\n\n")
    return "".join(lines)


class _Fields:
    """Header names the global propagator reads, cached per propagator object."""

    __slots__ = ("as_bytes", "as_str", "propagator")

    def __init__(self) -> None:
        self.propagator: object = None
        self.as_str: tuple[str, ...] = ()
        self.as_bytes: tuple[bytes, ...] = ()

    def get(self) -> _Fields:
        propagator = propagate.get_global_textmap()
        if propagator is not self.propagator:
            names = tuple(sorted(f.lower() for f in propagator.fields))
            self.as_str = names
            self.as_bytes = tuple(n.encode("latin-1") for n in names)
            self.propagator = propagator
        return self


_fields = _Fields()


def propagation_fields() -> _Fields:
    """The global propagator's header names (str and bytes), to skip extraction cheaply."""
    return _fields.get()


class ServerRequest:
    """One request being handled: span, timing, sizes and log-context tokens.

    Created by :func:`start`; adapters call :meth:`set_route`,
    :meth:`response_started`, :meth:`fail` and finally :meth:`finish` and
    :meth:`exit` (the latter restores the context the request started in).
    """

    __slots__ = (
        "bound",
        "config",
        "context_token",
        "disconnected",
        "entered",
        "error_type",
        "exception",
        "finished",
        "log_tokens",
        "method",
        "parent",
        "request_id",
        "request_size",
        "response_size",
        "route",
        "scheme",
        "span",
        "start_time",
        "status",
        "version",
        "websocket",
    )

    config: HttpConfig
    bound: _Bound
    method: str
    scheme: str
    version: str | None
    request_id: str
    start_time: float

    def __init__(self) -> None:
        self.span: trace.Span | None = None
        self.context_token: Token[Context] | None = None
        self.log_tokens: list[Token[Any]] = []
        self.route: str | None = None
        self.status: int | None = None
        self.error_type: str | None = None
        self.exception: BaseException | None = None
        self.response_size = 0
        self.request_size: int | None = None
        self.finished = False
        self.disconnected = False
        self.entered = False
        self.websocket = False
        self.parent: Context | None = None

    # During the request --------------------------------------------------------
    def enter(self) -> None:
        """Make the span current and bind ``request_id`` (and ``http.route``) for logging."""
        values: dict[str, Any] = {semconv.LOG_REQUEST_ID: self.request_id}
        if self.route is not None:
            values[semconv.LOG_HTTP_ROUTE] = self.route
        self.log_tokens.extend(structlog.contextvars.bind_contextvars(**values).values())
        span = self.span
        if span is not None:
            self.context_token = otel_context.attach(trace.set_span_in_context(span, self.parent))
        self.entered = True

    def set_route(self, route: str | None) -> None:
        """Record the matched route template and bind it into the log context."""
        if route is None or route == self.route:
            return
        self.route = route
        if self.entered:
            self.log_tokens.extend(
                structlog.contextvars.bind_contextvars(**{semconv.LOG_HTTP_ROUTE: route}).values()
            )

    def fail(self, exc: BaseException) -> None:
        """Record an exception that escaped the application (once per exception)."""
        if self.exception is exc:
            return
        self.exception = exc
        self.error_type = exception_type(exc)
        span = self.span
        if span is not None and span.is_recording():
            message = safe_str(exc)
            try:
                from watchkit.redaction import redact

                message = redact(message)
            except Exception:
                guard.report("http.fail.redact")
            span.add_event(
                "exception",
                {
                    semconv.EXCEPTION_TYPE: self.error_type,
                    semconv.EXCEPTION_MESSAGE: message,
                    semconv.EXCEPTION_STACKTRACE: format_stacktrace(exc),
                },
            )

    # The end -------------------------------------------------------------------
    def finish(self) -> None:
        """Record the span end and the RED metrics (once)."""
        if self.finished:
            return
        self.finished = True
        duration = perf_counter() - self.start_time
        status = self.status
        error_type = self.error_type
        if self.disconnected and error_type is not None and self.exception is not None:
            # A client that went away is not a server error (issue 5).
            error_type = None
        if error_type is None and status is not None and status >= 500:
            error_type = _status_text(status)
        bound = self.bound
        if not self.websocket:
            attrs = _metric_attributes(
                self.method, self.route, status, self.scheme, self.version, error_type
            )
            bound.duration.record(duration, attrs)
            if self.request_size is not None:
                bound.request_size.record(self.request_size, attrs, context=_NO_EXEMPLAR)
            if self.response_size >= 0:  # -1: not known (e.g. Django streaming)
                # No exemplar here (empty context): the duration point links the trace.
                bound.response_size.record(self.response_size, attrs, context=_NO_EXEMPLAR)
            _active_add(self.method, self.scheme, -1)
        span = self.span
        if span is not None:
            if span.is_recording():
                if self.route is not None:
                    span.update_name(
                        ("WS " + self.route)
                        if self.websocket
                        else span_name(self.method, self.route)
                    )
                extra: dict[str, Any] = {}
                if self.route is not None:
                    extra[semconv.HTTP_ROUTE] = self.route
                if status is not None:
                    extra[semconv.HTTP_RESPONSE_STATUS_CODE] = status
                if error_type is not None:
                    extra[semconv.ERROR_TYPE] = error_type
                if self.disconnected:
                    extra[semconv.WATCHKIT_CLIENT_DISCONNECTED] = True
                span.set_attributes(extra)
                if error_type is not None:
                    # 4xx stays unset on SERVER spans; 5xx and exceptions are errors.
                    span.set_status(Status(StatusCode.ERROR))
            span.end()

    def exit(self) -> None:
        """Restore the trace and log context that was current before :meth:`enter`."""
        self.entered = False
        tokens = self.log_tokens
        while tokens:
            token = tokens.pop()
            try:
                token.var.reset(token)
            except ValueError:  # created in another context (a thread hop): unbind instead
                token.var.set(Ellipsis)
        token_ctx = self.context_token
        if token_ctx is not None:
            self.context_token = None
            otel_context.detach(token_ctx)


def already_instrumented(where: str) -> bool:
    """Whether another SERVER span is current (an outer instrumentation): warn once."""
    span = trace.get_current_span()
    if span.is_recording() and getattr(span, "kind", None) is SpanKind.SERVER:
        warn_once(
            "outer:" + where,
            "watchkit: %s found a server span already started by another instrumentation "
            "of this app; watchkit adds no span or metrics of its own to these requests",
            where,
        )
        return True
    return False


_HOSTS: dict[tuple[str, str], tuple[str, int | None]] = {}
_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def number(text: object, max_digits: int = 18) -> int | None:
    """A non-negative integer written in ASCII digits (at most ``max_digits``), else None.

    ``str.isdigit()`` alone accepts ``"\xb2"`` (a latin-1 byte clients can send),
    which ``int()`` rejects, and ``int()`` refuses more than 4300 digits.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text if text >= 0 else None
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    if isinstance(text, str) and 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def port_number(text: object) -> int | None:
    """A TCP port (0-65535) from a header or environ value, else None."""
    port = number(text, 5)
    return port if port is not None and port <= 65535 else None


def parse_host(text: str, scheme: str) -> tuple[str, int | None]:
    """``server.address`` and ``server.port`` from a Host header (default port by scheme).

    A port that is no valid port gives no ``server.port``.
    """
    key = (text, scheme)
    found = _HOSTS.get(key)
    if found is not None:
        return found
    tail: str | None = None
    if text.startswith("["):  # [v6]:port
        end = text.find("]")
        address = text[1:end] if end > 0 else text
        rest = text[end + 1 :] if end > 0 else ""
        if rest.startswith(":"):
            tail = rest[1:]
    else:
        address, sep, after = text.rpartition(":")
        if sep and after.isdigit():
            tail = after
        else:
            address = text
    port = _DEFAULT_PORTS.get(scheme) if tail is None else port_number(tail)
    found = (address, port)
    if len(_HOSTS) < 1024:
        _HOSTS[key] = found
    return found


def request_id_from(value: str | None) -> str:
    """The client's X-Request-ID if valid (1-128 of ``[A-Za-z0-9._-]``), else a new one."""
    if value is not None and _REQUEST_ID.fullmatch(value) is not None:
        return value
    return "%032x" % _random_bits(128)  # noqa: UP031 - fastest formatting here


def start(
    config: HttpConfig,
    *,
    method: str,
    path: str,
    scheme: str,
    version: str | None,
    carrier: Any,
    getter: Getter[Any] | None,
    request_id: str | None,
    server_address: str | None = None,
    server_port: int | None = None,
    client_address: str | None = None,
    user_agent: str | None = None,
    query: str = "",
    request_size: int | None = None,
    header_lookup: Callable[[str], list[str] | None] | None = None,
    websocket: bool = False,
) -> ServerRequest | None:
    """Begin a request: exclusion, span, metrics; then :meth:`ServerRequest.enter`.

    Returns None when the path is excluded or telemetry is disabled; the adapter
    then just calls the application. ``getter`` is None when the carrier has none
    of the propagator's headers (extraction skipped).
    """
    bound = _current()
    if not bound.enabled:
        return None
    excluded = config.excluded_pattern(bound)
    if excluded is not None and excluded.search(path) is not None:
        return None
    request = ServerRequest()
    request.start_time = perf_counter()
    request.config = config
    request.bound = bound
    request.websocket = websocket
    original = method
    if method not in config.known_methods:
        method = semconv.HTTP_METHOD_OTHER
    request.method = method
    scheme = _SCHEMES.get(scheme) or _SCHEMES.get(scheme.lower(), semconv.HTTP_METHOD_OTHER)
    request.scheme = scheme
    if version is not None:
        version = _PROTOCOL_VERSIONS.get(version)
    request.version = version
    request.request_size = request_size
    rid = request_id_from(request_id)
    request.request_id = rid
    if config.tracing:
        parent = propagate.extract(carrier, getter=getter) if getter is not None else None
        attrs: dict[str, Any] = {
            semconv.HTTP_REQUEST_METHOD: method,
            semconv.URL_PATH: path,
            semconv.URL_SCHEME: scheme,
            semconv.WATCHKIT_REQUEST_ID: rid,
        }
        if version is not None:
            attrs[semconv.NETWORK_PROTOCOL_VERSION] = version
        if method != original:
            attrs[semconv.HTTP_REQUEST_METHOD_ORIGINAL] = original
        if server_address:
            attrs[semconv.SERVER_ADDRESS] = server_address
            if server_port is not None:
                attrs[semconv.SERVER_PORT] = server_port
        if client_address:
            attrs[semconv.CLIENT_ADDRESS] = client_address
        if user_agent:
            attrs[semconv.USER_AGENT_ORIGINAL] = user_agent
        if query:
            attrs[semconv.URL_QUERY] = redact_query(query, bound)
        if websocket:
            attrs[semconv.NETWORK_PROTOCOL_NAME] = "websocket"
        if header_lookup is not None and config.capture_request_headers:
            attrs.update(capture_headers(config.request_header_plan(bound), header_lookup, bound))
        span = bound.tracer.start_span(
            "WS" if websocket else span_name(method, None),
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attrs,
        )
        request.span = span
        request.parent = parent
    if not websocket:
        _active_add(method, scheme, 1)
    request.enter()
    return request


def response_headers_attributes(
    request: ServerRequest, lookup: Callable[[str], list[str] | None]
) -> None:
    """Record the allowlisted response headers on the request's span."""
    span = request.span
    if span is None or not request.config.capture_response_headers or not span.is_recording():
        return
    bound = request.bound
    span.set_attributes(capture_headers(request.config.response_header_plan(bound), lookup, bound))


def flush_telemetry() -> None:
    """Export what is pending now (server shutdown paths); never raises."""
    try:
        from watchkit._configure import force_flush

        force_flush()
    except Exception:
        guard.report("http.flush")
