"""Per-request cost of ``watchkit.http_client``, bare httpx and the contrib httpx instrumentation.

Every row sends ``GET /`` to the same loopback HTTP server over one keep-alive
``httpx.Client``. The bare and contrib rows call httpx's original
``Client.send`` (saved before watchkit wraps it), so only watchkit's row pays
watchkit; contrib instruments its own client (``instrument_client``) with the
shared providers. The budget compares overheads over the bare client.

The last row makes the same CLIENT span (watchkit's name and attributes,
computed once), injects ``traceparent`` and records the same
``http.client.request.duration`` point straight on the SDK, and does nothing
else: no instrumentation recording this telemetry through the SDK costs less.

Measured on the shared 2-core machine under a CI run. With an in-process
``httpx.MockTransport`` instead of the socket (no round trip, so differences of a
few microseconds show), interleaved with the code before the per-request
trimming (one context read handed to the SDK; span and metric attributes and
the guard's key cached per method, host, port and outcome), watchkit's
overhead ratio went from 0.53, 0.50, 0.47 (11-20 µs above the floor) to 0.48,
0.45, 0.46 (3-8 µs above it); the floor was 0.40-0.43. On loopback the rows
moved by up to 40 µs between runs under that load (floor 0.43-0.57, watchkit
0.55-0.69, before 0.48-0.53). In four later quiet runs the floor measured
0.46-0.49 and watchkit 0.50-0.57: the 0.5x budget sits at the floor, within
the run-to-run noise of a loopback request (docs/performance.md).
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks._providers import Providers
from benchmarks.harness import Budget, Suite

FLOOR = "SDK calls alone (same span, traceparent and metric; floor)"


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body are two writes: without this, delayed ACKs add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


class _SdkFloor:
    """The SDK calls any instrumentation of this request must make, and nothing else.

    The same CLIENT span (watchkit's name and attributes, built once), the
    ``traceparent`` header, the response status on the span and the same
    ``http.client.request.duration`` point, straight on the shared providers:
    no host map, no context lookups of its own, no cardinality guard.
    """

    def __init__(self, send: Any, client: Any, url: str, providers: Providers) -> None:
        from opentelemetry import propagate, trace
        from opentelemetry.trace import SpanKind

        from watchkit._internal.semconv import (
            HTTP_CLIENT_REQUEST_DURATION,
            HTTP_REQUEST_METHOD,
            HTTP_RESPONSE_STATUS_CODE,
            SEMCONV_DURATION_BUCKETS,
            SERVER_ADDRESS,
            SERVER_PORT,
        )

        self.send, self.client, self.url = send, client, url
        port = client.build_request("GET", url).url.port
        self.attributes = {
            HTTP_REQUEST_METHOD: "GET",
            SERVER_ADDRESS: "127.0.0.1",
            SERVER_PORT: port,
        }
        self.series = {**self.attributes, HTTP_RESPONSE_STATUS_CODE: 200}
        self.status_key = HTTP_RESPONSE_STATUS_CODE
        self.kind = SpanKind.CLIENT
        self.inject, self.in_context = propagate.inject, trace.set_span_in_context
        self.tracer = providers.tracer_provider.get_tracer("benchmarks.floor")
        self.histogram = providers.meter_provider.get_meter("benchmarks.floor").create_histogram(
            HTTP_CLIENT_REQUEST_DURATION, "s",
            explicit_bucket_boundaries_advisory=SEMCONV_DURATION_BUCKETS,
        )  # fmt: skip

    def __call__(self) -> object:
        request = self.client.build_request("GET", self.url)
        span = self.tracer.start_span("GET", kind=self.kind, attributes=self.attributes)
        self.inject(request.headers, context=self.in_context(span))
        start = time.perf_counter()
        response = self.send(self.client, request)
        self.histogram.record(time.perf_counter() - start, self.series)
        span.set_attribute(self.status_key, response.status_code)
        span.end()
        return response.status_code


def suites() -> list[Suite]:
    import httpx
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    import watchkit.http_client

    providers = Providers()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    original_send: Any = httpx.Client.send
    watchkit.http_client.instrument(internal=["127.0.0.1"], clients=["httpx"])
    bare, contrib, ours, floor = httpx.Client(), httpx.Client(), httpx.Client(), httpx.Client()
    HTTPXClientInstrumentor().instrument_client(
        contrib, tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )

    def send_bare() -> object:
        return original_send(bare, bare.build_request("GET", url)).status_code

    def send_contrib() -> object:
        return original_send(contrib, contrib.build_request("GET", url)).status_code

    def send_ours() -> object:
        return ours.send(ours.build_request("GET", url)).status_code

    def stop() -> None:
        for client in (bare, contrib, ours, floor):
            client.close()
        server.shutdown()
        server.server_close()
        providers.uninstall()

    return [
        Suite(
            "Outgoing HTTP: per-request cost (httpx, loopback)",
            cases={
                "bare httpx.Client": send_bare,
                "contrib HTTPXClientInstrumentor.instrument_client": send_contrib,
                "watchkit.http_client": send_ours,
                FLOOR: _SdkFloor(original_send, floor, url, providers),
            },
            budgets=[
                Budget(
                    "watchkit.http_client",
                    "contrib HTTPXClientInstrumentor.instrument_client",
                    0.5,
                    overhead_of="bare httpx.Client",
                )
            ],
            setup=providers.install,
            teardown=stop,
            number=200,
            rounds=11,
        )
    ]
