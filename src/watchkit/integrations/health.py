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

from typing import Any

from watchkit.health import HealthEndpoints

__all__ = ["django_urls", "fastapi_router", "flask_blueprint", "starlette_routes"]


def starlette_routes(**options: Any) -> list[Any]:
    """Starlette ``Route`` objects for the probes (they also fit FastAPI's ``app.routes``)."""
    from starlette.routing import Route

    endpoints = HealthEndpoints(**options)
    # A Route whose endpoint is an ASGI app passes the request through untouched.
    return [Route(path, endpoints, methods=["GET", "HEAD"]) for path in endpoints.paths]


def fastapi_router(**options: Any) -> Any:
    """A FastAPI ``APIRouter`` serving the probes (hidden from the OpenAPI schema)."""
    from fastapi import APIRouter, Request
    from fastapi.responses import Response

    endpoints = HealthEndpoints(**options)
    router = APIRouter()
    headers = dict(endpoints.headers)
    media_type = headers.pop("content-type")

    def route(probe: Any) -> Any:
        async def probe_endpoint(request: Request) -> Response:
            authorization = request.headers.get("authorization")
            status, body = await endpoints.respond(probe, authorization)
            return Response(body, status_code=status, media_type=media_type, headers=headers)

        # FastAPI resolves annotations from the module's globals, where the
        # lazily imported Request is not: give it the class itself.
        probe_endpoint.__annotations__ = {"request": Request, "return": Response}
        return probe_endpoint

    for path, probe in endpoints.paths.items():
        router.add_api_route(
            path,
            route(probe),
            methods=["GET", "HEAD"],
            include_in_schema=False,
            name=f"watchkit.{probe}",
        )
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
