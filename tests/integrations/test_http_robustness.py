"""Hostile or unusual input on the request path, handled exceptions and secrets (issue 5).

Malformed headers come from clients, so the middleware must neither fail the
request nor turn them into metric series or invalid attributes; exceptions a
framework turns into a 4xx are not server errors; secrets never leave in
``url.query`` or captured headers. Internal errors re-raise in this suite
(tests/conftest.py), so a watchkit bug fails the request here.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import watchkit
from tests.integrations.servers import UvicornThread, WsgiThread
from watchkit import ConfigError
from watchkit.integrations.asgi import WatchkitMiddleware as AsgiMiddleware
from watchkit.integrations.wsgi import WatchkitMiddleware as WsgiMiddleware

DURATION = "http.server.request.duration"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXNla3JldA"


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _asgi(
    app: Any, headers: list[tuple[bytes, bytes]] = (), query: bytes = b""
) -> list[dict[str, Any]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/menu",
        "raw_path": b"/menu",
        "query_string": query,
        "root_path": "",
        "headers": list(headers),
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _wsgi_ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def _wsgi(app: Any, **environ: Any) -> str:
    base: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/menu",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
    }
    base.update(environ)
    statuses: list[str] = []
    body = app(base, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        b"".join(body)
    finally:
        body.close()
    return statuses[0]


# Ports in the Host header -----------------------------------------------------------
# "\xb2" is SUPERSCRIPT TWO: a latin-1 byte h11 and werkzeug pass through, which
# str.isdigit() accepts and int() rejects.
BAD_PORTS = [
    ("orders.example:\xb2", "orders.example"),
    ("orders.example:" + "9" * 5000, "orders.example"),
    ("orders.example:99999999", "orders.example"),
    ("orders.example:65536", "orders.example"),
    ("[::1]:\xb2\xb3", "::1"),
]


@pytest.mark.parametrize(("host", "address"), BAD_PORTS)
async def test_asgi_host_with_invalid_port_is_ignored(telemetry, host, address):
    """A Host header whose port is no valid port: the request succeeds, no server.port."""
    sent = await _asgi(AsgiMiddleware(_ok), headers=[(b"host", host.encode("latin-1"))])
    assert sent[0]["status"] == 200
    span = telemetry.span("GET")
    assert span.attributes["server.address"] == address
    assert "server.port" not in span.attributes


@pytest.mark.parametrize(("host", "address"), BAD_PORTS)
def test_wsgi_host_with_invalid_port_is_ignored(telemetry, host, address):
    """The same through the WSGI middleware (the environ holds latin-1 decoded headers)."""
    assert _wsgi(WsgiMiddleware(_wsgi_ok), HTTP_HOST=host) == "200 OK"
    span = telemetry.span("GET")
    assert span.attributes["server.address"] == address
    assert "server.port" not in span.attributes


def test_valid_host_ports_are_kept(telemetry):
    """Control: an ordinary port and the scheme's default are still recorded."""
    assert _wsgi(WsgiMiddleware(_wsgi_ok), HTTP_HOST="orders.example:65535") == "200 OK"
    assert _wsgi(WsgiMiddleware(_wsgi_ok), HTTP_HOST="orders.example") == "200 OK"
    assert sorted(s.attributes["server.port"] for s in telemetry.spans()) == [80, 65535]


@pytest.mark.parametrize("length", ["\xb2", "9" * 5000, "-1", "12 "])
def test_wsgi_odd_content_length_is_ignored(telemetry, length):
    """A Content-Length that is no plain number: the request succeeds, no body-size point."""
    assert _wsgi(WsgiMiddleware(_wsgi_ok), CONTENT_LENGTH=length) == "200 OK"
    assert telemetry.span("GET").attributes["http.response.status_code"] == 200
    assert telemetry.histogram("http.server.request.body.size").count == 0


def test_wsgi_server_port_as_int_and_missing(telemetry):
    """SERVER_PORT given as an int (non-compliant servers) or missing: no failure."""
    assert _wsgi(WsgiMiddleware(_wsgi_ok), SERVER_PORT=8080) == "200 OK"
    assert _wsgi(WsgiMiddleware(_wsgi_ok), SERVER_PORT=None) == "200 OK"
    ports = [s.attributes.get("server.port") for s in telemetry.spans()]
    assert ports == [8080, None]


def _raw_request(port: int, request: bytes) -> bytes:
    """Send raw bytes (httpx refuses malformed requests); the response's status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0]


@pytest.fixture(params=["uvicorn", "werkzeug"])
def raw_server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A real server on loopback around a plain instrumented app; yields its port."""
    runner: Any
    if request.param == "uvicorn":
        runner = UvicornThread(AsgiMiddleware(_ok), lifespan="off")
    else:
        runner = WsgiThread(WsgiMiddleware(_wsgi_ok))
    with runner:
        yield runner.port


@pytest.mark.server
def test_real_server_host_with_non_ascii_digit_port(raw_server, telemetry):
    """A real server passes ``Host: x:\\xb2`` on; the request must still get its 200."""
    status = _raw_request(
        raw_server, b"GET /menu HTTP/1.1\r\nHost: orders.example:\xb2\r\nConnection: close\r\n\r\n"
    )
    assert status.startswith(b"HTTP/1.1 200")


@pytest.mark.server
def test_client_chosen_protocol_versions_make_no_metric_series(telemetry):
    """werkzeug passes ``HTTP/1.01``, ``HTTP/1.001``... through: not a metric attribute each."""
    with WsgiThread(WsgiMiddleware(_wsgi_ok)) as server:
        for version in ("1.1", "1.0", "1.01", "1.001", "1.0001", "1.2", "1.9"):
            request = f"GET /menu HTTP/{version}\r\nHost: a\r\nConnection: close\r\n\r\n"
            assert _raw_request(server.port, request.encode()).endswith(b"200 OK")
        # The point is recorded when the server closes the body, which may be just
        # after the client has read the response.
        deadline = time.monotonic() + 5
        while telemetry.histogram(DURATION).count < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
    versions = {
        p.attributes.get("network.protocol.version") for p in telemetry.metric_points(DURATION)
    }
    assert versions <= {"1.0", "1.1", None}
    assert telemetry.histogram(DURATION).count == 7
    assert telemetry.counter("http.server.active_requests") == 0


def _reset_after_status_line(port: int) -> bytes:
    """Read the status line, then close with a TCP reset while the server still works."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(b"GET /menu HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    return data.split(b"\r\n", 1)[0]


@pytest.mark.server
def test_werkzeug_reset_connection_still_records_every_request(telemetry):
    """werkzeug skips ``close()`` when a reset hits its request drain: still recorded.

    Its thread-per-request server never reuses the thread, so the next request on
    it cannot clean up either; the dropped body must end the request itself.
    """
    with WsgiThread(WsgiMiddleware(_wsgi_ok)) as server:
        for _ in range(20):
            assert _reset_after_status_line(server.port).endswith(b"200 OK")
        deadline = time.monotonic() + 5
        while telemetry.histogram(DURATION).count < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert telemetry.histogram(DURATION).count == 20
    assert telemetry.counter("http.server.active_requests") == 0
    assert len(telemetry.spans("GET")) == 20


def _unclosed_body(app: Any) -> tuple[Any, dict[str, Any]]:
    """Call a WSGI app like a server and read its body, without closing it."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/menu",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
    }
    body = app(environ, lambda status, headers, exc_info=None: None)
    assert b"".join(body) == b"ok"
    return body, environ


def test_wsgi_body_dropped_without_close_ends_the_request(telemetry):
    """A server that drops the body unclosed (PEP 3333 violation), in its own thread."""
    before = trace.get_current_span()
    body, environ = _unclosed_body(WsgiMiddleware(_wsgi_ok))
    assert trace.get_current_span() is not before  # the request's span is current
    assert telemetry.spans() == []
    del body  # never closed
    assert environ["watchkit.request"].finished
    assert trace.get_current_span() is before  # and the context was restored
    assert telemetry.span("GET").attributes["http.response.status_code"] == 200
    assert telemetry.histogram(DURATION).count == 1
    assert telemetry.counter("http.server.active_requests") == 0


def test_wsgi_body_dropped_in_another_thread_ends_the_request(telemetry):
    """Dropped unclosed by another thread: recorded there; the owner thread cleans up."""
    before = trace.get_current_span()
    holder = [_unclosed_body(WsgiMiddleware(_wsgi_ok))[0]]
    worker = threading.Thread(target=holder.clear)
    worker.start()
    worker.join()
    assert telemetry.histogram(DURATION).count == 1
    assert telemetry.counter("http.server.active_requests") == 0
    assert trace.get_current_span() is not before  # still current in the server thread
    # This thread's next request restores the context the dropped one left current.
    assert _wsgi(WsgiMiddleware(_wsgi_ok)) == "200 OK"
    assert trace.get_current_span() is before
    assert telemetry.histogram(DURATION).count == 2


# Cardinality --------------------------------------------------------------------------
@pytest.fixture(params=["fastapi", "flask"])
def food_server(request: pytest.FixtureRequest) -> Iterator[str]:
    runner: Any
    if request.param == "fastapi":
        from tests.integrations.apps.fastapi_app import app

        runner = UvicornThread(app)
    else:
        from tests.integrations.apps.flask_app import app as flask_app

        runner = WsgiThread(flask_app)
    with runner:
        yield runner.url


@pytest.mark.server
def test_random_404_paths_add_no_series(food_server, telemetry):
    """1,000 distinct unmatched paths (scanner traffic): one series per (method, status)."""
    with httpx.Client(base_url=food_server) as client:
        for index in range(1000):
            method = ("GET", "POST", "PURGE")[index % 3]
            assert client.request(method, f"/{uuid.uuid4().hex}/{index}").status_code in (404, 405)
    deadline = time.monotonic() + 5  # the last span ends just after the client has its answer
    while telemetry.histogram(DURATION).count < 1000 and time.monotonic() < deadline:
        time.sleep(0.01)
    points = telemetry.metric_points(DURATION)
    keys = {
        (p.attributes["http.request.method"], p.attributes["http.response.status_code"])
        for p in points
    }
    assert len(points) == len(keys) <= 3
    assert all("http.route" not in p.attributes for p in points)
    assert sum(p.count for p in points) == 1000


# Exceptions ---------------------------------------------------------------------------
class UnprintableError(Exception):
    """An exception whose ``str()`` fails (seen in the wild with broken ``__str__``)."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")


async def test_asgi_exception_with_broken_str_is_reraised_and_recorded(telemetry):
    """The user's exception leaves unchanged; the span ends and active requests return to 0."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise UnprintableError

    with pytest.raises(UnprintableError):
        await _asgi(AsgiMiddleware(app))
    span = telemetry.span("GET")
    assert span.attributes["error.type"].endswith("UnprintableError")
    assert [e.name for e in span.events] == ["exception"]
    assert telemetry.counter("http.server.active_requests") == 0


def test_wsgi_exception_with_broken_str_is_reraised_and_recorded(telemetry):
    """The same through the WSGI middleware, raised while iterating the body."""

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"partial"
        raise UnprintableError

    with pytest.raises(UnprintableError):
        _wsgi(WsgiMiddleware(app))
    span = telemetry.span("GET")
    assert span.attributes["error.type"].endswith("UnprintableError")
    assert [e.name for e in span.events] == ["exception"]
    assert telemetry.counter("http.server.active_requests") == 0


@pytest.fixture(params=["wsgi", "asgi"])
def django_server(request: pytest.FixtureRequest) -> Iterator[str]:
    from django.core.asgi import get_asgi_application

    from tests.integrations.apps import django_app

    runner: Any
    if request.param == "wsgi":
        runner = WsgiThread(django_app.application)
    else:
        runner = UvicornThread(get_asgi_application(), lifespan="off")
    with runner:
        yield runner.url


@pytest.mark.server
@pytest.mark.parametrize(
    ("path", "route", "status"),
    [("/missing/3", "/missing/<int:order_id>", 404), ("/forbidden", "/forbidden", 403)],
)
def test_django_exceptions_turned_into_4xx_are_not_errors(
    django_server, telemetry, path, route, status
):
    """Http404 / PermissionDenied from a view: the client gets a 4xx, so no error is recorded."""
    assert httpx.get(f"{django_server}{path}").status_code == status
    span = telemetry.span(f"GET {route}")
    assert span.attributes["http.route"] == route
    assert span.attributes["http.response.status_code"] == status
    assert "error.type" not in span.attributes
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()
    (point,) = telemetry.metric_points(DURATION)
    assert "error.type" not in point.attributes


@pytest.mark.server
def test_django_view_exception_is_still_a_500_error(django_server, telemetry):
    """Control for the above: an ordinary exception is a 500 with error.type and the event."""
    assert httpx.get(f"{django_server}/boom").status_code == 500
    span = telemetry.span("GET /boom")
    assert span.attributes["error.type"] == "ValueError"
    assert [e.name for e in span.events] == ["exception"]
    assert telemetry.histogram(DURATION, {"error.type": "ValueError"}).count == 1


# Secrets ------------------------------------------------------------------------------
async def test_query_values_of_sensitive_keys_and_secret_values_are_redacted(telemetry):
    """Sensitive keys are redacted, so are values that look like secrets (a JWT)."""
    query = f"token=abc&password=x&sig=y&X-Amz-Signature=z&q=pizza&next={JWT}"
    await _asgi(AsgiMiddleware(_ok), query=query.encode())
    assert telemetry.span("GET").attributes["url.query"] == (
        "token=[REDACTED]&password=[REDACTED]&sig=[REDACTED]"
        "&X-Amz-Signature=[REDACTED]&q=pizza&next=[REDACTED]"
    )


def test_configured_redact_patterns_apply_to_query_and_headers(telemetry, clean_env):
    """configure(redact_patterns=...) scrubs url.query and captured header values too."""
    watchkit.configure(exporter="none", redact_patterns=[r"ORD-\d{6}"])
    app = WsgiMiddleware(_wsgi_ok, capture_request_headers=["x-order", "x-upstream", "x-tenant"])
    with watchkit.testing.capture() as captured:
        _wsgi(
            app,
            QUERY_STRING="q=ORD-123456&page=2",
            HTTP_X_ORDER="ORD-654321",
            HTTP_X_UPSTREAM=f"Bearer {JWT}",
            HTTP_X_TENANT="acme",
        )
    attrs = captured.span("GET").attributes
    assert attrs["url.query"] == "q=[REDACTED]&page=2"
    assert attrs["http.request.header.x-order"] == ("[REDACTED]",)
    assert attrs["http.request.header.x-upstream"] == ("[REDACTED]",)
    assert attrs["http.request.header.x-tenant"] == ("acme",)


@pytest.mark.parametrize("name", ["x-€uro", "x tenant", "x-tenant:", "x-(tenant)"])
def test_header_names_that_are_not_http_tokens_fail_early(name):
    """A header name no client can send is a ConfigError at creation, not a per-request error."""
    with pytest.raises(ConfigError, match="capture_request_headers"):
        AsgiMiddleware(_ok, capture_request_headers=[name])
    with pytest.raises(ConfigError, match="capture_response_headers"):
        WsgiMiddleware(_wsgi_ok, capture_response_headers=[name])


# Double instrumentation ---------------------------------------------------------------
@pytest.mark.server
def test_contrib_flask_instrumentation_added_after_watchkit_leaves_one_span(telemetry, caplog):
    """FlaskInstrumentor.instrument_app after instrument_flask: watchkit steps aside, warns once.

    Contrib wraps ``app.wsgi_app`` (watchkit's middleware) and starts its span in a
    ``before_request`` hook, under watchkit's; both would record the request.
    """
    from flask import Flask
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    app = Flask("late-contrib")

    @app.get("/menu/<dish>")
    def menu(dish: str) -> str:
        return dish

    watchkit.instrument_flask(app)
    FlaskInstrumentor.instrument_app(app)
    try:
        with caplog.at_level(logging.WARNING, logger="watchkit"), WsgiThread(app) as server:
            for _ in range(3):
                assert httpx.get(f"{server.url}/menu/soup").status_code == 200
        time.sleep(0.05)
        # Contrib's own spans may reach the capture (through the forwarding global
        # providers); none is watchkit's.
        assert [s for s in telemetry.spans() if s.instrumentation_scope.name == "watchkit"] == []
        assert not [
            m
            for rm in telemetry.metric_reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics
            if sm.scope.name == "watchkit"
            for m in sm.metrics
            if m.name == DURATION
        ]
        assert len([r for r in caplog.records if "contrib" in r.getMessage()]) == 1
    finally:
        FlaskInstrumentor.uninstrument_app(app)
    with WsgiThread(app) as server:  # contrib removed: watchkit records again
        assert httpx.get(f"{server.url}/menu/soup").status_code == 200
    deadline = time.monotonic() + 5

    def own() -> list[str]:
        return [s.name for s in telemetry.spans() if s.instrumentation_scope.name == "watchkit"]

    while not own() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert own() == ["GET /menu/<dish>"]


# url.scheme is a metric attribute: a client must not be able to choose it ------------
def test_client_supplied_scheme_cannot_create_series(telemetry):
    """A proxy-forwarded scheme (e.g. ProxyFix trusting X-Forwarded-Proto) is normalised."""
    app = WsgiMiddleware(_wsgi_ok)
    for scheme in ("HTTPS", "evil-1", "evil-2", "javascript"):
        assert _wsgi(app, **{"wsgi.url_scheme": scheme}) == "200 OK"
    schemes = {
        point.attributes["url.scheme"]
        for point in telemetry.metric_points("http.server.request.duration")
    }
    assert schemes == {"https", "_OTHER"}
