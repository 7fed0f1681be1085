"""Django: add ``"watchkit.integrations.django.WatchkitMiddleware"`` to ``MIDDLEWARE``.

Put it first, so the span covers the other middleware too::

    MIDDLEWARE = [
        "watchkit.integrations.django.WatchkitMiddleware",
        "django.middleware.security.SecurityMiddleware",
        ...
    ]
    WATCHKIT = {"capture_request_headers": ["x-tenant"]}  # optional

The middleware also records Django's database queries (an execute wrapper on
every connection: spans, ``db.client.operation.duration``, slow queries, N+1)
and cache operations (every backend of ``caches``, ``cache.name`` = the alias).
``WATCHKIT["databases"]`` is ``True`` (default), ``False`` or a dict of
thresholds (``slow_query_threshold``, ``n_plus_one_count``,
``n_plus_one_duration``); ``WATCHKIT["caches"]`` is ``True`` (default),
``False`` or a list of aliases. :func:`instrument_databases` and
:func:`instrument_caches` do the same without the middleware.

The middleware is sync- and async-capable, so it adds no thread hop under
ASGI. The route template is ``request.resolver_match.route`` (with a leading
``/``), recorded and bound into the log context in ``process_view``, before the
view runs; a 404 that matched no URL pattern has no ``http.route``. View
exceptions are noted in ``process_exception`` and the status is the one
Django's error handling produced: an exception it turns into a 5xx is recorded
(``error.type``, exception event); one it turns into a 4xx (``Http404``,
``PermissionDenied``, ``BadRequest``, ``SuspiciousOperation``) is not a server
error and only the status is recorded. Streaming responses are timed until the
server closes them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from watchkit._db._record import check_thresholds
from watchkit._exceptions import ConfigError
from watchkit._internal import guard
from watchkit.integrations import _django_cache, _django_db, _http
from watchkit.integrations.wsgi import start_from_environ

try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction
    from django.conf import settings  # type: ignore[import-untyped]
    from django.core.exceptions import MiddlewareNotUsed  # type: ignore[import-untyped]
    from django.http import HttpRequest, HttpResponseBase  # type: ignore[import-untyped]
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "watchkit.integrations.django needs Django: pip install 'watchkit[django]'"
    ) from error

__all__ = ["WatchkitMiddleware", "instrument_caches", "instrument_databases"]

_ATTR: Final = "_watchkit_request"
_EXCEPTION: Final = "_watchkit_exception"
_WHERE: Final = "watchkit.integrations.django.WatchkitMiddleware"
_CONTRIB: Final = (
    "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"
)
_ROUTES: dict[str, str] = {}


def _template(route: str) -> str:
    found = _ROUTES.get(route)
    if found is None:
        found = route.removeprefix("^").removesuffix("$") if route.startswith("^") else route
        if not found.startswith("/"):
            found = "/" + found
        if len(_ROUTES) < 4096:
            _ROUTES[route] = found
    return found


class WatchkitMiddleware:
    """Django middleware: one server span and the RED metrics per request.

    Options come from the ``WATCHKIT`` dict in Django settings
    (``excluded_urls``, ``capture_request_headers``, ``capture_response_headers``,
    ``tracing``). Listed twice, or next to the OpenTelemetry contrib Django
    middleware, it removes itself with one warning.

    Raises:
        ConfigError: ``settings.WATCHKIT`` holds an unknown option or invalid value.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        options = dict(getattr(settings, "WATCHKIT", None) or {})
        databases = options.pop("databases", True)
        cache_aliases = options.pop("caches", True)
        self._config = _http.HttpConfig(options, f"{_WHERE} (settings.WATCHKIT)")
        _hook_dependencies(databases, cache_aliases)
        middleware = list(getattr(settings, "MIDDLEWARE", ()) or ())
        if _CONTRIB in middleware:
            _http.warn_once(
                "django-contrib",
                "watchkit: the OpenTelemetry contrib Django middleware is in MIDDLEWARE; "
                "watchkit's middleware removes itself (remove the contrib one to use watchkit's)",
            )
            raise MiddlewareNotUsed("OpenTelemetry contrib middleware present")
        if middleware.count("watchkit.integrations.django.WatchkitMiddleware") > 1:
            _http.warn_once(
                "django-twice",
                "watchkit: WatchkitMiddleware is listed twice in MIDDLEWARE; "
                "only the outer one records",
            )
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)
            # Async handler: a coroutine process_view runs in the request's task,
            # so the log-context binding lands in the context the view sees.
            self.process_view = self._process_view_async  # type: ignore[method-assign,assignment]

    # Hooks -----------------------------------------------------------------------
    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: Any,
    ) -> None:
        """Record the matched route template before the view runs."""
        try:
            state = getattr(request, _ATTR, None)
            match = request.resolver_match
            if state is not None and match is not None and match.route:
                state.set_route(_template(match.route))
        except Exception:
            guard.report("django.route")

    async def _process_view_async(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: Any,
    ) -> None:
        WatchkitMiddleware.process_view(self, request, view_func, view_args, view_kwargs)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Note a view's exception; recorded once the response shows it was a server error."""
        try:
            if getattr(request, _ATTR, None) is not None:
                setattr(request, _EXCEPTION, exception)
        except Exception:
            guard.report("django.exception")

    # The request -----------------------------------------------------------------
    def _start(self, request: HttpRequest) -> _http.ServerRequest | None:
        if getattr(request, _ATTR, None) is not None or _http.already_instrumented(_WHERE):
            return None
        state = start_from_environ(self._config, request.META)
        if state is not None:
            setattr(request, _ATTR, state)
        return state

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        try:
            state = self._start(request)
        except Exception:
            guard.report("django.start")
            state = None
        if state is None:
            return self.get_response(request)
        try:
            response = self.get_response(request)
        except BaseException as exc:
            state.escaped(exc)
            state.finish()
            raise
        else:
            _responded(state, response, request)
        finally:
            state.exit()
        return response

    async def __acall__(self, request: HttpRequest) -> Any:
        try:
            state = self._start(request)
        except Exception:
            guard.report("django.start")
            state = None
        get_response: Callable[[HttpRequest], Awaitable[Any]] = self.get_response
        if state is None:
            return await get_response(request)
        try:
            response = await get_response(request)
        except BaseException as exc:
            state.escaped(exc)
            state.finish()
            raise
        else:
            _responded(state, response, request)
        finally:
            state.exit()
        return response


def instrument_databases(
    *,
    slow_query_threshold: float = 0.1,
    n_plus_one_count: int = 5,
    n_plus_one_duration: float = 0.05,
) -> None:
    """Record every query of every Django database connection, as ``watchkit.db`` does.

    Installs an execute wrapper on each connection as it connects (and on this
    thread's open ones). Idempotent; the middleware calls it unless
    ``WATCHKIT["databases"]`` is ``False``. A driver connection the application
    wrapped with :func:`watchkit.db.instrument_connection` is recorded once, by
    that proxy; one the contrib dbapi instrumentation wraps gets no contrib span.

    Raises:
        ValueError: a threshold is out of range.
    """
    check_thresholds(slow_query_threshold, n_plus_one_count, n_plus_one_duration)
    _django_db.install(
        _django_db.DatabaseOptions(slow_query_threshold, n_plus_one_count, n_plus_one_duration)
    )


def instrument_caches(aliases: list[str] | None = None) -> None:
    """Record the operations of Django's cache backends as ``watchkit.cache`` operations.

    ``cache.name`` is the alias; a ``get`` returning the caller's default
    because the key is absent is a miss, a cached ``None`` a hit. Idempotent;
    the middleware calls it unless ``WATCHKIT["caches"]`` is ``False``.

    Args:
        aliases: the aliases of ``settings.CACHES`` to record (default: all).

    Raises:
        ValueError: an alias is not in ``settings.CACHES``.
    """
    _django_cache.install(aliases)


def _hook_dependencies(databases: Any, cache_aliases: Any) -> None:
    where = f"{_WHERE} (settings.WATCHKIT)"
    try:
        if databases is True:
            instrument_databases()
        elif isinstance(databases, dict):
            instrument_databases(**databases)
        elif databases is not False:
            raise ConfigError(
                f"{where}: 'databases' must be True, False or a dict of thresholds, "
                f"got {databases!r}"
            )
        if cache_aliases is True:
            instrument_caches()
        elif isinstance(cache_aliases, (list, tuple)):
            instrument_caches(list(cache_aliases))
        elif cache_aliases is not False:
            raise ConfigError(
                f"{where}: 'caches' must be True, False or a list of aliases, got {cache_aliases!r}"
            )
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from error


def _responded(
    state: _http.ServerRequest, response: HttpResponseBase, request: HttpRequest
) -> None:
    try:
        state.status = response.status_code
        exception = request.__dict__.get(_EXCEPTION)
        if exception is not None and state.status >= 500:
            # Django turned the view's exception into this 5xx; a 4xx (Http404,
            # PermissionDenied, ...) is the client's error, not the server's.
            state.fail(exception)
        if "X-Request-ID" not in response:
            response["X-Request-ID"] = state.request_id
        if state.config.wants_response_headers:
            state.response_headers(lambda name: _header(response, name))
        closers = getattr(response, "_resource_closers", None)
        if getattr(response, "streaming", False) and isinstance(closers, list):
            # Streaming bodies are sent after the middleware returns: the request
            # ends when the server closes the response.
            state.response_size = -1  # not counted for streaming bodies
            closers.append(state.finish)
            return
        content = getattr(response, "content", None) if not response.streaming else None
        if isinstance(content, bytes):
            state.response_size = len(content)
        state.finish()
    except Exception:
        guard.report("django.respond")


def _header(response: HttpResponseBase, name: str) -> list[str] | None:
    if name == "set-cookie":  # Django keeps cookies apart from the headers
        cookies = [c.output(header="").strip() for c in response.cookies.values()]
        return cookies or None
    return [response[name]] if name in response else None
