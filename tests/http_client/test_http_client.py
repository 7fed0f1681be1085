"""Outgoing HTTP against real loopback servers: spans, metrics, and who gets trace context."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
import requests

import watchkit
import watchkit.http_client
from watchkit._outgoing import HostMap, configure_hosts
from watchkit.testing import TelemetryCapture

DURATION = "http.client.request.duration"


@pytest.fixture(autouse=True)
def _uninstrument() -> Iterator[None]:
    """Other tests' httpx and requests calls must not be recorded."""
    yield
    watchkit.http_client.uninstrument()


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        status = 402 if self.path.startswith("/declined") else 200
        body = b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A loopback server playing the payment provider; yields its base URL and seen headers."""

    class Handler(_Recorder):
        seen: ClassVar[list[dict[str, str]]] = []

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Handler.seen
    finally:
        server.shutdown()
        server.server_close()
        configure_hosts(HostMap())


def test_dependency_gets_telemetry_but_no_trace_context(
    telemetry: TelemetryCapture, provider: tuple[str, list[dict[str, str]]]
) -> None:
    """A declared dependency: span and metric with service.peer.name, and no traceparent sent."""
    url, seen = provider
    watchkit.http_client.instrument(dependencies={"payments": ["127.0.0.1"]})
    with watchkit.flow("checkout"):
        assert httpx.get(f"{url}/charge").status_code == 200
        assert requests.post(f"{url}/declined").status_code == 402
    assert len(seen) == 2
    assert all("traceparent" not in headers for headers in seen)
    spans = telemetry.spans("GET") + telemetry.spans("POST")
    assert {s.attributes["service.peer.name"] for s in spans} == {"payments"}  # type: ignore[index]
    flow = telemetry.span("checkout")
    assert {s.parent.span_id for s in spans} == {flow.context.span_id}  # type: ignore[union-attr]
    ok = telemetry.histogram(
        DURATION, {"service.peer.name": "payments", "http.response.status_code": 200}
    )
    assert ok.count == 1
    declined = telemetry.metric_points(DURATION, {"error.type": "402"})
    assert len(declined) == 1
    assert declined[0].attributes["server.address"] == "127.0.0.1"
    assert declined[0].attributes["http.request.method"] == "POST"


def test_outcomes_of_one_host_keep_their_own_series_and_a_new_host_map_applies(
    telemetry: TelemetryCapture, provider: tuple[str, list[dict[str, str]]]
) -> None:
    """Per-host attributes are built once, yet each outcome and each host map records its own."""
    url, seen = provider
    watchkit.http_client.instrument(dependencies={"payments": ["127.0.0.1"]})
    with httpx.Client() as client:
        for path in ("/charge", "/declined", "/charge"):
            client.post(f"{url}{path}")
    (ok,) = telemetry.metric_points(DURATION, {"http.response.status_code": 200})
    assert ok.count == 2  # type: ignore[union-attr]
    assert "error.type" not in ok.attributes
    (declined,) = telemetry.metric_points(DURATION, {"http.response.status_code": 402})
    assert declined.attributes["error.type"] == "402"
    assert declined.attributes["service.peer.name"] == "payments"
    spans = telemetry.spans("POST")
    assert [s.attributes.get("error.type") for s in spans] == [None, "402", None]  # type: ignore[union-attr]
    assert all("traceparent" not in headers for headers in seen)

    watchkit.http_client.instrument(internal=["127.0.0.1"])
    with httpx.Client() as client:
        client.post(f"{url}/charge")
    assert "traceparent" in seen[-1]
    assert "service.peer.name" not in telemetry.spans("POST")[-1].attributes  # type: ignore[operator]


def test_propagate_true_sends_trace_context(
    telemetry: TelemetryCapture, provider: tuple[str, list[dict[str, str]]]
) -> None:
    """propagate=True: the dependency receives the caller's trace id."""
    url, seen = provider
    watchkit.http_client.instrument(dependencies={"payments": ["127.0.0.1"]}, propagate=True)
    with watchkit.flow("checkout"):
        httpx.get(url)
    flow = telemetry.span("checkout")
    assert seen[0]["traceparent"].split("-")[1] == format(flow.context.trace_id, "032x")  # type: ignore[union-attr]


async def test_internal_host_gets_context_unmapped_is_grouped(
    telemetry: TelemetryCapture, provider: tuple[str, list[dict[str, str]]]
) -> None:
    """Internal hosts get traceparent (async httpx too); unmapped ones are _OTHER and get none."""
    url, seen = provider
    watchkit.http_client.instrument(internal=["127.0.0.1"])
    async with httpx.AsyncClient() as client:
        await client.get(url)
    assert "traceparent" in seen[0]
    configure_hosts(HostMap())
    localhost_url = url.replace("127.0.0.1", "localhost")
    requests.get(localhost_url)
    assert "traceparent" not in seen[1]
    (point,) = telemetry.metric_points(DURATION, {"server.address": "_OTHER"})
    assert "server.port" not in point.attributes
    span = telemetry.spans("GET")[-1]
    assert span.attributes["server.address"] == "localhost"  # type: ignore[index]


def test_connection_error_is_recorded(telemetry: TelemetryCapture) -> None:
    """A refused connection: the caller gets httpx's error; the metric has error.type."""
    from tests.support.rotel import free_port

    watchkit.http_client.instrument(internal=["127.0.0.1"])
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{free_port()}/")
    (point,) = telemetry.metric_points(DURATION, {"error.type": "httpx.ConnectError"})
    assert point.attributes["server.address"] == "127.0.0.1"
    configure_hosts(HostMap())


def test_dependency_with_a_port_matches_that_port_before_host_only_entries(
    telemetry: TelemetryCapture, provider: tuple[str, list[dict[str, str]]]
) -> None:
    """Two services on one loopback host: the port-qualified entry names the one on its port."""
    url, _ = provider
    from tests.support.rotel import free_port

    port = int(url.rsplit(":", 1)[1])
    other = free_port()
    watchkit.http_client.instrument(
        dependencies={"loopback": ["127.0.0.1"], "payments": [f"127.0.0.1:{port}"]}
    )
    assert httpx.get(f"{url}/charge").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{other}/")
    peers = {
        (s.attributes["server.port"], s.attributes["service.peer.name"])  # type: ignore[index]
        for s in telemetry.spans("GET")
    }
    assert peers == {(port, "payments"), (other, "loopback")}
    assert telemetry.histogram(DURATION, {"service.peer.name": "payments"}).count == 1


def test_host_map_ports_default_ports_and_ipv6() -> None:
    """A URL without a port matches entries for 80 and 443; IPv6 takes brackets; no cache mix-up."""
    hosts = HostMap(
        {
            "stripe": ["api.stripe.com:443"],
            "admin": ["localhost:8001", "[::1]:8001"],
            "local": ["localhost", "::1"],
        },
        internal=["*.svc.local:8080"],
    )
    assert hosts.route("api.stripe.com").peer == "stripe"  # https://api.stripe.com/
    assert hosts.route("api.stripe.com", 8443).peer is None
    assert hosts.route("LOCALHOST", 8001).peer == "admin"
    assert hosts.route("localhost", 8002).peer == "local"
    assert hosts.route("localhost").peer == "local"
    assert hosts.route("::1", 8001).peer == "admin"
    assert hosts.route("::1", 9).peer == "local"
    assert hosts.route("a.svc.local", 8080).propagate
    assert hosts.route("a.svc.local", 8081).address == "_OTHER"
    assert hosts.dependency_of("admin") and not hosts.dependency_of("nobody")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dependencies": {"payments": ["localhost:0"]}}, r"dependencies\['payments'\]"),
        ({"dependencies": {"payments": ["localhost:http"]}}, "port 1-65535"),
        ({"internal": ["[::1]x"]}, "internal"),
        ({"dependencies": {"payments": "api.stripe.com"}}, "dependencies"),
        ({"dependencies": {"payments": ["https://api.stripe.com/v1"]}}, "dependencies"),
        ({"internal": "localhost"}, "internal"),
        ({"clients": ["urllib"]}, "clients"),
        ({"propagate": "yes"}, "propagate"),
    ],
)
def test_bad_arguments_fail_early(kwargs: dict[str, object], match: str) -> None:
    """Wrong arguments are ValueErrors naming the parameter."""
    with pytest.raises(ValueError, match=match):
        watchkit.http_client.instrument(**kwargs)  # type: ignore[arg-type]


@pytest.mark.collector
def test_payment_provider_call_reaches_the_collector(
    rotel_collector,
    otlp_receiver,
    provider,
    clean_env,  # type: ignore[no-untyped-def]
) -> None:
    """At the backend: the CLIENT span and http.client.request.duration with service.peer.name."""
    url, seen = provider
    watchkit.configure(service_name="food", exporter="otlp", endpoint=rotel_collector.http_endpoint)
    watchkit.http_client.instrument(dependencies={"payments": ["127.0.0.1"]})
    with watchkit.dependency("payments"):
        assert requests.get(f"{url}/declined").status_code == 402
    assert "traceparent" not in seen[0]
    assert watchkit.force_flush()
    span = otlp_receiver.wait_for_span("GET")
    assert span.kind == "client"
    assert span.attributes["service.peer.name"] == "payments"
    assert span.status_code == "error"
    assert otlp_receiver.wait_for_span("payments").span_id == span.parent_span_id
    point = otlp_receiver.wait_for(lambda r: r.metrics("http.client.request.duration"))[-1]
    assert point.attributes["service.peer.name"] == "payments"
    assert point.attributes["error.type"] == "402"
    assert point.unit == "s"
    assert otlp_receiver.wait_for(lambda r: r.metrics("watchkit.dependency.duration"))


def test_health_probes_are_not_dependency_traffic(
    telemetry: TelemetryCapture, provider: tuple[str, list[dict[str, str]]]
) -> None:
    """health.http and a user's check calling the provider record no client span or point."""
    from watchkit import health
    from watchkit.health import HealthRegistry

    url, seen = provider
    watchkit.http_client.instrument(dependencies={"payments": ["127.0.0.1"]})
    registry = HealthRegistry()
    registry.add("payments", health.http(f"{url}/status"))
    registry.add("payments-requests", lambda: requests.get(f"{url}/ping", timeout=2).ok)
    report = registry.run_sync("readyz")
    assert {r.status for r in report.results} == {"pass"}, report
    assert len(seen) == 2
    assert telemetry.metric_points(DURATION) == []
    assert telemetry.spans("GET") == []
    # The application's own call right after is still recorded.
    assert httpx.get(f"{url}/charge").status_code == 200
    assert telemetry.histogram(DURATION, {"service.peer.name": "payments"}).count == 1


async def test_async_health_probe_on_the_callers_loop_is_not_dependency_traffic(
    telemetry: TelemetryCapture, provider: tuple[str, list[dict[str, str]]]
) -> None:
    """An async check run on the probe's own event loop is suppressed, and only it."""
    from watchkit import health
    from watchkit.health import HealthRegistry

    url, _ = provider
    watchkit.http_client.instrument(dependencies={"payments": ["127.0.0.1"]})
    registry = HealthRegistry()
    registry.add("payments", health.http(f"{url}/status"))
    report = await registry.run("readyz")
    assert report.results[0].status == "pass", report
    assert telemetry.metric_points(DURATION) == []
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{url}/charge")).status_code == 200
    assert telemetry.histogram(DURATION, {"service.peer.name": "payments"}).count == 1


async def test_synthetic_step_is_its_own_client_span_not_dependency_traffic(
    telemetry: TelemetryCapture, provider: tuple[str, list[dict[str, str]]]
) -> None:
    """A journey step: one CLIENT span whose context the server receives, no duration point."""
    from watchkit import synthetic

    url, seen = provider
    watchkit.http_client.instrument(dependencies={"payments": ["127.0.0.1"]})

    async def status_page(j: synthetic.Journey) -> None:
        await j.get("status", "/status")

    synthetic.journey("payments-status")(status_page)
    result = await synthetic.run(synthetic.journeys()["payments-status"], base_url=url)
    assert result.result == "pass", result
    assert telemetry.metric_points(DURATION) == []
    assert telemetry.spans("GET") == []
    step = telemetry.span("synthetic step status")
    trace_id = format(step.context.trace_id, "032x")  # type: ignore[union-attr]
    span_id = format(step.context.span_id, "016x")  # type: ignore[union-attr]
    assert seen[-1]["traceparent"].startswith(f"00-{trace_id}-{span_id}-")
