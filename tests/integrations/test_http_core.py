"""The shared request logic (_http/) and the generic ASGI/WSGI middleware, in-process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import watchkit
import watchkit.testing
from watchkit import ConfigError
from watchkit._internal import errors
from watchkit.integrations import _http
from watchkit.integrations.asgi import WatchkitMiddleware as AsgiMiddleware
from watchkit.integrations.wsgi import WatchkitMiddleware as WsgiMiddleware

ROOT = Path(__file__).resolve().parents[2]


async def _plain(scope, receive, send):
    status = 503 if scope["path"] == "/unavailable" else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


async def _call(app, method="GET", path="/x", headers=(), query=b""):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": list(headers),
        "server": ("10.0.0.1", 8443),
        "client": ("10.0.0.9", 50000),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_unknown_method_is_other_and_span_is_named_http(telemetry):
    """An unknown method becomes _OTHER (original kept on the span); the span is named HTTP."""
    await _call(AsgiMiddleware(_plain), method="BREW")
    span = telemetry.span("HTTP")
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "BREW"
    assert span.attributes["network.protocol.version"] == "2"
    assert span.attributes["server.address"] == "10.0.0.1"
    assert span.attributes["server.port"] == 8443
    (point,) = telemetry.metric_points("http.server.request.duration")
    assert point.attributes["http.request.method"] == "_OTHER"
    assert point.attributes["url.scheme"] == "https"


async def test_5xx_without_exception_is_an_error_with_the_status_code(telemetry):
    """A 503 response: error.type "503" and status ERROR, on span and metric alike."""
    await _call(AsgiMiddleware(_plain), path="/unavailable")
    span = telemetry.span("GET")
    assert span.attributes["error.type"] == "503"
    assert span.status.is_ok is False
    assert telemetry.histogram("http.server.request.duration", {"error.type": "503"}).count == 1


async def test_exception_before_any_response_is_a_500(telemetry):
    """A pure ASGI app raising before responding: recorded as 500 with the exception type."""

    async def broken(scope, receive, send):
        raise KeyError("menu")

    with pytest.raises(KeyError):
        await _call(AsgiMiddleware(broken))
    span = telemetry.span("GET")
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "KeyError"
    assert telemetry.counter("http.server.active_requests") == 0


async def test_excluded_urls_from_configure_and_option(telemetry):
    """excluded_urls: the option wins; without it the settings' patterns apply."""
    await _call(AsgiMiddleware(_plain, excluded_urls=[r"^/internal/"]), path="/internal/stats")
    await _call(AsgiMiddleware(_plain, excluded_urls=[r"^/internal/"]), path="/healthz")
    await _call(AsgiMiddleware(_plain), path="/healthz")
    assert [s.attributes["url.path"] for s in telemetry.spans()] == ["/healthz"]


async def test_configured_excluded_urls_apply(telemetry, clean_env):
    """WATCHKIT_EXCLUDED_URLS / configure(excluded_urls=...) is read once per configuration."""
    watchkit.configure(exporter="none", excluded_urls=[r"^/metrics$"])
    with watchkit.testing.capture() as captured:
        await _call(AsgiMiddleware(_plain), path="/metrics")
        await _call(AsgiMiddleware(_plain), path="/health")
    assert [s.attributes["url.path"] for s in captured.spans()] == ["/health"]


async def test_tracing_off_ignores_traceparent_and_records_metrics(telemetry):
    """tracing=False: no span, no context; the metric and the echoed request id remain."""
    sent = await _call(
        AsgiMiddleware(_plain, tracing=False),
        headers=[(b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")],
    )
    assert telemetry.spans() == []
    assert telemetry.histogram("http.server.request.duration").count == 1
    headers = dict(sent[0]["headers"])
    assert len(headers[b"x-request-id"]) == 32


async def test_app_set_request_id_is_not_duplicated(telemetry):
    """If the application already sets X-Request-ID, the middleware adds no second one."""

    async def app(scope, receive, send):
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"X-Request-ID", b"own")]}
        )
        await send({"type": "http.response.body", "body": b""})

    sent = await _call(AsgiMiddleware(app))
    names = [k.lower() for k, _ in sent[0]["headers"]]
    assert names.count(b"x-request-id") == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tracng": True}, "unknown option 'tracng'"),
        ({"tracing": "yes"}, "tracing='yes'"),
        ({"excluded_urls": "^/health"}, "list of strings"),
        ({"excluded_urls": ["(unclosed"]}, "valid regular expressions"),
        ({"capture_request_headers": [""]}, "non-empty strings"),
    ],
)
def test_wrong_options_fail_early(options, message):
    """Wrong options raise ConfigError when the middleware is created, naming the option."""
    with pytest.raises(ConfigError, match=message):
        AsgiMiddleware(_plain, **options)
    with pytest.raises(ConfigError, match=message):
        WsgiMiddleware(lambda e, s: [], **options)


def test_instrument_functions_validate_options():
    """instrument_* reject bad options at call time, not per request."""
    from flask import Flask
    from starlette.applications import Starlette

    with pytest.raises(ConfigError, match="instrument_flask"):
        watchkit.instrument_flask(Flask("x"), excluded=["x"])  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="instrument_starlette"):
        watchkit.instrument_starlette(Starlette(), tracing=1)  # type: ignore[arg-type]


def test_wsgi_generator_body_ends_the_request_on_close(telemetry):
    """WSGI: the request ends when the body is closed, with the bytes counted."""
    closed = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            try:
                yield b"ab"
                yield b"cde"
            finally:
                closed.append(True)

        return body()

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/upload",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": "11",
        "wsgi.url_scheme": "http",
    }
    headers = []
    body = WsgiMiddleware(app)(environ, lambda status, h, exc=None: headers.extend(h))
    assert ("X-Request-ID", environ["watchkit.request"].request_id) in headers
    assert b"".join(body) == b"abcde"
    assert telemetry.spans() == []  # not closed yet: still in flight
    body.close()  # type: ignore[attr-defined]
    assert closed == [True]
    span = telemetry.span("POST")
    assert span.attributes["server.port"] == 8000
    assert telemetry.histogram("http.server.response.body.size").sum == 5
    assert telemetry.histogram("http.server.request.body.size").sum == 11


def test_format_stacktrace_has_frames_causes_and_no_carets():
    """The cheap stack trace lists frames, source lines and the cause chain, without ^^^."""

    def inner():
        raise KeyError("dish")

    try:
        try:
            inner()
        except KeyError as error:
            raise RuntimeError("order failed") from error
    except RuntimeError as error:
        text = errors.format_stacktrace(error)
    assert 'raise KeyError("dish")' in text
    assert "in inner" in text
    assert "The above exception was the direct cause" in text
    assert text.rstrip().endswith("RuntimeError: order failed")
    assert "^" not in text


@pytest.mark.parametrize(
    ("host", "scheme", "expected"),
    [
        ("example.com", "https", ("example.com", 443)),
        ("example.com:8080", "http", ("example.com", 8080)),
        ("[::1]:9000", "http", ("::1", 9000)),
        ("[::1]", "http", ("::1", 80)),
    ],
)
def test_parse_host(host, scheme, expected):
    """server.address / server.port from the Host header, default port by scheme."""
    assert _http.parse_host(host, scheme) == expected


@pytest.mark.parametrize("value", ["", "a" * 129, "has space", "semi;colon", "ünï"])
def test_invalid_request_ids_are_replaced(value):
    """Only 1-128 characters of [A-Za-z0-9._-] are accepted from the client."""
    generated = _http.request_id_from(value)
    assert generated != value
    assert len(generated) == 32


def test_missing_framework_names_the_extra():
    """instrument_flask without Flask installed: ImportError with the pip command."""
    code = (
        "import sys; sys.modules['flask'] = None\n"
        "import watchkit\n"
        "try:\n"
        "    watchkit.instrument_flask(object())\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert "pip install 'watchkit[flask]'" in out.stdout


def test_django_contrib_middleware_makes_watchkit_step_aside(caplog):
    """With the contrib Django middleware in MIDDLEWARE, watchkit's raises MiddlewareNotUsed."""
    from django.core.exceptions import MiddlewareNotUsed
    from django.test import override_settings

    from tests.integrations.apps import django_app  # noqa: F401 - configures settings
    from watchkit.integrations.django import WatchkitMiddleware

    contrib = "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"
    middleware = [contrib, "watchkit.integrations.django.WatchkitMiddleware"]
    with override_settings(MIDDLEWARE=middleware), pytest.raises(MiddlewareNotUsed):
        WatchkitMiddleware(lambda request: None)


async def test_last_export_after_a_request_carries_active_requests_zero(clean_env, capfd):
    """Console exporter: after the request, every export (the shutdown's last one too) says 0."""
    watchkit.configure(service_name="demo", exporter="console")
    await _call(AsgiMiddleware(_plain))
    assert watchkit.force_flush(timeout=5)
    after = capfd.readouterr().err
    line = r"http\.server\.active_requests\{http\.request\.method=GET url\.scheme=https\} +0\n"
    assert re.search(line, after), after
    assert watchkit.shutdown(timeout=5)
    last = capfd.readouterr().err
    assert re.search(line, last), last


async def test_active_requests_of_another_pipeline_stay_out_of_this_one():
    """A series whose requests all ran in an earlier capture is not reported to a new one."""
    with watchkit.testing.capture() as first:
        await _call(AsgiMiddleware(_plain), method="PUT")
        assert first.counter("http.server.active_requests", {"http.request.method": "PUT"}) == 0
    with watchkit.testing.capture() as second:
        await _call(AsgiMiddleware(_plain), method="GET")
        points = second.metric_points("http.server.active_requests")
    assert [p.attributes["http.request.method"] for p in points] == ["GET"]


async def test_http_duration_goes_through_the_cardinality_guard(clean_env, caplog):
    """Routes the application makes up per request overflow into one series, with a warning."""
    clean_env.setenv("WATCHKIT_CARDINALITY_LIMIT", "3")

    class Route:  # what a badly written router would hand over: the raw path as template
        def __init__(self, path):
            self.path_format = path

    async def by_path(scope, receive, send):
        scope["route"] = Route(scope["path"])
        await _plain(scope, receive, send)

    with watchkit.testing.capture() as telemetry:
        for n in range(6):
            await _call(AsgiMiddleware(by_path), path=f"/orders/{n}")
        points = telemetry.metric_points("http.server.request.duration")
    assert len(points) == 4
    assert sum(1 for p in points if p.attributes.get("otel.metric.overflow")) == 1
    assert "'http.server.request.duration' reached its cardinality limit of 3" in caplog.text
