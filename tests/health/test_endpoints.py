"""Health endpoints under real servers: plain ASGI/WSGI, FastAPI, Starlette, Flask, Django."""

# ruff: noqa: F811 - pytest fixtures imported by name
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import free_port
from tests.integrations.servers import UvicornThread, WsgiThread
from tests.support.fixtures import otlp_receiver, rotel_collector  # noqa: F401
from watchkit import health
from watchkit.health import HealthRegistry
from watchkit.integrations import health as health_integrations

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]
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


def test_router_probes_work_under_a_prefix_and_stay_out_of_the_schema():
    """include_router(prefix=...) and a Starlette Mount: probes answer by route, not by path."""
    from fastapi import FastAPI
    from starlette.applications import Starlette
    from starlette.routing import Mount

    fastapi_app = FastAPI()  # each app its own registry: a lifespan shutdown fails readiness
    fastapi_app.include_router(
        health_integrations.fastapi_router(registry=_registry()), prefix="/ops"
    )
    starlette_app = Starlette(
        routes=[Mount("/ops", routes=health_integrations.starlette_routes(registry=_registry()))]
    )
    for app in (fastapi_app, starlette_app):
        with UvicornThread(app) as server:
            live = httpx.get(f"{server.url}/ops/livez")
            assert live.status_code == 200
            assert list(live.json()["checks"]) == ["loop:responseTime"]
            assert httpx.get(f"{server.url}/ops/readyz").json()["status"] == "warn"
            assert httpx.head(f"{server.url}/ops/healthz").content == b""
    assert fastapi_app.openapi()["paths"] == {}


@pytest.mark.parametrize("kind", ["asgi", "fastapi"])
def test_asgi_lifespan_shutdown_fails_readiness_not_liveness(kind):
    """When uvicorn shuts down (lifespan.shutdown), readiness turns fail; liveness passes."""
    registry = _registry()
    app = health.asgi_app(registry=registry) if kind == "asgi" else _fastapi(registry)
    with UvicornThread(app) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert not registry.shutting_down
    assert registry.shutting_down
    assert registry.run_sync("readyz").status == "fail"
    assert registry.run_sync("livez").status == "pass"


def _rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


@pytest.mark.slow
@pytest.mark.collector
def test_kubelet_like_probing_leaves_no_request_telemetry_and_flat_memory(
    rotel_collector, otlp_receiver, tmp_path
):
    """10 probes a second for 60 s on a uvicorn process: no HTTP telemetry for them, RSS flat.

    The server is its own process exporting to a rotel collector, so what is
    asserted is what a backend would receive, and the memory measured is the
    server's alone. After a 5 s warm-up (allocator pools, first-use caches)
    its RSS may not grow by more than 1 MiB over the 600 probes: a leak of
    2 KiB per probe would exceed it.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]),
        WATCHKIT_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_METRIC_EXPORT_INTERVAL="1000",
    )
    log = tmp_path / "server.log"  # a file, not a pipe nobody reads for 60 s
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tests.health.probe_app:app",
             "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    paths = ("/livez", "/readyz", "/healthz")
    samples: list[tuple[float, int]] = []
    probes = 0
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    assert client.get("/orders/1").status_code == 200
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and server.poll() is None
                    time.sleep(0.1)

            def probe_for(seconds: float) -> None:
                nonlocal probes
                started = time.monotonic()
                for tick in range(round(seconds * 10)):
                    time.sleep(max(0.0, started + tick / 10 - time.monotonic()))
                    assert client.get(paths[tick % 3]).status_code == 200
                    probes += 1
                    if tick % 50 == 0:
                        samples.append((time.monotonic() - started, _rss_of(server.pid)))

            probe_for(5)  # warm-up
            probes, samples = 0, []
            begun = time.monotonic()
            probe_for(60)
            elapsed = time.monotonic() - begun
            samples.append((elapsed, _rss_of(server.pid)))
            assert client.get("/orders/2").status_code == 200  # the pipeline is still live

        def arrived(receiver: Any) -> Any:
            spans = receiver.spans()
            points = receiver.metrics("http.server.request.duration")
            checks = [
                p
                for p in receiver.metrics("watchkit.health.check.duration")
                if p.attributes.get("health.check.name") == "loop"
            ]
            done = (
                len(spans) >= 2 and points and points[-1].count >= 2 and checks
                and checks[-1].count >= 600
            )  # fmt: skip
            return (spans, points, checks[-1]) if done else None

        spans, points, loop_checks = otlp_receiver.wait_for(arrived, timeout=20)
    finally:
        server.terminate()
        try:
            server.wait(20)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    output = log.read_text(errors="replace")
    assert "Traceback" not in output, output
    assert probes == 600
    assert elapsed < 75, elapsed  # 10 probes a second, not fewer
    assert {s.name for s in spans} == {"GET /orders/{order_id}"}, {s.name for s in spans}
    assert all(s.attributes.get("url.path") not in paths for s in spans)
    assert points and {p.attributes.get("http.route") for p in points} == {"/orders/{order_id}"}
    assert points[-1].count == 2  # the two order requests, none of the 600 probes
    # The checks' own telemetry is there, recorded where they run: /livez, /readyz
    # and /healthz all run the liveness check (plus the warm-up's 50).
    assert loop_checks.count >= 650
    growth = samples[-1][1] - samples[0][1]
    assert growth < 2**20, [(round(t), rss // 1024) for t, rss in samples]


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


def test_a_mounted_metrics_endpoint_records_no_request_telemetry(telemetry):
    """/metrics (watchkit's Prometheus app mounted in the service) is skipped like the probes."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    import watchkit

    async def order(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    class Metrics:  # an ASGI app object, so Starlette's Route passes the request through
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await watchkit.prometheus_asgi_app(scope, receive, send)

    routes = [Route("/metrics", Metrics()), Route("/orders", order)]
    app = watchkit.instrument_starlette(Starlette(routes=routes))
    with UvicornThread(app) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/orders").status_code == 200
        deadline = time.monotonic() + 5
        while not telemetry.spans() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert [s.name for s in telemetry.spans()] == ["GET /orders"]
    routes_seen = {
        p.attributes.get("http.route")
        for p in telemetry.metric_points("http.server.request.duration")
    }
    assert routes_seen == {"/orders"}
