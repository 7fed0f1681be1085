"""Starlette: ``instrument_starlette(app)`` puts watchkit's ASGI middleware around the whole stack.

The middleware goes *outside* Starlette's ``ServerErrorMiddleware``, so the span
sees the 500 that error handling sends, exception handlers run with the span
current, and the route template comes from the router (``scope["route"]``).

Example:
    >>> from starlette.applications import Starlette
    >>> import watchkit
    >>> app = Starlette()
    >>> watchkit.instrument_starlette(app)
"""

from __future__ import annotations

import sys
from typing import Any, Final

from watchkit.integrations import _http
from watchkit.integrations.asgi import WatchkitMiddleware

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

try:
    from starlette.applications import Starlette
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "watchkit.instrument_starlette needs Starlette: pip install 'watchkit[starlette]'"
    ) from error

__all__ = ["instrument_starlette", "uninstrument_starlette"]

_FLAG: Final = "_watchkit_instrumented"


def instrument_app(app: Any, options: _http.HttpOptions, where: str) -> bool:
    """Wrap ``app``'s middleware stack; False (with one warning) if already instrumented."""
    config = _http.HttpConfig(options, where)  # wrong options fail here, early
    if getattr(app, _FLAG, False):
        _http.warn_once(
            f"twice:{id(app)}",
            "watchkit: %s was called twice on the same app; the second call does nothing",
            where,
        )
        return False
    contrib = getattr(app, "_is_instrumented_by_opentelemetry", False) or type(app).__name__ in (
        "_InstrumentedFastAPI",
        "_InstrumentedStarlette",
    )
    if contrib:
        _http.warn_once(
            f"contrib:{id(app)}",
            "watchkit: this app is already instrumented by OpenTelemetry contrib; %s "
            "adds nothing (remove the contrib instrumentation to use watchkit's)",
            where,
        )
        return False
    build = app.build_middleware_stack

    def build_middleware_stack() -> Any:
        return WatchkitMiddleware._with_config(build(), config)

    # Instance attribute: Starlette calls self.build_middleware_stack() lazily;
    # _uninstrument_app deletes it, which brings back the class's method.
    setattr(app, "build_middleware_stack", build_middleware_stack)  # noqa: B010
    if getattr(app, "middleware_stack", None) is not None:
        app.middleware_stack = build_middleware_stack()
    setattr(app, _FLAG, True)
    return True


def _uninstrument_app(app: Any) -> bool:
    """Undo :func:`instrument_app`; False if ``app`` was not instrumented by it."""
    if not getattr(app, _FLAG, False):
        return False
    app.__dict__.pop("build_middleware_stack", None)
    if getattr(app, "middleware_stack", None) is not None:
        app.middleware_stack = app.build_middleware_stack()
    delattr(app, _FLAG)
    return True


def instrument_starlette(app: Starlette, **options: Unpack[_http.HttpOptions]) -> Starlette:
    """Instrument a Starlette application (one span and the RED metrics per request).

    Applying it twice, or to an app instrumented by OpenTelemetry contrib, logs
    one warning and changes nothing.

    Args:
        app: the application.
        **options: ``excluded_urls``, ``capture_request_headers``,
            ``capture_response_headers``, ``tracing``, ``request_hook``,
            ``response_hook`` (see the integrations docs).

    Returns:
        The same ``app``.

    Raises:
        ConfigError: an unknown option or an invalid value.

    Example:
        >>> from starlette.applications import Starlette
        >>> import watchkit
        >>> app = watchkit.instrument_starlette(Starlette(), tracing=False)
    """
    instrument_app(app, options, "watchkit.instrument_starlette")
    return app


def uninstrument_starlette(app: Starlette) -> Starlette:
    """Remove what :func:`instrument_starlette` added; the app is as before.

    An app that is not instrumented is returned unchanged.

    Args:
        app: the application.

    Returns:
        The same ``app``.

    Example:
        >>> from starlette.applications import Starlette
        >>> import watchkit
        >>> app = watchkit.uninstrument_starlette(watchkit.instrument_starlette(Starlette()))
    """
    _uninstrument_app(app)
    return app
