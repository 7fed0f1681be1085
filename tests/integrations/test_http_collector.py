"""End to end through a real collector: in-process, and servers stopped with SIGTERM (issue 5).

uvicorn re-raises SIGTERM after its graceful shutdown, so atexit hooks never
run: the ASGI middleware flushes on the lifespan shutdown event. gunicorn
workers leave through ``sys.exit``, so configure()'s atexit hook flushes. The
subprocess servers use a one-minute batch delay and export interval, so what
reaches the receiver was flushed at shutdown, not exported on a timer.
"""

# ruff: noqa: F811 - pytest fixtures imported by name
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import watchkit
from tests.integrations.servers import UvicornThread, free_port
from tests.support.fixtures import otlp_receiver, rotel_collector  # noqa: F401

pytestmark = [pytest.mark.collector, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[2]


def test_span_and_metric_reach_the_collector(rotel_collector, otlp_receiver):
    """One request: its span and duration metric arrive at the backend, and nothing else."""
    watchkit.configure(
        service_name="food-e2e", exporter="otlp", endpoint=rotel_collector.http_endpoint
    )
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict[str, int]:
        return {"order_id": order_id}

    watchkit.instrument_fastapi(app)
    with UvicornThread(app) as server:
        response = httpx.get(f"{server.url}/orders/12", headers={"X-Request-ID": "e2e-1"})
    assert response.status_code == 200
    assert watchkit.force_flush()
    span = otlp_receiver.wait_for_span("GET /orders/{order_id}")
    assert span.kind == "server"
    assert span.attributes["http.route"] == "/orders/{order_id}"
    assert span.attributes["watchkit.request.id"] == "e2e-1"
    assert span.resource_attributes["service.name"] == "food-e2e"
    point = otlp_receiver.wait_for(
        lambda r: [
            p
            for p in r.metrics("http.server.request.duration")
            if p.attributes.get("http.route") == "/orders/{order_id}"
        ]
    )[-1]
    assert point.count == 1
    assert point.unit == "s"
    assert 0.2 in point.explicit_bounds and 0.3 in point.explicit_bounds
    # FastAPI's built-in telemetry is off: watchkit's is the only span and duration metric.
    assert [s.scope_name for s in otlp_receiver.spans()] == ["watchkit"]
    assert {p.scope_name for p in otlp_receiver.metrics("http.server.request.duration")} == {
        "watchkit"
    }


def _child_env(collector_endpoint: str, service: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_", "PYTEST_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        WATCHKIT_TEST_CONFIGURE="1",
        WATCHKIT_RAISE_INTERNAL_ERRORS="1",
        OTEL_SERVICE_NAME=service,
        WATCHKIT_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_BSP_SCHEDULE_DELAY="60000",
        OTEL_BLRP_SCHEDULE_DELAY="60000",
        OTEL_METRIC_EXPORT_INTERVAL="60000",
    )
    return env


def _wait_until_serving(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def _serve_then_sigterm(command: list[str], env: dict[str, str], port: int) -> list[str]:
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_serving(process, f"{url}/health")
        ids = [f"last-{i}" for i in range(3)]
        for request_id in ids:
            response = httpx.get(
                f"{url}/orders/{request_id[-1]}", headers={"X-Request-ID": request_id}
            )
            assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        output = process.stdout.read().decode(errors="replace") if process.stdout else ""
        if process.stdout:
            process.stdout.close()
    assert "Traceback" not in output, output
    return ids


@pytest.mark.slow
def test_uvicorn_sigterm_loses_nothing(rotel_collector, otlp_receiver):
    """uvicorn + FastAPI stopped with SIGTERM: the last requests' spans and metrics arrive."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "tests.integrations.apps.fastapi_app:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    ids = _serve_then_sigterm(command, _child_env(rotel_collector.http_endpoint, "food-uv"), port)
    spans = otlp_receiver.wait_for(
        lambda r: (
            [s for s in r.spans() if s.attributes.get("watchkit.request.id") in ids]
            if len(r.spans()) >= 3
            else None
        )
    )
    assert sorted(s.attributes["watchkit.request.id"] for s in spans) == ids
    assert {s.name for s in spans} == {"GET /orders/{order_id}"}
    point = otlp_receiver.wait_for_metric("http.server.request.duration")
    assert point.resource_attributes["service.name"] == "food-uv"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("app", "route"),
    [
        ("tests.integrations.apps.flask_app:app", "/orders/<int:order_id>"),
        ("tests.integrations.apps.django_app:application", "/orders/<int:order_id>"),
    ],
)
def test_gunicorn_sigterm_loses_nothing(rotel_collector, otlp_receiver, app, route):
    """gunicorn (Flask, Django) stopped with SIGTERM: the last requests' spans arrive."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}",
        "--graceful-timeout", "10", app,
    ]  # fmt: skip
    ids = _serve_then_sigterm(command, _child_env(rotel_collector.http_endpoint, "food-gu"), port)
    spans = otlp_receiver.wait_for(
        lambda r: (
            [s for s in r.spans() if s.attributes.get("watchkit.request.id") in ids]
            if len([s for s in r.spans() if s.attributes.get("watchkit.request.id") in ids]) >= 3
            else None
        )
    )
    assert sorted(s.attributes["watchkit.request.id"] for s in spans) == ids
    assert {s.name for s in spans} == {f"GET {route}"}
    assert otlp_receiver.wait_for_metric("http.server.request.duration")


@pytest.mark.slow
def test_gunicorn_sends_wsgi_file_wrapper_bodies_with_sendfile(rotel_collector, otlp_receiver):
    """A wsgi.file_wrapper body stays the server's (sendfile, no read()) and is still timed."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}",
        "--graceful-timeout", "10", "tests.integrations.apps.file_app:app",
    ]  # fmt: skip
    env = _child_env(rotel_collector.http_endpoint, "food-file")
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    expected = (ROOT / "tests" / "integrations" / "apps" / "file_app.py").read_bytes()
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_serving(process, f"{url}/health")
        response = httpx.get(f"{url}/file", headers={"X-Request-ID": "file-1"})
        assert response.status_code == 200
        assert response.content == expected
        assert response.headers["x-request-id"] == "file-1"
        assert httpx.get(f"{url}/reads").text == "0"  # sendfile: Python never read the file
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        output = process.stdout.read().decode(errors="replace") if process.stdout else ""
        if process.stdout:
            process.stdout.close()
    assert "Traceback" not in output, output
    span = otlp_receiver.wait_for(
        lambda r: next(
            (s for s in r.spans() if s.attributes.get("watchkit.request.id") == "file-1"), None
        )
    )
    assert span.attributes["http.response.status_code"] == 200
    sizes = otlp_receiver.wait_for(lambda r: r.metrics("http.server.response.body.size"))
    assert any(p.max == len(expected) for p in sizes), sizes  # the Content-Length
