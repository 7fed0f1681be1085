"""WSGI middleware: one server span and the RED metrics per request.

Wraps ``start_response`` (status, response headers, the echoed
``X-Request-ID``) and the body iterator: the request ends when the server
closes the body, so a streaming (generator) response is timed until its last
chunk, as PEP 3333 and the semantic conventions intend.

Example:
    >>> from watchkit.integrations.wsgi import WatchkitMiddleware
    >>> def app(environ, start_response):
    ...     start_response("200 OK", [("Content-Type", "text/plain")])
    ...     return [b"ok"]
    >>> app = WatchkitMiddleware(app)

The span is current (and ``request_id``/``http.route`` are bound in structlog's
context variables) from the start of the request until the body is closed.
Route templates come from the framework adapters (``instrument_flask``, the
Django middleware); a bare WSGI app has no route, so spans are named
``{method}``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from opentelemetry.propagators.textmap import Getter

from watchkit._internal import guard
from watchkit.integrations import _http

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

__all__ = ["Environ", "StartResponse", "WSGIApp", "WatchkitMiddleware"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

ENVIRON_KEY: Final = "watchkit.request"
_WHERE: Final = "watchkit.integrations.wsgi.WatchkitMiddleware"
_ENV_NAMES: dict[str, str] = {}


def environ_name(header: str) -> str:
    """``X-Request-ID`` -> ``HTTP_X_REQUEST_ID`` (cached)."""
    found = _ENV_NAMES.get(header)
    if found is None:
        lowered = header.lower()
        if lowered == "content-type":
            found = "CONTENT_TYPE"
        elif lowered == "content-length":
            found = "CONTENT_LENGTH"
        else:
            found = "HTTP_" + lowered.upper().replace("-", "_")
        if len(_ENV_NAMES) < 1024:
            _ENV_NAMES[header] = found
    return found


class _EnvironGetter(Getter[Environ]):
    def get(self, carrier: Environ, key: str) -> list[str] | None:
        value = carrier.get(environ_name(key))
        return None if value is None else [value]

    def keys(self, carrier: Environ) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


ENVIRON_GETTER: Final = _EnvironGetter()


def start_from_environ(config: _http.HttpConfig, environ: Environ) -> _http.ServerRequest | None:
    """Begin a request described by a WSGI environ (shared with the Django middleware)."""
    getter = None
    if config.tracing:
        for field in _http.propagation_fields().as_str:
            if environ_name(field) in environ:
                getter = ENVIRON_GETTER
                break
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    address: str | None
    port: int | None
    if host:
        address, port = _http.parse_host(host, scheme)
    else:
        address = environ.get("SERVER_NAME")
        port = _http.port_number(environ.get("SERVER_PORT"))
    protocol = environ.get("SERVER_PROTOCOL", "")
    version = protocol[5:] if protocol.startswith("HTTP/") else None
    length = environ.get("CONTENT_LENGTH")

    lookup = None
    if config.capture_request_headers:

        def lookup(name: str) -> list[str] | None:
            value = environ.get(environ_name(name))
            return None if value is None else [value]

    path = environ.get("PATH_INFO", "")
    script = environ.get("SCRIPT_NAME", "")
    return _http.start(
        config,
        method=environ.get("REQUEST_METHOD", "GET"),
        path=script + path if script else path,
        scheme=scheme,
        version=version,
        carrier=environ,
        getter=getter,
        request_id=environ.get("HTTP_X_REQUEST_ID"),
        server_address=address,
        server_port=port,
        client_address=environ.get("REMOTE_ADDR"),
        forwarded_for=environ.get("HTTP_X_FORWARDED_FOR"),
        forwarded=environ.get("HTTP_FORWARDED"),
        user_agent=environ.get("HTTP_USER_AGENT"),
        query=environ.get("QUERY_STRING", ""),
        request_size=None if length is None else _http.number(length),
        header_lookup=lookup,
    )


def response_started(
    request: _http.ServerRequest, status: str, headers: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Note the status, capture response headers; returns headers with X-Request-ID added."""
    code = status[:3]
    request.status = int(code) if code.isdigit() else None
    for key, _ in headers:
        if key.lower() == "x-request-id":
            break
    else:
        headers = [*headers, ("X-Request-ID", request.request_id)]
    if request.config.wants_response_headers:
        found = headers

        def lookup(name: str) -> list[str] | None:
            values = [v for k, v in found if k.lower() == name]
            return values or None

        request.response_headers(lookup)
    return headers


class _Body:
    """The response body, counted while iterated; closing it ends the request."""

    __slots__ = ("_body", "_iterator", "_request")

    def __init__(self, body: Iterable[bytes], request: _http.ServerRequest) -> None:
        self._body = body
        self._iterator: Iterator[bytes] | None = None
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = iter(self._body)
        request = self._request
        try:
            chunk = next(iterator)
        except StopIteration:
            raise
        except BaseException as exc:
            request.escaped(exc, disconnected=_disconnect(exc))
            raise
        request.response_size += len(chunk)
        return chunk

    def close(self) -> None:
        request = self._request
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            request.escaped(exc, disconnected=_disconnect(exc))
            raise
        finally:
            _end(request)

    def __del__(self) -> None:
        # Fallback for a server that drops the body without closing it (a PEP 3333
        # violation): werkzeug's dev server skips close() when the client resets the
        # connection while it drains the request. Its thread-per-request model means
        # _close_stale() never sees that thread again, so record the request here.
        try:
            request = self._request
            if request.finished:
                return
            if getattr(_open, "request", None) is request:
                _end(request)  # the request's own thread: restore its context too
            else:
                # Another thread (or the collector): the context belongs to the
                # server's thread, whose next request restores it via _close_stale().
                request.finish()
        except Exception:
            guard.report("wsgi.dropped_body")


def _time_file(body: Any, request: _http.ServerRequest, headers: list[tuple[str, str]]) -> bool:
    """Let the server send a ``wsgi.file_wrapper`` body itself, ending the request at close().

    Servers recognise their own file wrapper by its type (gunicorn:
    ``isinstance(respiter, environ["wsgi.file_wrapper"])``) and then send the
    file with ``sendfile()``; wrapping it in :class:`_Body` would hide it and
    copy the file through Python. The body object is handed back as it is,
    with its ``close`` replaced so the request still ends when the server has
    sent the file. The body size is the ``Content-Length`` (not counted).
    False when ``close`` cannot be replaced (the caller wraps the body then).
    """
    original = getattr(body, "close", None)

    def close() -> None:
        try:
            if original is not None:
                original()
        except BaseException as exc:
            request.escaped(exc, disconnected=_disconnect(exc))
            raise
        finally:
            _end(request)

    try:
        body.close = close
    except (AttributeError, TypeError):  # __slots__ or a read-only attribute
        return False
    length = next((v for k, v in headers if k.lower() == "content-length"), None)
    size = _http.number(length) if length is not None else None
    request.response_size = -1 if size is None else size
    return True


def _disconnect(exc: BaseException) -> bool:
    return isinstance(exc, (BrokenPipeError, ConnectionResetError))


def _end(request: _http.ServerRequest) -> None:
    """The server closed the body (or dropped it): the request ends here."""
    if request.status is None and request.error_type is None:
        request.status = 500  # start_response was never called
    request.finish()
    request.exit()
    if getattr(_open, "request", None) is request:
        _open.request = None


# The request whose body this thread's server has not closed yet. WSGI servers
# handle one request at a time per thread and close the body in that thread.
_open = threading.local()


def _close_stale() -> None:
    stale = getattr(_open, "request", None)
    if stale is not None:
        # The server never closed the previous body (a PEP 3333 violation): do not
        # let its span stay current for this request.
        _open.request = None
        _end(stale)


class WatchkitMiddleware:
    """Instrument a WSGI application.

    Args:
        app: the WSGI application to wrap.
        **options: ``excluded_urls``, ``capture_request_headers``,
            ``capture_response_headers``, ``tracing``, ``request_hook``,
            ``response_hook`` (see the integrations docs).

    Raises:
        ConfigError: an unknown option or an invalid value.

    Example:
        >>> def app(environ, start_response):
        ...     start_response("204 No Content", [])
        ...     return []
        >>> wrapped = WatchkitMiddleware(app, excluded_urls=[r"^/metrics$"])
    """

    def __init__(self, app: WSGIApp, **options: Unpack[_http.HttpOptions]) -> None:
        self.app = app
        self._config = _http.HttpConfig(options, _WHERE)

    @classmethod
    def _with_config(cls, app: WSGIApp, config: _http.HttpConfig) -> WatchkitMiddleware:
        middleware = cls(app)
        middleware._config = config
        return middleware

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request: _http.ServerRequest | None
        try:
            if ENVIRON_KEY in environ:
                _http.warn_once(
                    "wsgi-twice",
                    "watchkit: the WSGI middleware is applied twice to this app; "
                    "the inner one records nothing",
                )
                request = None
            else:
                _close_stale()
                if _http.already_instrumented(_WHERE):
                    request = None
                else:
                    request = start_from_environ(self._config, environ)
                    _open.request = request
        except Exception:
            guard.report("wsgi.start")
            request = None
        if request is None:
            return self.app(environ, start_response)
        environ[ENVIRON_KEY] = request
        sent: list[list[tuple[str, str]]] = []

        def wrapped_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            try:
                headers = response_started(request, status, headers)
                sent.append(headers)
            except Exception:
                guard.report("wsgi.start_response")
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, wrapped_start_response)
        except BaseException as exc:
            request.escaped(exc, disconnected=_disconnect(exc))
            _end(request)
            raise
        # The span stays current (for generator bodies' log lines) until close().
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
            timed = _time_file(body, request, sent[-1] if sent else [])
            if timed:
                return body
        return _Body(body, request)
