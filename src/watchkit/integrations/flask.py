"""Flask: ``instrument_flask(app)``: one server span and the RED metrics per request.

watchkit's WSGI middleware wraps ``app.wsgi_app``; a URL-value preprocessor
(the first to run once Flask has matched the URL) records the rule template,
e.g. ``/orders/<int:order_id>``, as ``http.route`` and binds it into the log
context before any ``before_request`` hook or view runs. A 404 matched no rule
and so has no ``http.route``. Unhandled exceptions reach the span through
Flask's ``got_request_exception`` signal, with the 500 Flask turns them into.

Example:
    >>> from flask import Flask
    >>> import watchkit
    >>> app = Flask(__name__)
    >>> watchkit.instrument_flask(app)  # doctest: +ELLIPSIS
    <Flask ...>
"""

from __future__ import annotations

import sys
from typing import Any, Final

from watchkit._internal import guard
from watchkit.integrations import _http
from watchkit.integrations.wsgi import (
    ENVIRON_KEY,
    Environ,
    StartResponse,
    WatchkitMiddleware,
    WSGIApp,
)

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

try:
    import flask
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "watchkit.instrument_flask needs Flask: pip install 'watchkit[flask]'"
    ) from error

__all__ = ["instrument_flask", "uninstrument_flask"]

_EXTENSION: Final = "watchkit"
_WHERE: Final = "watchkit.instrument_flask"


def _route_selected(endpoint: str | None, values: dict[str, Any] | None) -> None:
    try:
        request = flask.request.environ.get(ENVIRON_KEY)
        rule = flask.request.url_rule
        if request is not None and rule is not None:
            request.set_route(rule.rule)
    except Exception:
        guard.report("flask.route")


def _exception(sender: Any, exception: BaseException, **_: Any) -> None:
    try:
        request = flask.request.environ.get(ENVIRON_KEY)
        if request is not None:
            request.fail(exception)
    except Exception:
        guard.report("flask.exception")


class _FlaskMiddleware(WatchkitMiddleware):
    """watchkit's WSGI middleware, standing aside while contrib instruments the same app.

    ``FlaskInstrumentor.instrument_app`` applied *after* ``instrument_flask``
    wraps this middleware and starts its own span in a ``before_request`` hook
    (under watchkit's): both would record every request.
    """

    def __init__(self, app: WSGIApp, config: _http.HttpConfig, flask_app: flask.Flask) -> None:
        super().__init__(app)
        self._config = config
        self._flask_app = flask_app
        self.disabled = False

    def __call__(self, environ: Environ, start_response: StartResponse) -> Any:
        if self.disabled:
            return self.app(environ, start_response)
        if self._flask_app.__dict__.get("_is_instrumented_by_opentelemetry"):
            _http.warn_once(
                f"flask-contrib:{id(self._flask_app)}",
                "watchkit: this Flask app is already instrumented by OpenTelemetry contrib; "
                "instrument_flask adds nothing (remove the contrib instrumentation to use "
                "watchkit's)",
            )
            return self.app(environ, start_response)
        return super().__call__(environ, start_response)


def instrument_flask(app: flask.Flask, **options: Unpack[_http.HttpOptions]) -> flask.Flask:
    """Instrument a Flask application (one span and the RED metrics per request).

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
        >>> from flask import Flask
        >>> import watchkit
        >>> app = watchkit.instrument_flask(Flask("orders"), tracing=False)
    """
    config = _http.HttpConfig(options, _WHERE)
    if _EXTENSION in app.extensions:
        _http.warn_once(
            f"flask-twice:{id(app)}",
            "watchkit: instrument_flask was called twice on the same app; "
            "the second call does nothing",
        )
        return app
    if getattr(app, "_is_instrumented_by_opentelemetry", False) or (
        type(app).__name__ == "_InstrumentedFlask"
    ):
        _http.warn_once(
            f"flask-contrib:{id(app)}",
            "watchkit: this Flask app is already instrumented by OpenTelemetry contrib; "
            "instrument_flask adds nothing (remove the contrib instrumentation to use watchkit's)",
        )
        return app
    middleware = _FlaskMiddleware(app.wsgi_app, config, app)
    app.wsgi_app = middleware  # type: ignore[method-assign]
    app.url_value_preprocessors.setdefault(None, []).insert(0, _route_selected)
    flask.got_request_exception.connect(_exception, app, weak=False)
    app.extensions[_EXTENSION] = middleware
    return app


def uninstrument_flask(app: flask.Flask) -> flask.Flask:
    """Remove what :func:`instrument_flask` added: ``app.wsgi_app``, the route hook, the signal.

    An app that is not instrumented is returned unchanged.

    Args:
        app: the application.

    Returns:
        The same ``app``.

    Example:
        >>> from flask import Flask
        >>> import watchkit
        >>> app = watchkit.uninstrument_flask(watchkit.instrument_flask(Flask("orders")))
    """
    middleware = app.extensions.get(_EXTENSION)
    if not isinstance(middleware, _FlaskMiddleware):
        return app
    if app.wsgi_app is middleware:
        app.wsgi_app = middleware.app  # type: ignore[method-assign,assignment]
    else:
        _http.warn_once(
            f"flask-unwrap:{id(app)}",
            "watchkit: app.wsgi_app was wrapped again after instrument_flask; "
            "uninstrument_flask leaves watchkit's middleware in that chain passing through",
        )
        middleware.disabled = True
    preprocessors = app.url_value_preprocessors.get(None, [])
    if _route_selected in preprocessors:
        preprocessors.remove(_route_selected)
    flask.got_request_exception.disconnect(_exception, app)
    del app.extensions[_EXTENSION]
    return app
