"""Pure ASGI middleware: one server span and the RED metrics per request.

Works with any ASGI 3 application (Starlette, FastAPI, Quart, Litestar, plain
callables). It is a plain ASGI class, never Starlette's ``BaseHTTPMiddleware``,
so context variables (the current span, structlog's bound values) flow into the
application and back.

Example:
    >>> from watchkit.integrations.asgi import WatchkitMiddleware
    >>> async def app(scope, receive, send): ...
    >>> app = WatchkitMiddleware(app, capture_request_headers=["x-tenant"])

What it records per HTTP request: a SERVER span named ``{method} {route}``
(current while the application runs, parented to an incoming ``traceparent``),
``http.server.request.duration``, ``http.server.active_requests`` and the body
sizes; the request id (``X-Request-ID``) is echoed on the response and bound as
``request_id`` in structlog's context variables together with ``http.route``.
The duration covers the whole body: a streaming response ends when its last
chunk is sent (or the client disconnects, which is not a server error).

WebSocket connections get one span per connection and no duration point. On
the lifespan shutdown event the middleware flushes watchkit's pipeline, so a
server stopped with SIGTERM (uvicorn re-raises it after its graceful shutdown,
so atexit hooks never run) loses nothing.

The event loop serving the application is watched for lag
(``watchkit.runtime.event_loop.lag``) from the lifespan startup, or the first
request when the server runs no lifespan, once per loop; the lifespan shutdown
stops watching it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from opentelemetry.propagators.textmap import Getter

from watchkit._internal import guard
from watchkit._runtime import unwatch_event_loop, watch_event_loop
from watchkit.integrations import _http

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send", "WatchkitMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_MARK: Final = "watchkit.request"
_REQUEST_ID_HEADER: Final = b"x-request-id"
_DISCONNECT_ERRORS: Final = frozenset({"ClientDisconnect", "ClientDisconnected"})
_WHERE: Final = "watchkit.integrations.asgi.WatchkitMiddleware"


class _HeaderGetter(Getter[dict[bytes, bytes]]):
    """Reads propagation headers from ``dict(scope["headers"])``."""

    def get(self, carrier: dict[bytes, bytes], key: str) -> list[str] | None:
        value = carrier.get(key.lower().encode("latin-1"))
        return None if value is None else [value.decode("latin-1")]

    def keys(self, carrier: dict[bytes, bytes]) -> list[str]:
        return [key.decode("latin-1") for key in carrier]


_GETTER: Final = _HeaderGetter()


class _Scope(dict[str, Any]):
    """The scope handed to the application; notices when a router sets ``route``.

    Starlette's and FastAPI's routers store the matched route in ``scope["route"]``
    (by item assignment or ``update``); seeing that moment lets watchkit bind
    ``http.route`` into the log context before the endpoint runs.
    """

    __slots__ = ("base", "request")

    request: _http.ServerRequest
    base: str

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, value)
        if key == "route":
            self._route_selected()

    def update(self, *args: Any, **kwargs: Any) -> None:
        dict.update(self, *args, **kwargs)
        if "route" in kwargs or (args and isinstance(args[0], dict) and "route" in args[0]):
            self._route_selected()

    def _route_selected(self) -> None:
        try:
            path_format = getattr(dict.get(self, "route"), "path_format", None)
            if isinstance(path_format, str):
                root = dict.get(self, "root_path", "") or ""
                base = dict.get(self, "app_root_path", self.base) or ""
                prefix = root[len(base) :] if root.startswith(base) else ""
                self.request.set_route(prefix + path_format)
        except Exception:
            guard.report("asgi.route")


def _contrib_inside(app: object) -> bool:
    seen: set[int] = set()
    while app is not None and id(app) not in seen:
        seen.add(id(app))
        cls = type(app)
        if cls.__module__.startswith("opentelemetry.instrumentation.asgi"):
            return True
        app = getattr(app, "app", None)
    return False


class WatchkitMiddleware:
    """Instrument an ASGI application.

    Args:
        app: the ASGI application to wrap.
        **options: see :class:`watchkit.integrations._http.HttpOptions`:
            ``excluded_urls``, ``capture_request_headers``,
            ``capture_response_headers``, ``tracing``, ``request_hook``, ``response_hook``.

    Raises:
        ConfigError: an unknown option or an invalid value.

    Example:
        >>> async def app(scope, receive, send): ...
        >>> wrapped = WatchkitMiddleware(app, tracing=False)  # metrics only
    """

    def __init__(self, app: ASGIApp, **options: Unpack[_http.HttpOptions]) -> None:
        self.app = app
        self._config = _http.HttpConfig(options, _WHERE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._passthrough = _contrib_inside(app)
        if self._passthrough:
            _http.warn_once(
                "asgi-contrib",
                "watchkit: this ASGI app is already wrapped by the OpenTelemetry contrib "
                "middleware; watchkit adds no span or metrics of its own",
            )

    @classmethod
    def _with_config(cls, app: ASGIApp, config: _http.HttpConfig) -> WatchkitMiddleware:
        middleware = cls(app)
        middleware._config = config
        return middleware

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A worker serves from one loop: after the first call this is one C call and a
        # comparison. Under trio (anyio) there is no asyncio loop (None) to watch.
        loop = asyncio._get_running_loop()
        if loop is not self._loop and loop is not None:
            self._watch_loop(loop)
        kind = scope["type"]
        if kind == "http" and not self._passthrough:
            await self._http(scope, receive, send)
        elif kind == "websocket" and not self._passthrough:
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _watch_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._loop = loop
            watch_event_loop(loop)
        except Exception:
            guard.report("asgi.event_loop")

    # HTTP ------------------------------------------------------------------------
    def _start(self, scope: Scope, websocket: bool = False) -> _http.ServerRequest | None:
        if _MARK in scope:
            _http.warn_once(
                "asgi-twice",
                "watchkit: the ASGI middleware is applied twice to this app; "
                "the inner one records nothing",
            )
            return None
        if _http.already_instrumented(_WHERE):
            return None
        raw = scope.get("headers") or ()
        headers: dict[bytes, bytes] = dict(raw)
        config = self._config
        getter: _HeaderGetter | None = None
        if config.tracing:
            for name in _http.propagation_fields().as_bytes:
                if name in headers:
                    getter = _GETTER
                    break
        scheme = scope.get("scheme") or ("ws" if websocket else "http")
        host = headers.get(b"host")
        address: str | None
        port: int | None
        if host is not None:
            address, port = _http.parse_host(host.decode("latin-1"), scheme)
        else:
            server = scope.get("server")
            address, port = (server[0], server[1]) if server else (None, None)
        peer = scope.get("client")
        xff = headers.get(b"x-forwarded-for")
        fwd = headers.get(b"forwarded")
        agent = headers.get(b"user-agent")
        length = headers.get(b"content-length")
        rid = headers.get(_REQUEST_ID_HEADER)
        query = scope.get("query_string") or b""

        lookup = None
        if config.capture_request_headers:

            def lookup(name: str) -> list[str] | None:
                wanted = name.encode("latin-1")
                found = [v.decode("latin-1") for k, v in raw if k.lower() == wanted]
                return found or None

        return _http.start(
            config,
            method="GET" if websocket else scope.get("method", "GET"),
            path=scope.get("path", ""),
            scheme=scheme,
            version=scope.get("http_version"),
            carrier=headers,
            native=scope,
            getter=getter,
            request_id=None if rid is None else rid.decode("latin-1"),
            server_address=address,
            server_port=port,
            client_address=peer[0] if peer else None,
            forwarded_for=None if xff is None else xff.decode("latin-1"),
            forwarded=None if fwd is None else fwd.decode("latin-1"),
            user_agent=None if agent is None else agent.decode("latin-1"),
            query=query.decode("latin-1") if query else "",
            request_size=None if length is None else _http.number(length),
            header_lookup=lookup,
            websocket=websocket,
        )

    def _inner_scope(self, scope: Scope, request: _http.ServerRequest) -> _Scope:
        inner = _Scope(scope)
        inner.request = request
        inner.base = scope.get("root_path", "") or ""
        dict.__setitem__(inner, _MARK, request)
        return inner

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            request = self._start(scope)
        except Exception:
            guard.report("asgi.start")
            request = None
        if request is None:
            await self.app(scope, receive, send)
            return
        inner = self._inner_scope(scope, request)
        trailers = False
        complete = False

        async def wrapped_send(message: Message) -> None:
            nonlocal trailers, complete
            kind = message["type"]
            if kind == "http.response.body":
                request.response_size += len(message.get("body", b""))
                await send(message)
                if not message.get("more_body", False) and not trailers:
                    status = request.status
                    if status is not None and status >= 500:
                        # An error handler (Starlette's ServerErrorMiddleware) sends the
                        # 500 before re-raising: end when the exception reaches us.
                        complete = True
                    else:
                        request.finish()
                return
            if kind == "http.response.start":
                trailers = bool(message.get("trailers", False))
                try:
                    _response_start(request, message)
                except Exception:
                    guard.report("asgi.response_start")
                await send(message)
                return
            await send(message)
            if (kind == "http.response.trailers" and not message.get("more_trailers", False)) or (
                kind == "http.response.pathsend"
            ):
                request.finish()

        async def wrapped_receive() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not request.finished:
                request.disconnected = True
            return message

        try:
            await self.app(inner, wrapped_receive, wrapped_send)
        except BaseException as exc:
            request.escaped(exc, disconnected=type(exc).__name__ in _DISCONNECT_ERRORS)
            request.finish()
            raise
        else:
            if complete:
                request.finish()
            else:
                request.finish_incomplete()
        finally:
            request.exit()

    # WebSocket -------------------------------------------------------------------
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            request = self._start(scope, websocket=True)
        except Exception:
            guard.report("asgi.ws_start")
            request = None
        if request is None:
            await self.app(scope, receive, send)
            return
        inner = self._inner_scope(scope, request)
        try:
            await self.app(inner, receive, send)
        except BaseException as exc:
            if not _normal_close(exc):
                request.fail(exc)
            request.finish()
            raise
        else:
            request.finish()
        finally:
            request.exit()

    # Lifespan --------------------------------------------------------------------
    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def wrapped_send(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                loop, self._loop = self._loop, None
                if loop is not None:
                    unwatch_event_loop(loop)
                # Flush before the server learns shutdown is done and exits.
                _http.flush_telemetry()
            await send(message)

        await self.app(scope, receive, wrapped_send)


def _response_start(request: _http.ServerRequest, message: Message) -> None:
    request.status = message["status"]
    headers = message.get("headers") or []
    for key, _ in headers:
        if key.lower() == _REQUEST_ID_HEADER:
            break
    else:
        headers = [*headers, (_REQUEST_ID_HEADER, request.request_id.encode("latin-1"))]
        message["headers"] = headers
    if request.config.wants_response_headers:
        raw = headers

        def lookup(name: str) -> list[str] | None:
            wanted = name.encode("latin-1")
            found = [v.decode("latin-1") for k, v in raw if k.lower() == wanted]
            return found or None

        request.response_headers(lookup)


def _normal_close(exc: BaseException) -> bool:
    """A WebSocket closed normally (1000, 1001) is no error."""
    return type(exc).__name__ == "WebSocketDisconnect" and getattr(exc, "code", None) in (
        1000,
        1001,
    )
