"""HTTP server integrations: FastAPI, Starlette, Flask, Django and generic ASGI/WSGI.

Importing this package imports no web framework; each ``instrument_*`` function
imports its framework when called and says which extra to install when it is
missing. Framework-neutral middleware lives in :mod:`watchkit.integrations.asgi`
and :mod:`watchkit.integrations.wsgi`; Django's in
:mod:`watchkit.integrations.django` (listed in ``MIDDLEWARE``).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from watchkit.integrations._http import HttpOptions, RequestHook, ResponseHook

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

if TYPE_CHECKING:
    from fastapi import FastAPI
    from flask import Flask
    from starlette.applications import Starlette

__all__ = [
    "HttpOptions",
    "RequestHook",
    "ResponseHook",
    "instrument_fastapi",
    "instrument_flask",
    "instrument_starlette",
    "uninstrument_fastapi",
    "uninstrument_flask",
    "uninstrument_starlette",
]

# Its public home, for repr() and the API reference; `_http` only defines it.
HttpOptions.__module__ = __name__


def _load(module: str, extra: str, framework: str) -> Any:
    try:
        return importlib.import_module(f"watchkit.integrations.{module}")
    except ImportError as error:
        if framework in sys.modules or error.name not in (framework, None):
            raise
        raise ImportError(
            f"watchkit.instrument_{module} needs {framework}: pip install 'watchkit[{extra}]'"
        ) from error


def instrument_fastapi(app: FastAPI, **options: Unpack[HttpOptions]) -> FastAPI:
    """Instrument a FastAPI app: one server span and one set of HTTP metrics per request.

    FastAPI's own built-in telemetry is switched off for this app, so each
    request has exactly one server span. See
    :func:`watchkit.integrations.fastapi.instrument_fastapi`.

    Args:
        app: the application.
        **options: ``excluded_urls``, ``capture_request_headers``,
            ``capture_response_headers``, ``tracing``,
            ``request_hook``, ``response_hook``.

    Returns:
        The same ``app``.

    Raises:
        ImportError: FastAPI is not installed (``pip install 'watchkit[fastapi]'``).
        ConfigError: an unknown option or an invalid value.

    Example:
        >>> from fastapi import FastAPI
        >>> import watchkit
        >>> app = watchkit.instrument_fastapi(FastAPI())
    """
    result: FastAPI = _load("fastapi", "fastapi", "fastapi").instrument_fastapi(app, **options)
    return result


def instrument_starlette(app: Starlette, **options: Unpack[HttpOptions]) -> Starlette:
    """Instrument a Starlette app. See :func:`watchkit.integrations.starlette.instrument_starlette`.

    Args:
        app: the application.
        **options: ``excluded_urls``, ``capture_request_headers``,
            ``capture_response_headers``, ``tracing``,
            ``request_hook``, ``response_hook``.

    Returns:
        The same ``app``.

    Raises:
        ImportError: Starlette is not installed (``pip install 'watchkit[starlette]'``).
        ConfigError: an unknown option or an invalid value.

    Example:
        >>> from starlette.applications import Starlette
        >>> import watchkit
        >>> app = watchkit.instrument_starlette(Starlette())
    """
    module = _load("starlette", "starlette", "starlette")
    result: Starlette = module.instrument_starlette(app, **options)
    return result


def instrument_flask(app: Flask, **options: Unpack[HttpOptions]) -> Flask:
    """Instrument a Flask app. See :func:`watchkit.integrations.flask.instrument_flask`.

    Args:
        app: the application.
        **options: ``excluded_urls``, ``capture_request_headers``,
            ``capture_response_headers``, ``tracing``,
            ``request_hook``, ``response_hook``.

    Returns:
        The same ``app``.

    Raises:
        ImportError: Flask is not installed (``pip install 'watchkit[flask]'``).
        ConfigError: an unknown option or an invalid value.

    Example:
        >>> from flask import Flask
        >>> import watchkit
        >>> app = watchkit.instrument_flask(Flask("orders"))
    """
    result: Flask = _load("flask", "flask", "flask").instrument_flask(app, **options)
    return result


def uninstrument_fastapi(app: FastAPI) -> FastAPI:
    """Undo :func:`instrument_fastapi` (FastAPI's own telemetry comes back on).

    Args:
        app: the application; one not instrumented is returned unchanged.

    Returns:
        The same ``app``.

    Example:
        >>> from fastapi import FastAPI
        >>> import watchkit
        >>> app = watchkit.uninstrument_fastapi(watchkit.instrument_fastapi(FastAPI()))
    """
    result: FastAPI = _load("fastapi", "fastapi", "fastapi").uninstrument_fastapi(app)
    return result


def uninstrument_starlette(app: Starlette) -> Starlette:
    """Undo :func:`instrument_starlette`.

    Args:
        app: the application; one not instrumented is returned unchanged.

    Returns:
        The same ``app``.

    Example:
        >>> from starlette.applications import Starlette
        >>> import watchkit
        >>> app = watchkit.uninstrument_starlette(watchkit.instrument_starlette(Starlette()))
    """
    result: Starlette = _load("starlette", "starlette", "starlette").uninstrument_starlette(app)
    return result


def uninstrument_flask(app: Flask) -> Flask:
    """Undo :func:`instrument_flask`: ``app.wsgi_app`` is the original again.

    Args:
        app: the application; one not instrumented is returned unchanged.

    Returns:
        The same ``app``.

    Example:
        >>> from flask import Flask
        >>> import watchkit
        >>> app = watchkit.uninstrument_flask(watchkit.instrument_flask(Flask("orders")))
    """
    result: Flask = _load("flask", "flask", "flask").uninstrument_flask(app)
    return result
