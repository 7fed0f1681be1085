"""The three frameworks under real servers on loopback, driven by httpx (issue 5).

Each test runs against FastAPI under uvicorn, Flask under werkzeug's threaded
WSGI server and Django under the same WSGI server; the servers run in threads
of this process, so the ``telemetry`` capture sees their spans and metrics.
Every app is instrumented twice on purpose (see tests/integrations/apps).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tests.integrations.apps.common import SECRETS, SEEN
from tests.integrations.servers import UvicornThread, WsgiThread
from watchkit.testing import TelemetryCapture

pytestmark = pytest.mark.server

ROUTES = {
    "fastapi": "/orders/{order_id}",
    "flask": "/orders/<int:order_id>",
    "django": "/orders/<int:order_id>",
}
DURATION = "http.server.request.duration"


@pytest.fixture(scope="module", params=["fastapi", "flask", "django"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(framework, base URL) of a running server."""
    framework = request.param
    if framework == "fastapi":
        from tests.integrations.apps.fastapi_app import app

        runner: Any = UvicornThread(app)
    elif framework == "flask":
        from tests.integrations.apps.flask_app import app as flask_app

        runner = WsgiThread(flask_app)
    else:
        from tests.integrations.apps.django_app import application

        runner = WsgiThread(application)
    with runner:
        yield framework, runner.url


def wait_for_spans(telemetry: TelemetryCapture, count: int, timeout: float = 5.0) -> list[Any]:
    """Spans end when the server closes the body, just after the client has it."""
    deadline = time.monotonic() + timeout
    while True:
        spans = telemetry.spans()
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        time.sleep(0.01)


def test_route_template_names_the_span_and_metric(server, telemetry):
    """A parameterised route gives the template as http.route, span name and metric attribute."""
    framework, url = server
    response = httpx.get(f"{url}/orders/42")
    assert response.status_code == 200
    (span,) = wait_for_spans(telemetry, 1)
    route = ROUTES[framework]
    assert span.name == f"GET {route}"
    assert span.kind is SpanKind.SERVER
    attrs = span.attributes
    assert attrs["http.route"] == route
    assert attrs["http.request.method"] == "GET"
    assert attrs["http.response.status_code"] == 200
    assert attrs["url.path"] == "/orders/42"
    assert attrs["url.scheme"] == "http"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["network.protocol.version"] == "1.1"
    assert attrs["client.address"] == "127.0.0.1"
    assert attrs["user_agent.original"].startswith("python-httpx")
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in attrs
    summary = telemetry.histogram(DURATION, {"http.route": route})
    assert summary.count == 1
    assert 0 < summary.sum < 5
    (point,) = telemetry.metric_points(DURATION)
    assert set(point.attributes) == {
        "http.request.method",
        "http.route",
        "http.response.status_code",
        "url.scheme",
        "network.protocol.version",
    }


def test_unmatched_path_has_no_route(server, telemetry):
    """A 404 that matched no route has no http.route on span or metric; the name is the method."""
    _, url = server
    assert httpx.get(f"{url}/no/such/page/123").status_code == 404
    (span,) = wait_for_spans(telemetry, 1)
    assert span.name == "GET"
    assert "http.route" not in span.attributes
    assert span.attributes["http.response.status_code"] == 404
    assert span.status.status_code is StatusCode.UNSET  # 4xx stays unset on SERVER spans
    (point,) = telemetry.metric_points(DURATION)
    assert "http.route" not in point.attributes
    assert point.attributes["http.response.status_code"] == 404


def test_handler_exception_is_a_500_with_error_type_and_event(server, telemetry):
    """An exception in the handler: 500 to the client, error.type and an exception event."""
    _, url = server
    assert httpx.get(f"{url}/boom").status_code == 500
    (span,) = wait_for_spans(telemetry, 1)
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "ValueError"
    assert span.status.status_code is StatusCode.ERROR
    (event,) = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "kitchen on fire"
    stack = event.attributes["exception.stacktrace"]
    assert "in boom" in stack
    assert 'raise ValueError("kitchen on fire")' in stack
    assert "^^^" not in stack
    assert telemetry.histogram(DURATION, {"error.type": "ValueError"}).count == 1


def test_incoming_traceparent_is_the_parent(server, telemetry):
    """W3C traceparent: same trace id, parent span id from the header, baggage kept."""
    _, url = server
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent_id = "00f067aa0ba902b7"
    headers = {"traceparent": f"00-{trace_id}-{parent_id}-01", "tracestate": "vendor=1"}
    assert httpx.get(f"{url}/orders/7", headers=headers).status_code == 200
    (span,) = wait_for_spans(telemetry, 1)
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == parent_id
    assert span.parent.is_remote
    assert span.context.trace_state.get("vendor") == "1"


def test_excluded_urls_produce_nothing(server, telemetry):
    """The health endpoint (excluded by default) gets no span and no metrics."""
    _, url = server
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/orders/1").status_code == 200
    spans = wait_for_spans(telemetry, 1)
    time.sleep(0.05)
    assert [s.attributes["url.path"] for s in telemetry.spans()] == ["/orders/1"]
    assert spans
    assert all(
        p.attributes.get("http.route") != "/health" for p in telemetry.metric_points(DURATION)
    )
    assert telemetry.histogram(DURATION).count == 1


def _exported_strings(telemetry: TelemetryCapture) -> str:
    parts: list[str] = []
    for span in telemetry.spans():
        parts.append(span.name)
        parts.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
        for event in span.events:
            parts.extend(f"{k}={v}" for k, v in (event.attributes or {}).items())
    for name in telemetry.metric_names():
        for point in telemetry.metric_points(name):
            parts.extend(f"{k}={v}" for k, v in point.attributes.items())
    return "\n".join(parts)


def test_sensitive_headers_and_query_values_are_redacted(server, telemetry):
    """Allowlisted sensitive headers are [REDACTED]; secrets appear in no exported attribute."""
    _, url = server
    headers = {
        "Authorization": SECRETS[0],
        "Cookie": SECRETS[1],
        "X-Api-Key": SECRETS[2],
        "X-Tenant": "acme",
    }
    response = httpx.get(f"{url}/login?token={SECRETS[3]}&page=2", headers=headers)
    assert response.status_code == 200
    assert "sekret-cookie" in response.headers["set-cookie"]
    (span,) = wait_for_spans(telemetry, 1)
    attrs = span.attributes
    assert attrs["http.request.header.authorization"] == ("[REDACTED]",)
    assert attrs["http.request.header.cookie"] == ("[REDACTED]",)
    assert attrs["http.request.header.x-api-key"] == ("[REDACTED]",)
    assert attrs["http.request.header.x-tenant"] == ("acme",)
    assert attrs["http.response.header.set-cookie"] == ("[REDACTED]",)
    assert attrs["http.response.header.content-type"][0].startswith("application/json")
    assert attrs["url.query"] == "token=[REDACTED]&page=2"
    exported = _exported_strings(telemetry)
    for secret in ("sekret-bearer-value", "sekret-cookie", "sekret-api-key", "sekret-token"):
        assert secret not in exported


def test_request_id_is_echoed_or_generated(server, telemetry):
    """A valid X-Request-ID is echoed; an invalid or missing one is replaced by a new id."""
    _, url = server
    given = httpx.get(f"{url}/orders/1", headers={"X-Request-ID": "req-abc.123_X"})
    assert given.headers["x-request-id"] == "req-abc.123_X"
    bad = httpx.get(f"{url}/orders/2", headers={"X-Request-ID": "no spaces allowed!"})
    generated = bad.headers["x-request-id"]
    assert generated != "no spaces allowed!"
    assert len(generated) == 32
    assert int(generated, 16) >= 0
    missing = httpx.get(f"{url}/orders/3").headers["x-request-id"]
    assert missing not in (generated, "req-abc.123_X")
    spans = wait_for_spans(telemetry, 3)
    ids = {s.attributes["watchkit.request.id"] for s in spans}
    assert ids == {"req-abc.123_X", generated, missing}


def test_log_context_inside_the_handler(server, telemetry):
    """Inside the handler: request_id and http.route bound, the server span current."""
    framework, url = server
    response = httpx.get(f"{url}/orders/9", headers={"X-Request-ID": f"logctx-{framework}"})
    assert response.status_code == 200
    (span,) = wait_for_spans(telemetry, 1)
    seen = SEEN.pop(f"logctx-{framework}")
    assert seen["request_id"] == f"logctx-{framework}"
    assert seen["http.route"] == ROUTES[framework]
    assert seen["trace_id"] == format(span.context.trace_id, "032x")
    assert seen["span_id"] == format(span.context.span_id, "016x")


def test_log_context_in_error_path(server, telemetry):
    """The span is current while the failing handler runs (ids for its error logs)."""
    framework, url = server
    httpx.get(f"{url}/boom", headers={"X-Request-ID": f"boom-{framework}"})
    (span,) = wait_for_spans(telemetry, 1)
    seen = SEEN.pop(f"boom-{framework}")
    assert seen["span_id"] == format(span.context.span_id, "016x")
    assert seen["http.route"] == "/boom"


def test_streaming_duration_covers_the_whole_body(server, telemetry):
    """A streaming response (3 chunks, 0.1 s apart) is timed until its last chunk."""
    _, url = server
    response = httpx.get(f"{url}/stream")
    assert response.text == "chunk 0\nchunk 1\nchunk 2\n"
    (span,) = wait_for_spans(telemetry, 1)
    assert (span.end_time - span.start_time) / 1e9 >= 0.29
    summary = telemetry.histogram(DURATION)
    assert summary.count == 1
    assert summary.sum >= 0.29


def test_concurrent_requests(server, telemetry):
    """200 concurrent requests: 200 spans, 200 histogram points, active requests back to 0."""
    _, url = server

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
            responses = await asyncio.gather(*(client.get(f"/orders/{i}") for i in range(200)))
        return [r.status_code for r in responses]

    assert asyncio.run(run()) == [200] * 200
    spans = wait_for_spans(telemetry, 200, timeout=10)
    assert len(spans) == 200
    assert len({s.context.span_id for s in spans}) == 200
    assert len({s.attributes["watchkit.request.id"] for s in spans}) == 200
    assert telemetry.histogram(DURATION).count == 200
    assert telemetry.counter("http.server.active_requests") == 0
    assert telemetry.histogram("http.server.response.body.size").count == 200
