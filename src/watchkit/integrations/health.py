"""Health endpoints for FastAPI/Starlette, Flask and Django.

Each function imports its framework when called. All take the options of
:class:`watchkit.health.HealthEndpoints` (paths, ``expose_details``, ``token``,
``registry``)::

    app.include_router(fastapi_router())                 # FastAPI
    app.router.routes.extend(starlette_routes())         # Starlette (or Route list)
    flask_app.register_blueprint(flask_blueprint())      # Flask
    urlpatterns = [path("", include(django_urls()))]     # Django

The plain ASGI and WSGI apps are :func:`watchkit.health.asgi_app` and
:func:`watchkit.health.wsgi_app`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from watchkit.health import HealthEndpoints

__all__ = ["django_urls", "fastapi_router", "flask_blueprint", "starlette_routes"]


def _routes(endpoints: HealthEndpoints, name: str) -> list[Any]:
    from starlette.routing import Route

    # Each route's endpoint is an ASGI app bound to its probe, not to its path:
    # Starlette passes the request straight through (no Request/Response
    # objects), and a prefix (Mount, include_router(prefix=...)) still works.
    return [
        Route(
            path,
            _ProbeEndpoint(endpoints, probe),
            methods=["GET", "HEAD"],
            name=f"{name}.{probe}",
            include_in_schema=False,
        )
        for path, probe in endpoints.paths.items()
    ]


class _ProbeEndpoint:
    """An ASGI app object (Starlette routes a class instance through untouched)."""

    def __init__(self, endpoints: HealthEndpoints, probe: Any) -> None:
        self._endpoints = endpoints
        self._probe = probe

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._endpoints.serve(self._probe, scope, send)


def starlette_routes(**options: Any) -> list[Any]:
    """Starlette ``Route`` objects for the probes (they also fit FastAPI's ``app.routes``)."""
    return _routes(HealthEndpoints(**options), "watchkit")


def fastapi_router(**options: Any) -> Any:
    """A FastAPI ``APIRouter`` serving the probes (hidden from the OpenAPI schema).

    Its lifespan turns readiness to ``fail`` when the application shuts down
    (FastAPI merges an included router's lifespan into the application's).
    """
    from fastapi import APIRouter

    endpoints = HealthEndpoints(**options)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        endpoints.registry.begin_shutdown()

    router = APIRouter(lifespan=lifespan)
    router.routes.extend(_routes(endpoints, "watchkit"))
    return router


def flask_blueprint(name: str = "watchkit_health", **options: Any) -> Any:
    """A Flask ``Blueprint`` serving the probes."""
    from flask import Blueprint, Response, request

    endpoints = HealthEndpoints(**options)
    blueprint = Blueprint(name, __name__)
    headers = endpoints.headers

    def view(probe: Any) -> Any:
        def probe_view() -> Response:
            status, body = endpoints.respond_sync(probe, request.headers.get("Authorization"))
            return Response(body, status=status, headers=headers)

        probe_view.__name__ = probe
        return probe_view

    for path, probe in endpoints.paths.items():
        blueprint.add_url_rule(path, probe, view(probe), methods=["GET", "HEAD"])
    return blueprint


def django_urls(**options: Any) -> list[Any]:
    """Django URL patterns for ``path("", include(django_urls()))``.

    Paths are given as usual for the probes (``"/livez"``); Django patterns
    have no leading slash, so it is stripped. Under an ``include()`` prefix,
    also list the prefixed paths in ``configure(excluded_urls=...)``.
    """
    from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped]
    from django.urls import path as django_path  # type: ignore[import-untyped]

    endpoints = HealthEndpoints(**options)
    headers = dict(endpoints.headers)
    content_type = headers.pop("content-type")

    def view(probe: Any) -> Any:
        def probe_view(request: HttpRequest) -> HttpResponse:
            status, body = endpoints.respond_sync(probe, request.headers.get("Authorization"))
            response = HttpResponse(body, status=status, content_type=content_type)
            response["Cache-Control"] = "no-store"
            return response

        return probe_view

    return [
        django_path(path.lstrip("/"), view(probe), name=f"watchkit-{probe}")
        for path, probe in endpoints.paths.items()
    ]
