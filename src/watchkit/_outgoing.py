"""Outgoing calls: the host map, trace-context policy, and the one record path of a client call.

:class:`HostMap` classifies each outgoing host once (cached):

- a host of a declared **dependency** (``dependencies={"payments":
  ["api.stripe.com"]}``) is recorded with ``service.peer.name`` = the
  dependency and its own ``server.address``; trace context is sent to it only
  with ``propagate=True``: users want telemetry about a payment provider
  without handing it their trace headers;
- a host of the service's own estate (``internal=["*.svc.cluster.local"]``)
  keeps its ``server.address`` and gets trace context;
- any other host is grouped: ``server.address`` = ``_OTHER`` and no trace
  context, so webhook-style calls to user-supplied hosts can neither explode the
  metric's series nor leak trace ids.

Patterns are exact host names or ``*.suffix``, optionally with a port
(``localhost:8001``, ``[::1]:8001``); they match the host (and that port) only,
never the path or query string (a domain in a query parameter must not count).
An entry with a port matches only calls to that port, and wins over entries
without one, so two services on one host can be two dependencies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from watchkit._internal.guard import report
from watchkit._internal.semconv import (
    ERROR_TYPE,
    HTTP_CLIENT_REQUEST_DURATION,
    HTTP_KNOWN_METHODS,
    HTTP_METHOD_OTHER,
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    SEMCONV_DURATION_BUCKETS,
    SERVER_ADDRESS,
    SERVER_PORT,
    SERVICE_PEER_NAME,
    UNIT_SECONDS,
)
from watchkit._internal.suppression import PLAIN_KEY
from watchkit._metrics import Histogram, attributes_key, record
from watchkit._tracing import TRACER, error_type

__all__ = [
    "HostMap",
    "Route",
    "begin_call",
    "configure_hosts",
    "current_hosts",
    "restore",
    "send",
    "send_async",
]

OTHER: Final = "_OTHER"
_MAX_CACHED_HOSTS: Final = 4096
_MAX_CACHED_SERIES: Final = 4096

_DURATION = Histogram(
    HTTP_CLIENT_REQUEST_DURATION, UNIT_SECONDS, "Duration of outgoing HTTP requests.",
    SEMCONV_DURATION_BUCKETS,
)  # fmt: skip
# opentelemetry-api's switch that contrib HTTP client instrumentations (httpx,
# requests, urllib3) honour: while watchkit records a call they stay silent and,
# above all, inject no trace context of their own.
_SUPPRESS_HTTP: Final = otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY
# Set by the SDK while it exports (and by anyone suppressing instrumentation):
# the OTLP exporter's own requests must never be recorded, or every export
# would produce telemetry to export.
_SUPPRESS: Final = otel_context._SUPPRESS_INSTRUMENTATION_KEY
_get_current = otel_context.get_current
_set_value = otel_context.set_value
_attach = otel_context.attach
_detach = otel_context.detach
_inject = propagate.inject
_set_span_in_context = trace.set_span_in_context
_perf_counter = time.perf_counter
_CLIENT: Final = SpanKind.CLIENT


class Route(NamedTuple):
    """How calls to one host are recorded."""

    address: str
    """``server.address`` as recorded (the host, or ``_OTHER``)."""
    peer: str | None
    """``service.peer.name``: the dependency, if the host belongs to one."""
    propagate: bool
    """Whether trace context is sent."""


def _matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) or host == pattern[2:]
    return host == pattern


_DEFAULT_PORTS: Final = (80, 443)
"""Ports a URL without an explicit one is taken to use (http and https)."""


def _check_pattern(pattern: object, where: str) -> tuple[str, int | None]:
    """``(host pattern, port or None)`` of one entry; ValueError naming ``where`` if invalid."""
    host: object = pattern
    port: int | None = None
    if isinstance(pattern, str):
        if pattern.startswith("["):  # [IPv6]:port
            address, _, rest = pattern[1:].partition("]")
            host = address
            if rest:
                port = _port(rest[1:]) if rest.startswith(":") else 0
        elif pattern.count(":") == 1:
            host, _, text = pattern.partition(":")
            port = _port(text)
    if (
        not isinstance(host, str)
        or not host
        or "/" in host
        or "*" in host[1:]
        or port == 0
        or (host.startswith("*") and ":" in host)
    ):
        raise ValueError(
            f"{where} entry {pattern!r} is invalid: use a host name (api.stripe.com), "
            "a '*.' suffix pattern (*.stripe.com), optionally with a port 1-65535 "
            "(localhost:8001, [::1]:8001); no scheme or path"
        )
    return host.lower(), port


def _port(text: str) -> int:
    """The port of ``text``, or 0 when it is not one (the caller rejects 0)."""
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else 0


def _port_matches(wanted: int | None, port: int | None) -> bool:
    if wanted is None:
        return True
    return port == wanted or (port is None and wanted in _DEFAULT_PORTS)


class HostMap:
    """Dependencies and internal hosts, validated once; :meth:`route` is cached per host."""

    def __init__(
        self,
        dependencies: Mapping[str, Sequence[str]] | None = None,
        internal: Sequence[str] = (),
        propagate: bool = False,
    ) -> None:
        if isinstance(propagate, bool) is False:
            raise ValueError(f"propagate must be True or False, got {propagate!r}")
        entries: list[tuple[str, int | None, str]] = []
        for name, hosts in (dependencies or {}).items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"dependencies keys must be non-empty names, got {name!r}")
            if isinstance(hosts, str):
                raise ValueError(
                    f"dependencies[{name!r}] must be a list of hosts, not the string {hosts!r}"
                )
            for host in hosts:
                entries.append((*_check_pattern(host, f"dependencies[{name!r}]"), name))
        # Entries with a port first (stable: declaration order otherwise), so that
        # "localhost:8001" wins over "localhost" whatever order they came in.
        self.dependencies = sorted(entries, key=lambda entry: entry[1] is None)
        if isinstance(internal, str):
            raise ValueError(f"internal must be a list of hosts, not the string {internal!r}")
        self.internal = sorted(
            (_check_pattern(host, "internal") for host in internal),
            key=lambda entry: entry[1] is None,
        )
        self.propagate = propagate
        # With no port in any entry, the route depends on the host alone: cache by host.
        self._by_port = any(e[1] is not None for e in [*self.dependencies, *self.internal])
        self._cache: dict[object, Route] = {}
        self._shapes: dict[tuple[str, str, int | None], _Shape] = {}
        self._lock = threading.Lock()

    def route(self, host: str, port: int | None = None) -> Route:
        """The :class:`Route` of ``host`` (any case, without port) called on ``port``.

        ``port`` is the URL's explicit port (None when it has none, which
        matches entries for port 80 or 443).
        """
        key: object = (host, port) if self._by_port else host
        found = self._cache.get(key)
        if found is not None:
            return found
        name = host.lower().rstrip(".")
        route = Route(OTHER, None, False)
        for pattern, wanted, dependency in self.dependencies:
            if _matches(name, pattern) and _port_matches(wanted, port):
                route = Route(name, dependency, self.propagate)
                break
        else:
            if any(
                _matches(name, pattern) and _port_matches(wanted, port)
                for pattern, wanted in self.internal
            ):
                route = Route(name, None, True)
        with self._lock:
            if len(self._cache) >= _MAX_CACHED_HOSTS:
                self._cache.clear()
            self._cache[key] = route
        return route

    def dependency_of(self, name: str) -> bool:
        """Whether ``name`` is a declared dependency."""
        return any(dependency == name for _, _, dependency in self.dependencies)


_hosts = HostMap()


def configure_hosts(hosts: HostMap) -> None:
    """Install the host map every instrumented client uses."""
    global _hosts
    _hosts = hosts


def current_hosts() -> HostMap:
    """The host map in use."""
    return _hosts


class _Shape:
    """Everything recorded for calls of one method to one host and port, built once.

    The span's name and attributes, whether trace context is sent, and per
    outcome (status code, ``error.type``) the metric's attributes with their
    cardinality-guard key, so a request builds no dict and hashes no attribute
    set of its own.
    """

    __slots__ = ("_series", "name", "propagate", "series_attributes", "span_attributes")

    def __init__(self, method: str, host: str, port: int | None, route: Route) -> None:
        method = method.upper()
        known = method if method in HTTP_KNOWN_METHODS else HTTP_METHOD_OTHER
        attributes: dict[str, Any] = {HTTP_REQUEST_METHOD: known, SERVER_ADDRESS: route.address}
        if port is not None and route.address != OTHER:
            attributes[SERVER_PORT] = port
        if route.peer is not None:
            attributes[SERVICE_PEER_NAME] = route.peer
        self.series_attributes = attributes
        span_attributes = dict(attributes)
        if route.address == OTHER:
            # The span may name the real host: it is not a metric series.
            span_attributes[SERVER_ADDRESS] = host
        self.span_attributes = span_attributes  # the SDK copies it
        # Span name: the method (semconv, when no url.template is known).
        self.name = known if known != HTTP_METHOD_OTHER else "HTTP"
        self.propagate = route.propagate
        self._series: dict[tuple[int | None, str | None], tuple[dict[str, Any], Any]] = {}

    def series(self, status: int | None, kind: str | None) -> tuple[dict[str, Any], Any]:
        """The metric's attributes and their guard key for one outcome (built once)."""
        found = self._series.get((status, kind))
        if found is None:
            attributes = dict(self.series_attributes)
            if status is not None:
                attributes[HTTP_RESPONSE_STATUS_CODE] = status
            if kind is not None:
                attributes[ERROR_TYPE] = kind
            found = (attributes, attributes_key(attributes))
            # Bounded by the cardinality guard too; this only avoids rebuilding.
            if len(self._series) < _MAX_CACHED_SERIES:
                self._series[(status, kind)] = found
        return found


def _shape(method: str, host: str, port: int | None) -> _Shape:
    """The :class:`_Shape` of a call (cached per host map, bounded like its routes)."""
    hosts = _hosts
    key = (method, host, port)
    shape = hosts._shapes.get(key)
    if shape is None:
        shape = _Shape(method, host, port, hosts.route(host, port))
        # Calls to user-supplied hosts come and go: drop them wholesale.
        if len(hosts._shapes) >= _MAX_CACHED_HOSTS:
            hosts._shapes.clear()
        hosts._shapes[key] = shape
    return shape


class Call:
    """One outgoing request in flight (see :func:`begin_call`)."""

    __slots__ = ("shape", "span", "start", "token")

    def __init__(self, shape: _Shape, span: trace.Span | None, token: object) -> None:
        self.shape = shape
        self.span = span
        self.token = token
        self.start = _perf_counter()

    def finish(self, status: int | None, error: BaseException | None = None) -> None:
        """Record the call: ``status`` is the response status code (None if there is none)."""
        try:
            duration = _perf_counter() - self.start
            _detach(self.token)  # type: ignore[arg-type]
            kind: str | None = None
            if error is not None:
                kind = error_type(error)
            elif status is not None and status >= 400:
                kind = str(status)
            attributes, key = self.shape.series(status, kind)
            record(_DURATION, duration, attributes, key)
            span = self.span
            if span is not None:
                if status is not None:
                    span.set_attribute(HTTP_RESPONSE_STATUS_CODE, status)
                if kind is not None:
                    span.set_attribute(ERROR_TYPE, kind)
                    span.set_status(Status(StatusCode.ERROR, kind))
                if error is not None:
                    span.record_exception(error, escaped=True)
                span.end()
        except Exception:
            report("outgoing HTTP call record")


def begin_call(method: str, host: str, port: int | None, headers: Any) -> Call | None:
    """Start recording a request; inject trace context into ``headers`` where the host allows.

    None (and nothing recorded) while instrumentation is suppressed: inside an
    SDK export, inside another recorded call (a client calling a client), or in
    watchkit's own calls (health probes, synthetic steps; see
    :mod:`watchkit._internal.suppression`).
    """
    try:
        # One context read for everything below; the SDK is handed it too, so
        # start_span, its sampler and the propagators do not read it again.
        context = _get_current()
        if context.get(_SUPPRESS) or context.get(_SUPPRESS_HTTP) or context.get(PLAIN_KEY):
            return None
        shape = _shape(method, host, port)
        span: trace.Span | None = None
        tracer = TRACER.get()
        if tracer is not None:
            span = tracer.start_span(
                shape.name, context, kind=_CLIENT, attributes=shape.span_attributes
            )
            if shape.propagate:
                _inject(headers, context=_set_span_in_context(span, context))
        token = _attach(_set_value(_SUPPRESS_HTTP, True, context))
        return Call(shape, span, token)
    except Exception:
        report("outgoing HTTP call start")
        return None


def send(
    wrapped: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    method: str,
    host: str,
    port: int | None,
    headers: Any,
) -> Any:
    """``wrapped(*args, **kwargs)``, a client's send, recorded as one call.

    The client adapters read method, host, port and headers from their own
    request type and hand the rest to this one path; the response needs a
    ``status_code`` (httpx and requests both have one).
    """
    call = begin_call(method, host, port, headers)
    if call is None:
        return wrapped(*args, **kwargs)
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as error:
        call.finish(None, error)
        raise
    call.finish(response.status_code)
    return response


async def send_async(
    wrapped: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    method: str,
    host: str,
    port: int | None,
    headers: Any,
) -> Any:
    """:func:`send` for an async client."""
    call = begin_call(method, host, port, headers)
    if call is None:
        return await wrapped(*args, **kwargs)
    try:
        response = await wrapped(*args, **kwargs)
    except BaseException as error:
        call.finish(None, error)
        raise
    call.finish(response.status_code)
    return response


def restore(owner: Any, name: str) -> None:
    """Undo ``wrapt.wrap_function_wrapper(owner, name, ...)`` if its wrapper is still there."""
    wrapper = owner.__dict__.get(name)
    if isinstance(wrapper, wrapt.FunctionWrapper):
        setattr(owner, name, wrapper.__wrapped__)
