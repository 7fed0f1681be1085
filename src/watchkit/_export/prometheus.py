"""A Prometheus pull endpoint: the SDK's Prometheus reader, served on a port or mounted in the app.

OTLP push stays the default; this is for users without a collector. The
reader is the SDK's own (``opentelemetry-exporter-prometheus``, extra
``watchkit[prometheus]``), so names follow the specification's translation.
It gets its own ``prometheus_client`` registry, so a reconfiguration (or a test)
never finds the previous pipeline's collector still registered.

``service.name``, ``service.namespace`` and ``deployment.environment.name``
are copied from the resource onto every series: dashboards built for
OpenTelemetry data (grafana.com 22784, the OpenTelemetry demo's) filter every
panel on them, and with a plain reader they exist only on ``target_info``.

One process only. Under a pre-fork server each worker has its own metrics, so
a port shared by the workers would show one worker per scrape; watchkit
refuses instead: the second process binding the same port gets a
:class:`~watchkit.ConfigError` at ``configure()`` saying to give each worker its
own port (and a scrape target) or to push OTLP to a collector. After a fork
the server thread stays in the parent, which serves only its own metrics; a
mounted app called in a forked child serves an empty scrape and logs one
error naming the same choices.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from watchkit._exceptions import ConfigError
from watchkit._internal import guard, semconv
from watchkit._internal.guard import internal_logger

__all__ = ["PrometheusEndpoint", "current", "prometheus_asgi_app", "prometheus_wsgi_app", "start"]

_HINT = "the Prometheus endpoint needs pip install 'watchkit[prometheus]'"
_PREFORK = (
    "under a pre-fork server give each worker its own prometheus_port (and scrape each), "
    "or push OTLP to a collector; one shared port would show one worker per scrape"
)
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_current: PrometheusEndpoint | None = None


class PrometheusEndpoint:
    """The reader of the current pipeline and, when a port was given, its HTTP server."""

    def __init__(self, port: int, host: str) -> None:
        try:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import CollectorRegistry
        except ImportError as error:  # pragma: no cover - the dev extra installs it
            raise ImportError(_HINT) from error
        promoted = frozenset(semconv.PROMOTED_RESOURCE_ATTRIBUTES)
        self.registry = CollectorRegistry(auto_describe=False)
        self.reader = PrometheusMetricReader(
            registry=self.registry, resource_attribute_filter=promoted.__contains__
        )
        self.pid = os.getpid()
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        if port:
            self._serve(port, host)

    def _serve(self, port: int, host: str) -> None:
        from prometheus_client import start_http_server

        try:
            self._server, self._thread = start_http_server(port, host, registry=self.registry)
        except OSError as error:
            self.reader.shutdown()
            if error.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"prometheus_port = {port} is already in use (another process serves it); "
                    + _PREFORK
                ) from None
            raise ConfigError(f"prometheus_port = {port} cannot be served: {error}") from None
        self.port = self._server.server_port

    def render(self) -> bytes:
        """The exposition text of a scrape, as ``/metrics`` serves it."""
        from prometheus_client import generate_latest

        if os.getpid() != self.pid:
            _forked_once()
            return b""
        return bytes(generate_latest(self.registry))

    def stop(self) -> None:
        """Stop serving and unregister the reader; safe to call twice."""
        global _current
        if self._server is not None and os.getpid() == self.pid:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if _current is self:
            _current = None


_forked_logged = False


def _forked_once() -> None:
    global _forked_logged
    if not _forked_logged:
        _forked_logged = True
        internal_logger.error("watchkit: the Prometheus endpoint serves only its parent; %s",
                              _PREFORK)  # fmt: skip


def start(port: int, host: str = "127.0.0.1") -> PrometheusEndpoint:
    """Create the reader (and serve it on ``port`` unless 0); it becomes :func:`current`.

    Raises:
        ConfigError: the port is taken or cannot be bound.
    """
    global _current
    endpoint = PrometheusEndpoint(port, host)
    _current = endpoint
    return endpoint


def current() -> PrometheusEndpoint | None:
    """The endpoint of the configured pipeline, if ``prometheus_port`` is set."""
    return _current


def _body() -> bytes:
    endpoint = _current
    return b"" if endpoint is None else endpoint.render()


def prometheus_wsgi_app(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """A WSGI app serving the current pipeline's metrics (mount it at ``/metrics``)."""
    try:
        body = _body()
    except Exception:
        guard.report("watchkit._export.prometheus")
        body = b""
    start_response("200 OK", [("Content-Type", _CONTENT_TYPE), ("Content-Length", str(len(body)))])
    return [body]


async def prometheus_asgi_app(scope: dict[str, Any], receive: Callable[..., Any],
                   send: Callable[..., Any]) -> None:  # fmt: skip
    """An ASGI app serving the current pipeline's metrics (mount it at ``/metrics``)."""
    if scope.get("type") != "http":
        return
    try:
        body = _body()
    except Exception:
        guard.report("watchkit._export.prometheus")
        body = b""
    headers = [(b"content-type", _CONTENT_TYPE.encode()),
               (b"content-length", str(len(body)).encode())]  # fmt: skip
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
