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

Patterns are exact host names or ``*.suffix``; they match the host only, never
the path or query string (a domain in a query parameter must not count).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

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

__all__ = ["HostMap", "Route", "begin_call", "configure_hosts", "current_hosts"]

OTHER: Final = "_OTHER"
_MAX_CACHED_HOSTS: Final = 4096

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
_get_value = otel_context.get_value


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


def _check_pattern(pattern: object, where: str) -> str:
    if not isinstance(pattern, str) or not pattern or "/" in pattern or "*" in pattern[1:]:
        raise ValueError(
            f"{where} entry {pattern!r} is invalid: use a host name (api.stripe.com) or "
            "a '*.' suffix pattern (*.stripe.com); no scheme, port or path"
        )
    return pattern.lower()


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
        self.dependencies: list[tuple[str, str]] = []
        for name, hosts in (dependencies or {}).items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"dependencies keys must be non-empty names, got {name!r}")
            if isinstance(hosts, str):
                raise ValueError(
                    f"dependencies[{name!r}] must be a list of hosts, not the string {hosts!r}"
                )
            for host in hosts:
                self.dependencies.append((_check_pattern(host, f"dependencies[{name!r}]"), name))
        if isinstance(internal, str):
            raise ValueError(f"internal must be a list of hosts, not the string {internal!r}")
        self.internal = [_check_pattern(host, "internal") for host in internal]
        self.propagate = propagate
        self._cache: dict[str, Route] = {}
        self._lock = threading.Lock()

    def route(self, host: str) -> Route:
        """The :class:`Route` of ``host`` (lower-cased, without port)."""
        found = self._cache.get(host)
        if found is not None:
            return found
        name = host.lower().rstrip(".")
        route = Route(OTHER, None, False)
        for pattern, dependency in self.dependencies:
            if _matches(name, pattern):
                route = Route(name, dependency, self.propagate)
                break
        else:
            if any(_matches(name, pattern) for pattern in self.internal):
                route = Route(name, None, True)
        with self._lock:
            if len(self._cache) >= _MAX_CACHED_HOSTS:
                self._cache.clear()
            self._cache[host] = route
        return route

    def dependency_of(self, name: str) -> bool:
        """Whether ``name`` is a declared dependency."""
        return any(dependency == name for _, dependency in self.dependencies)


_hosts = HostMap()


def configure_hosts(hosts: HostMap) -> None:
    """Install the host map every instrumented client uses."""
    global _hosts
    _hosts = hosts


def current_hosts() -> HostMap:
    """The host map in use."""
    return _hosts


class Call:
    """One outgoing request in flight (see :func:`begin_call`)."""

    __slots__ = ("attributes", "span", "start", "token")

    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}
        self.span: trace.Span | None = None
        self.token: object = None
        self.start = 0.0

    def finish(self, status: int | None, error: BaseException | None = None) -> None:
        """Record the call: ``status`` is the response status code (None if there is none)."""
        try:
            duration = time.perf_counter() - self.start
            if self.token is not None:
                otel_context.detach(self.token)  # type: ignore[arg-type]
            attributes = self.attributes
            kind: str | None = None
            if error is not None:
                kind = error_type(error)
            elif status is not None and status >= 400:
                kind = str(status)
            if status is not None:
                attributes[HTTP_RESPONSE_STATUS_CODE] = status
            if kind is not None:
                attributes[ERROR_TYPE] = kind
            record(_DURATION, duration, attributes, attributes_key(attributes))
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
        if _get_value(_SUPPRESS) or _get_value(_SUPPRESS_HTTP) or _get_value(PLAIN_KEY):
            return None
        route = _hosts.route(host)
        call = Call()
        method = method.upper()
        known = method if method in HTTP_KNOWN_METHODS else HTTP_METHOD_OTHER
        attributes = call.attributes
        attributes[HTTP_REQUEST_METHOD] = known
        attributes[SERVER_ADDRESS] = route.address
        if port is not None and route.address != OTHER:
            attributes[SERVER_PORT] = port
        if route.peer is not None:
            attributes[SERVICE_PEER_NAME] = route.peer
        tracer = TRACER.get()
        if tracer is not None:
            span_attributes = dict(attributes)
            if route.address == OTHER:
                # The span may name the real host: it is not a metric series.
                span_attributes[SERVER_ADDRESS] = host
            # Span name: the method (semconv, when no url.template is known).
            name = known if known != HTTP_METHOD_OTHER else "HTTP"
            call.span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=span_attributes)
            if route.propagate:
                propagate.inject(headers, context=trace.set_span_in_context(call.span))
        call.token = otel_context.attach(otel_context.set_value(_SUPPRESS_HTTP, True))
        call.start = time.perf_counter()
        return call
    except Exception:
        report("outgoing HTTP call start")
        return None
