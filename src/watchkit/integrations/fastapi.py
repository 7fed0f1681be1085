"""FastAPI: ``instrument_fastapi(app)``: one server span and one set of HTTP metrics per request.

FastAPI 0.16x ships its own OpenTelemetry telemetry that switches itself on as
soon as global SDK providers exist (which ``watchkit.configure()`` installs): a
server span plus dependency, endpoint and serialization spans, its own
``http.server.request.duration`` and exception log records; it also exports
``url.query`` without redacting ``token=``. It stands down only for a contrib
middleware in the stack or through ``FastAPI(telemetry=...)``.

``instrument_fastapi`` therefore switches FastAPI's own telemetry **off** for the
instrumented app (tracing, metrics, logs and operation spans of its
``telemetry`` settings; the same as ``FastAPI(telemetry={"tracing": False,
"metrics": False, "logs": False})``) and installs watchkit's ASGI middleware
around the whole stack. Other FastAPI apps in the process are not touched.

Example:
    >>> from fastapi import FastAPI
    >>> import watchkit
    >>> app = FastAPI()
    >>> watchkit.instrument_fastapi(app)
"""

from __future__ import annotations

import sys
from typing import Any, cast

from watchkit.integrations import _http

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

try:
    from fastapi import FastAPI
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "watchkit.instrument_fastapi needs FastAPI: pip install 'watchkit[fastapi]'"
    ) from error

from watchkit.integrations.starlette import _uninstrument_app, instrument_app

__all__ = ["instrument_fastapi", "native_telemetry_enabled", "uninstrument_fastapi"]

_NATIVE_SWITCHES = ("tracing", "metrics", "logs", "operation_spans")
_SAVED = "_watchkit_native_telemetry"


def _switch_off_native_telemetry(app: Any) -> None:
    config: Any = getattr(app, "_telemetry", None)
    native: Any = getattr(app, "_native_telemetry", None)
    if config is None and native is None:
        return  # a FastAPI release without built-in telemetry
    if (
        isinstance(config, dict)
        and all(key in config for key in _NATIVE_SWITCHES)
        and getattr(native, "config", None) is config
    ):
        # The same dict FastAPI(telemetry=...) fills; NativeTelemetry reads it per request.
        switches = cast("dict[str, Any]", config)
        setattr(app, _SAVED, {key: switches[key] for key in _NATIVE_SWITCHES})
        for key in _NATIVE_SWITCHES:
            switches[key] = False
        return
    _http.warn_once(
        "fastapi-native",
        "watchkit: could not switch off FastAPI's built-in telemetry in this FastAPI "
        "version; create the app with FastAPI(telemetry={'tracing': False, 'metrics': False, "
        "'logs': False}) to avoid duplicate spans and metrics",
    )


def native_telemetry_enabled(app: FastAPI) -> bool:
    """Whether FastAPI's built-in telemetry would record this app's requests."""
    native = getattr(app, "_native_telemetry", None)
    enabled = getattr(native, "enabled", None)
    return bool(enabled()) if callable(enabled) else False


def instrument_fastapi(app: FastAPI, **options: Unpack[_http.HttpOptions]) -> FastAPI:
    """Instrument a FastAPI application: one span and one set of HTTP metrics per request.

    FastAPI's own built-in telemetry is switched off for this app (watchkit's
    span replaces its server, dependency, endpoint and serialization spans).
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
        >>> from fastapi import FastAPI
        >>> import watchkit
        >>> app = watchkit.instrument_fastapi(FastAPI(), capture_request_headers=["x-tenant"])
    """
    if instrument_app(app, options, "watchkit.instrument_fastapi"):
        _switch_off_native_telemetry(app)
    return app


def uninstrument_fastapi(app: FastAPI) -> FastAPI:
    """Remove what :func:`instrument_fastapi` added and switch FastAPI's own telemetry back.

    An app that is not instrumented is returned unchanged.

    Args:
        app: the application.

    Returns:
        The same ``app``.

    Example:
        >>> from fastapi import FastAPI
        >>> import watchkit
        >>> app = watchkit.uninstrument_fastapi(watchkit.instrument_fastapi(FastAPI()))
    """
    if _uninstrument_app(app):
        saved = app.__dict__.pop(_SAVED, None)
        config: Any = getattr(app, "_telemetry", None)
        if isinstance(saved, dict) and isinstance(config, dict):
            config.update(saved)
    return app
