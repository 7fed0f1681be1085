"""Framework specifics: FastAPI's built-in telemetry, contrib coexistence, WebSockets,
client disconnects, Django under ASGI, metrics-only mode and real log lines (issue 5)."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
import structlog
from fastapi import FastAPI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import watchkit
from tests.integrations.servers import UvicornThread, WsgiThread
from watchkit.integrations.fastapi import native_telemetry_enabled

pytestmark = pytest.mark.server


def _native_app() -> tuple[FastAPI, InMemorySpanExporter, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    app = FastAPI(telemetry={"tracer_provider": tracer_provider, "meter_provider": meter_provider})

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict[str, int]:
        return {"order_id": order_id}

    return app, exporter, reader


def _metric_names(reader: InMemoryMetricReader) -> set[str]:
    data = reader.get_metrics_data()
    if data is None:
        return set()
    return {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def _watchkit_metric_names(reader: InMemoryMetricReader) -> set[str]:
    data = reader.get_metrics_data()
    if data is None:
        return set()
    return {
        m.name
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        if sm.scope.name == "watchkit"
        for m in sm.metrics
    }


def test_fastapi_builtin_telemetry_is_on_without_watchkit():
    """Control: the installed FastAPI records four spans and its own duration metric."""
    app, exporter, reader = _native_app()
    assert native_telemetry_enabled(app)
    with UvicornThread(app) as server:
        assert httpx.get(f"{server.url}/orders/1").status_code == 200
    names = sorted(span.name for span in exporter.get_finished_spans())
    assert "GET /orders/{order_id}" in names
    assert len(names) == 4, names
    assert "http.server.request.duration" in _metric_names(reader)


def test_instrument_fastapi_leaves_exactly_one_span_and_one_set_of_metrics(telemetry):
    """instrument_fastapi switches FastAPI's own telemetry off: watchkit's span is the only one."""
    app, exporter, reader = _native_app()
    watchkit.instrument_fastapi(app)
    assert not native_telemetry_enabled(app)
    with UvicornThread(app) as server:
        assert httpx.get(f"{server.url}/orders/1?token=abc").status_code == 200
        time.sleep(0.05)
    assert exporter.get_finished_spans() == ()
    assert _metric_names(reader) == set()
    span = telemetry.span("GET /orders/{order_id}")
    assert span.attributes["url.query"] == "token=[REDACTED]"
    assert telemetry.histogram("http.server.request.duration").count == 1


def test_contrib_instrumented_fastapi_is_skipped_with_one_warning(telemetry, caplog):
    """On top of the contrib FastAPI instrumentation watchkit adds nothing, and says so once."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app = FastAPI()

    @app.get("/x")
    async def x() -> dict[str, str]:
        return {}

    FastAPIInstrumentor.instrument_app(app)
    try:
        with caplog.at_level(logging.WARNING, logger="watchkit"):
            watchkit.instrument_fastapi(app)
            watchkit.instrument_fastapi(app)
        warnings = [r for r in caplog.records if "contrib" in r.getMessage()]
        assert len(warnings) == 1
        with UvicornThread(app) as server:
            assert httpx.get(f"{server.url}/x").status_code == 200
        # The contrib spans reach the capture too (through the forwarding global providers,
        # once any configure() installed them); none is watchkit's.
        assert [s for s in telemetry.spans() if s.instrumentation_scope.name == "watchkit"] == []
        assert "http.server.request.duration" not in _watchkit_metric_names(telemetry.metric_reader)
    finally:
        FastAPIInstrumentor.uninstrument_app(app)


def test_contrib_instrumented_flask_is_skipped(telemetry, caplog):
    """instrument_flask on a contrib-instrumented Flask app warns and adds nothing."""
    from flask import Flask
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    app = Flask("contrib")

    @app.get("/x")
    def x() -> str:
        return "x"

    FlaskInstrumentor.instrument_app(app)
    try:
        with caplog.at_level(logging.WARNING, logger="watchkit"):
            watchkit.instrument_flask(app)
        assert any("contrib" in r.getMessage() for r in caplog.records)
        with WsgiThread(app) as server:
            assert httpx.get(f"{server.url}/x").status_code == 200
        assert [s for s in telemetry.spans() if s.instrumentation_scope.name == "watchkit"] == []
    finally:
        FlaskInstrumentor.uninstrument_app(app)


def test_outer_server_span_means_inner_middleware_records_nothing(telemetry, caplog):
    """An ASGI app wrapped twice (generic middleware) records one span per request."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from watchkit.integrations.asgi import WatchkitMiddleware

    inner = Starlette(routes=[Route("/items/{item}", lambda r: PlainTextResponse("ok"))])
    app = WatchkitMiddleware(WatchkitMiddleware(inner))
    with UvicornThread(app) as server:
        for _ in range(3):
            assert httpx.get(f"{server.url}/items/a").status_code == 200
    assert len(telemetry.spans("GET /items/{item}")) == 3
    assert telemetry.histogram("http.server.request.duration").count == 3


def test_starlette_mount_route_includes_the_prefix(telemetry):
    """A mounted sub-application's route template carries the mount path."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    sub = Starlette(routes=[Route("/menu/{dish}", lambda r: PlainTextResponse("ok"))])
    app = Starlette(routes=[Mount("/restaurants", app=sub)])
    watchkit.instrument_starlette(app)
    with UvicornThread(app) as server:
        assert httpx.get(f"{server.url}/restaurants/menu/soup").status_code == 200
    span = telemetry.span("GET /restaurants/menu/{dish}")
    assert span.attributes["http.route"] == "/restaurants/menu/{dish}"


async def test_websocket_is_one_span_without_duration_point(telemetry):
    """A WebSocket connection: one span, no http.server.request.duration point.

    Driven in-process with ASGI messages: no WebSocket client library is
    installed here (and uvicorn needs one to serve WebSockets).
    """
    from tests.integrations.apps.fastapi_app import app

    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hello"},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/ws/lobby",
        "raw_path": b"/ws/lobby",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "subprotocols": [],
    }
    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[1]["text"] == "lobby: hello"
    (span,) = telemetry.spans()
    assert span.name == "WS /ws/{room}"
    assert span.attributes["network.protocol.name"] == "websocket"
    assert span.attributes["http.route"] == "/ws/{room}"
    assert "error.type" not in span.attributes
    assert telemetry.histogram("http.server.request.duration").count == 0
    assert telemetry.counter("http.server.active_requests") == 0


def test_client_disconnect_is_recorded_not_an_error(telemetry):
    """A client leaving a streaming response mid-way: recorded, not a server error."""
    from tests.integrations.apps.fastapi_app import app

    with UvicornThread(app) as server, httpx.stream("GET", f"{server.url}/endless") as response:
        for _ in response.iter_bytes():
            break
    deadline = time.monotonic() + 5
    while not telemetry.spans() and time.monotonic() < deadline:
        time.sleep(0.02)
    (span,) = telemetry.spans()
    assert span.attributes["watchkit.http.client_disconnected"] is True
    assert "error.type" not in span.attributes
    assert span.attributes["http.response.status_code"] == 200
    (point,) = telemetry.metric_points("http.server.request.duration")
    assert "error.type" not in point.attributes


def test_django_async_under_asgi(telemetry):
    """Django's middleware runs async-natively under an ASGI server (uvicorn)."""
    from django.core.asgi import get_asgi_application

    from tests.integrations.apps import django_app  # noqa: F401 - configures settings
    from tests.integrations.apps.common import SEEN

    app = get_asgi_application()
    with UvicornThread(app, lifespan="off") as server:
        ok = httpx.get(f"{server.url}/orders/5", headers={"X-Request-ID": "django-asgi"})
        boom = httpx.get(f"{server.url}/boom")
    assert ok.status_code == 200
    assert ok.headers["x-request-id"] == "django-asgi"
    assert boom.status_code == 500
    span = telemetry.span("GET /orders/<int:order_id>")
    seen = SEEN.pop("django-asgi")
    assert seen["http.route"] == "/orders/<int:order_id>"
    assert seen["span_id"] == format(span.context.span_id, "016x")
    error = telemetry.span("GET /boom")
    assert error.attributes["error.type"] == "ValueError"
    assert [e.name for e in error.events] == ["exception"]


def test_tracing_off_records_metrics_request_id_and_log_context(telemetry):
    """tracing=False: no span and no context extraction, but metrics and request ids."""
    from flask import Flask

    from tests.integrations.apps.common import SEEN, probe

    app = Flask("metrics-only")

    @app.get("/menu/<dish>")
    def menu(dish: str) -> str:
        probe()
        return dish

    watchkit.instrument_flask(app, tracing=False)
    with WsgiThread(app) as server:
        response = httpx.get(f"{server.url}/menu/soup", headers={"X-Request-ID": "no-trace"})
    assert response.headers["x-request-id"] == "no-trace"
    time.sleep(0.05)
    assert telemetry.spans() == []
    (point,) = telemetry.metric_points("http.server.request.duration")
    assert point.attributes["http.route"] == "/menu/<dish>"
    seen = SEEN.pop("no-trace")
    assert seen["http.route"] == "/menu/<dish>"
    assert seen["span_id"] == "0" * 16


def test_log_lines_carry_trace_ids_route_and_request_id(telemetry):
    """Real log lines through watchkit's trace-context processor carry all four ids."""
    from tests.integrations.apps.flask_app import app
    from watchkit.logs._processors import AddTraceContext

    with (
        structlog.testing.capture_logs(
            processors=[structlog.contextvars.merge_contextvars, AddTraceContext()]
        ) as lines,
        WsgiThread(app) as server,
    ):
        httpx.get(f"{server.url}/orders/3", headers={"X-Request-ID": "log-line"})
        deadline = time.monotonic() + 5
        while not telemetry.spans() and time.monotonic() < deadline:
            time.sleep(0.01)
    span = telemetry.span("GET /orders/<int:order_id>")
    (line,) = [line for line in lines if line["event"] == "order.viewed"]
    assert line["request_id"] == "log-line"
    assert line["http.route"] == "/orders/<int:order_id>"
    assert line["trace_id"] == format(span.context.trace_id, "032x")
    assert line["span_id"] == format(span.context.span_id, "016x")
    assert structlog.contextvars.get_contextvars() == {}
