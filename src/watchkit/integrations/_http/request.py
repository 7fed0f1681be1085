"""The life cycle of one server request: start, route, response, failure, finish, exit.

:func:`start` begins a request and returns a :class:`ServerRequest`; the
adapters (``asgi``, ``wsgi``, ``django``, ``flask``) only translate their
request and response shapes into its calls. Every method guards itself
(catches and hands the error to ``guard.report``), so an adapter calls them
without wrappers of its own and a watchkit bug never breaks the request.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token
from time import perf_counter
from typing import Any, Final

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode

from watchkit._internal import guard, semconv
from watchkit._internal.errors import exception_type
from watchkit._metrics import Slot, record
from watchkit._tracing import add_exception_event
from watchkit.health._endpoints import MOUNTED_PATHS as MOUNTED_HEALTH_PATHS
from watchkit.integrations._http.attributes import (
    metric_attributes,
    normal_scheme,
    normal_version,
    span_name,
    status_text,
)
from watchkit.integrations._http.headers import capture_headers, redact_query
from watchkit.integrations._http.instruments import (
    ACTIVE,
    DURATION,
    INSTRUMENTS,
    REQUEST_SIZE,
    RESPONSE_SIZE,
    Instruments,
    active_enter,
)
from watchkit.integrations._http.notices import warn_once
from watchkit.integrations._http.options import HttpConfig
from watchkit.integrations._http.parsing import request_id_from
from watchkit.synthetic._context import mark_synthetic

__all__ = ["ServerRequest", "start"]

_NO_EXEMPLAR: Final = Context()

HeaderLookup = Callable[[str], "list[str] | None"]


class ServerRequest:
    """One request being handled: span, timing, sizes and log-context tokens.

    Created by :func:`start`; adapters call :meth:`set_route`,
    :meth:`response_headers`, :meth:`fail` / :meth:`escaped`, and
    finally :meth:`finish` and :meth:`exit` (the latter restores the context
    the request started in). None of them raises.
    """

    __slots__ = (
        "active",
        "config",
        "context_token",
        "disconnected",
        "entered",
        "error_type",
        "exception",
        "finished",
        "instruments",
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
        "synthetic",
        "version",
        "websocket",
    )

    active: Slot
    config: HttpConfig
    instruments: Instruments
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
        self.synthetic = False
        self.parent: Context | None = None

    # During the request --------------------------------------------------------
    def enter(self) -> None:
        """Make the span current and bind ``request_id`` (and ``http.route``) for logging."""
        values: dict[str, Any] = {semconv.LOG_REQUEST_ID: self.request_id}
        if self.route is not None:
            values[semconv.LOG_HTTP_ROUTE] = self.route
        self.log_tokens.extend(structlog.contextvars.bind_contextvars(**values).values())
        if self.synthetic:  # reset with the log fields at exit()
            self.log_tokens.append(mark_synthetic())
        span = self.span
        if span is not None:
            self.context_token = otel_context.attach(trace.set_span_in_context(span, self.parent))
        self.entered = True

    def set_route(self, route: str | None) -> None:
        """Record the matched route template and bind it into the log context."""
        try:
            if route is None or route == self.route:
                return
            self.route = route
            if self.entered:
                self.log_tokens.extend(
                    structlog.contextvars.bind_contextvars(
                        **{semconv.LOG_HTTP_ROUTE: route}
                    ).values()
                )
        except Exception:
            guard.report("http.route")

    def response_headers(self, lookup: HeaderLookup) -> None:
        """The response starts: record the allowlisted headers, run the response hook.

        Adapters call it when ``config.wants_response_headers``, after setting
        :attr:`status`.
        """
        try:
            span = self.span
            config = self.config
            if span is None or not span.is_recording():
                return
            if config.capture_response_headers:
                instruments = self.instruments
                plan = config.response_header_plan(instruments)
                span.set_attributes(capture_headers(plan, lookup, instruments.redactor))
            hook = config.response_hook
            if hook is not None:
                try:
                    hook(span, self.status, lookup)
                except Exception:
                    hook_failed(config.where, "response_hook", hook)
        except Exception:
            guard.report("http.response_headers")

    def fail(self, exc: BaseException) -> None:
        """Record an exception of the application (once per exception)."""
        try:
            self._fail(exc)
        except Exception:
            guard.report("http.fail")

    def _fail(self, exc: BaseException) -> None:
        if self.exception is exc:
            return
        self.exception = exc
        self.error_type = exception_type(exc)
        span = self.span
        if span is not None and span.is_recording():
            add_exception_event(span, exc)

    def escaped(self, exc: BaseException, *, disconnected: bool = False) -> None:
        """An exception escaped the application to the server.

        ``disconnected``: it only says the client went away, which is not a
        server error. Otherwise it is recorded, and the status (if none was
        sent) is the 500 the server answers with.
        """
        try:
            if self.finished:
                return
            if disconnected or self.disconnected:
                self.disconnected = True
                return
            self._fail(exc)
            if self.status is None:
                self.status = 500
        except Exception:
            guard.report("http.fail")

    # The end -------------------------------------------------------------------
    def finish_incomplete(self) -> None:
        """End a request whose application returned without completing the response."""
        try:
            if self.finished:
                return
            if self.status is None:
                self.status = 500  # the server answers 500 when the app sent nothing
            elif not self.disconnected:
                self.error_type = "incomplete_response"
        except Exception:
            guard.report("http.finish")
        self.finish()

    def finish(self) -> None:
        """Record the span end and the RED metrics (once)."""
        try:
            self._finish()
        except Exception:
            guard.report("http.finish")

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        duration = perf_counter() - self.start_time
        status = self.status
        error_type = self.error_type
        if self.disconnected and error_type is not None and self.exception is not None:
            # A client that went away is not a server error.
            error_type = None
        if error_type is None and status is not None and status >= 500:
            error_type = status_text(status)
        if not self.websocket:
            # These inputs determine the attributes: the guard's key, with no set to build.
            key: tuple[Any, ...] = (
                self.method, self.route, status, self.scheme, self.version, error_type
            )  # fmt: skip
            attrs = metric_attributes(*key)
            if self.synthetic:
                # A metric attribute too, so SLO queries can include or exclude probes.
                attrs = {**attrs, semconv.USER_AGENT_SYNTHETIC_TYPE: semconv.SYNTHETIC_TYPE_TEST}
                key = (*key, semconv.SYNTHETIC_TYPE_TEST)
            record(DURATION, duration, attrs, key)
            if self.request_size is not None:
                record(REQUEST_SIZE, self.request_size, attrs, key, _NO_EXEMPLAR)
            if self.response_size >= 0:  # -1: not known (e.g. Django streaming)
                # No exemplar here (empty context): the duration point links the trace.
                record(RESPONSE_SIZE, self.response_size, attrs, key, _NO_EXEMPLAR)
            ACTIVE.leave(self.active)
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
        try:
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
        except Exception:
            guard.report("http.exit")


def hook_failed(where: str, option: str, hook: object) -> None:
    """Log a user hook's exception once per hook; the request goes on.

    Not :func:`guard.report`: the error is the application's, so it is not
    re-raised in test mode either.
    """
    warn_once(
        f"hook:{option}:{id(hook)}",
        "watchkit: the %s given to %s raised; it is skipped for this request "
        "(further errors of this hook are not logged)",
        option,
        where,
        exc_info=True,
    )


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
    forwarded_for: str | None = None,
    forwarded: str | None = None,
    user_agent: str | None = None,
    query: str = "",
    request_size: int | None = None,
    header_lookup: HeaderLookup | None = None,
    websocket: bool = False,
    native: Any = None,
) -> ServerRequest | None:
    """Begin a request: exclusion, span, metrics; then :meth:`ServerRequest.enter`.

    Returns None when the path is excluded or telemetry is disabled; the adapter
    then just calls the application. ``getter`` is None when the carrier has none
    of the propagator's headers (extraction skipped). ``native`` is what the
    request hook receives (default: ``carrier``). ``client_address`` is the
    socket peer; ``forwarded_for`` / ``forwarded`` (the ``X-Forwarded-For`` and
    ``Forwarded`` headers) replace it only when it is a trusted proxy.
    """
    instruments = INSTRUMENTS.get()
    if not instruments.enabled:
        return None
    excluded = config.excluded_pattern(instruments.excluded)
    if excluded is not None and excluded.search(path) is not None:
        return None
    if path in MOUNTED_HEALTH_PATHS:  # health endpoints mounted on custom paths
        return None
    request = ServerRequest()
    request.start_time = perf_counter()
    request.config = config
    request.instruments = instruments
    request.websocket = websocket
    original = method
    if method not in config.known_methods:
        method = semconv.HTTP_METHOD_OTHER
    request.method = method
    scheme = normal_scheme(scheme)
    request.scheme = scheme
    version = normal_version(version)
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
        if forwarded_for is not None or forwarded is not None:
            client_address = instruments.proxies.client(client_address, forwarded_for, forwarded)
        if client_address:
            attrs[semconv.CLIENT_ADDRESS] = client_address
        if user_agent:
            attrs[semconv.USER_AGENT_ORIGINAL] = user_agent
            if user_agent.startswith(semconv.SYNTHETIC_USER_AGENT_PREFIX):
                attrs[semconv.USER_AGENT_SYNTHETIC_TYPE] = semconv.SYNTHETIC_TYPE_TEST
        if query:
            attrs[semconv.URL_QUERY] = redact_query(query, instruments.redactor)
        if websocket:
            attrs[semconv.NETWORK_PROTOCOL_NAME] = "websocket"
        if header_lookup is not None and config.capture_request_headers:
            plan = config.request_header_plan(instruments)
            attrs.update(capture_headers(plan, header_lookup, instruments.redactor))
        span = instruments.tracer.start_span(
            "WS" if websocket else span_name(method, None),
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attrs,
        )
        request.span = span
        request.parent = parent
        hook = config.request_hook
        if hook is not None and span.is_recording():
            try:
                hook(span, carrier if native is None else native)
            except Exception:
                hook_failed(config.where, "request_hook", hook)
    if user_agent and user_agent.startswith(semconv.SYNTHETIC_USER_AGENT_PREFIX):
        request.synthetic = True
    if not websocket:
        request.active = active_enter(method, scheme)
    request.enter()
    return request
