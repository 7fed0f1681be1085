"""Health endpoints under real servers: plain ASGI/WSGI, FastAPI, Starlette, Flask, Django."""

from __future__ import annotations

import gc
import resource
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integrations.servers import UvicornThread, WsgiThread
from watchkit import health
from watchkit.health import HealthRegistry
from watchkit.integrations import health as health_integrations

pytestmark = pytest.mark.server
MEDIA = "application/health+json"


def _registry(*, db_up: bool = True) -> HealthRegistry:
    registry = HealthRegistry()
    registry.add("loop", lambda: None, kind="liveness")

    def db() -> None:
        if not db_up:
            raise ConnectionRefusedError("db.internal.example:5432")

    registry.add("db", db, component_type="datastore", ttl=1.0)
    registry.add("cache", lambda: False, critical=False)
    return registry


def _fastapi(registry: HealthRegistry) -> Any:
    from fastapi import FastAPI

    import watchkit

    app = FastAPI()
    app.include_router(health_integrations.fastapi_router(registry=registry, token="s3cret"))

    @app.get("/orders/{order_id}")
    def order(order_id: int) -> dict[str, int]:
        return {"order_id": order_id}

    return watchkit.instrument_fastapi(app)


def _starlette(registry: HealthRegistry) -> Any:
    from starlette.applications import Starlette

    return Starlette(routes=health_integrations.starlette_routes(registry=registry, token="s3cret"))


def _flask(registry: HealthRegistry) -> Any:
    from flask import Flask

    app = Flask("health-test")
    app.register_blueprint(health_integrations.flask_blueprint(registry=registry, token="s3cret"))
    return app


def _django(registry: HealthRegistry) -> Iterator[Any]:
    import sys
    import types

    from django.test.utils import override_settings
    from django.urls import include, path

    from tests.integrations.apps.django_app import application  # configures Django once

    urls = types.ModuleType("watchkit_health_test_urls")
    patterns = health_integrations.django_urls(registry=registry, token="s3cret")
    urls.urlpatterns = [path("", include(patterns))]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    try:
        with override_settings(ROOT_URLCONF=urls.__name__):
            yield application
    finally:
        del sys.modules[urls.__name__]


@pytest.fixture(params=["asgi", "wsgi", "fastapi", "starlette", "flask", "django"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, HealthRegistry]]:
    """(base URL, registry) of each adapter under a real server; the db check can be toggled."""
    registry = _registry()
    kind = request.param
    if kind == "asgi":
        runner: Any = UvicornThread(health.asgi_app(registry=registry, token="s3cret"))
    elif kind == "wsgi":
        runner = WsgiThread(health.wsgi_app(registry=registry, token="s3cret"))
    elif kind == "fastapi":
        runner = UvicornThread(_fastapi(registry))
    elif kind == "starlette":
        runner = UvicornThread(_starlette(registry))
    elif kind == "flask":
        runner = WsgiThread(_flask(registry))
    else:
        django_app = _django(registry)
        runner = WsgiThread(next(django_app))
    with runner:
        yield runner.url, registry
    if kind == "django":
        next(django_app, None)


def test_probes_answer_health_json_with_status_codes(served):
    """/livez and /readyz: IETF shape, 200 for pass and warn, 503 for fail, no secrets."""
    url, registry = served
    live = httpx.get(f"{url}/livez")
    assert live.status_code == 200
    assert live.headers["content-type"].startswith(MEDIA)
    assert live.headers["cache-control"] == "no-store"
    assert live.json()["status"] == "pass"
    assert list(live.json()["checks"]) == ["loop:responseTime"]
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "warn"  # the non-critical cache check fails
    assert set(body["checks"]) == {"loop:responseTime", "db:responseTime", "cache:responseTime"}
    db = body["checks"]["db:responseTime"][0]
    assert db["componentType"] == "datastore"
    assert db["observedUnit"] == "ms"

    def down() -> None:
        raise ConnectionRefusedError("db.internal.example:5432")

    registry.remove("db")
    registry.add("db", down)
    failing = httpx.get(f"{url}/readyz")
    assert failing.status_code == 503
    assert failing.json()["status"] == "fail"
    assert failing.json()["checks"]["db:responseTime"][0]["output"] == "ConnectionRefusedError"
    assert "db.internal" not in failing.text
    assert httpx.get(f"{url}/livez").status_code == 200  # liveness ignores dependencies
    detailed = httpx.get(f"{url}/healthz", headers={"Authorization": "Bearer s3cret"})
    assert detailed.status_code == 503
    assert "db.internal.example" in detailed.text
    wrong = httpx.get(f"{url}/healthz", headers={"Authorization": "Bearer nope"})
    assert "db.internal" not in wrong.text


def test_paths_are_configurable_and_others_404():
    """Custom paths; unknown paths are 404 on the plain apps; path clashes are rejected."""
    registry = _registry()
    app = health.asgi_app(registry=registry, livez="/-/live", readyz="/-/ready", healthz=None)
    with UvicornThread(app) as server:
        assert httpx.get(f"{server.url}/-/live").status_code == 200
        assert httpx.get(f"{server.url}/-/ready").status_code == 200
        assert httpx.get(f"{server.url}/healthz").status_code == 404
    assert "/-/ready" in health.health_paths()
    with pytest.raises(ValueError, match="readyz='/livez' is invalid: livez already uses it"):
        health.HealthEndpoints(registry, readyz="/livez")
    with pytest.raises(ValueError, match="livez='livez' is invalid"):
        health.HealthEndpoints(registry, livez="livez")
    with pytest.raises(ValueError, match="token"):
        health.HealthEndpoints(registry, token="")


def test_asgi_lifespan_shutdown_fails_readiness_not_liveness():
    """When uvicorn shuts down (lifespan.shutdown), readiness turns fail; liveness passes."""
    registry = _registry()
    app = health.asgi_app(registry=registry)
    with UvicornThread(app) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
    assert registry.shutting_down
    assert registry.run_sync("readyz").status == "fail"
    assert registry.run_sync("livez").status == "pass"


def test_kubelet_like_probing_leaves_no_request_telemetry_and_flat_memory(telemetry):
    """10 probes/s for 10 s on an instrumented FastAPI app: no span, no duration point; RSS flat.

    Shortened from the 60 s of a real kubelet to 10 s: the per-probe work is
    the same, and growth would show within 100 probes per path.
    """
    registry = _registry()
    app = _fastapi(registry)

    def rss() -> int:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()

    with UvicornThread(app) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/orders/1").status_code == 200  # the middleware is live
        for _ in range(20):  # warm-up: allocator pools, first-use caches
            client.get("/livez"), client.get("/readyz")
        gc.collect()
        before = rss()
        started = time.monotonic()
        probes = 0
        while time.monotonic() - started < 10:
            tick = time.monotonic()
            for path in ("/livez", "/readyz", "/healthz", "/livez", "/readyz"):
                assert client.get(path).status_code == 200
                probes += 1
            time.sleep(max(0.0, 0.5 - (time.monotonic() - tick)))
        gc.collect()
        growth = rss() - before
    assert probes >= 90
    spans = [s.name for s in telemetry.spans()]
    assert spans == ["GET /orders/{order_id}"]
    duration = [
        p.attributes.get("url.path") or p.attributes.get("http.route")
        for p in telemetry.metric_points("http.server.request.duration")
    ]
    assert duration == ["/orders/{order_id}"]
    # The checks' own telemetry is there, recorded where they run.
    assert (
        telemetry.histogram("watchkit.health.check.duration", {"health.check.name": "loop"}).count
        >= probes // 2
    )
    assert growth < 2 * 2**20, growth


def test_custom_health_paths_and_synthetic_requests_in_the_middleware(telemetry):
    """A probe mounted on a custom path records nothing; a synthetic request is marked."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    import watchkit

    registry = _registry()
    routes = health_integrations.starlette_routes(registry=registry, readyz="/-/ready")

    async def order(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = watchkit.instrument_starlette(Starlette(routes=[*routes, Route("/orders", order)]))
    synthetic = {"User-Agent": "watchkit-synthetic/1.0"}
    with UvicornThread(app) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/-/ready").status_code == 200
        assert client.get("/orders").status_code == 200
        assert client.get("/orders", headers=synthetic).status_code == 200
        deadline = time.monotonic() + 5
        while len(telemetry.spans()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    spans = telemetry.spans()
    assert [s.name for s in spans] == ["GET /orders", "GET /orders"]
    assert "user_agent.synthetic.type" not in spans[0].attributes
    assert spans[1].attributes["user_agent.synthetic.type"] == "test"
    duration = "http.server.request.duration"
    assert telemetry.histogram(duration, {"http.route": "/orders"}).count == 2
    assert telemetry.histogram(duration, {"user_agent.synthetic.type": "test"}).count == 1
