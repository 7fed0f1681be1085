"""Per-request cost of ``watchkit.http_client``, bare httpx and the contrib httpx instrumentation.

Every row sends ``GET /`` to the same loopback HTTP server over one keep-alive
``httpx.Client``. The bare and contrib rows call httpx's original
``Client.send`` (saved before watchkit wraps it), so only watchkit's row pays
watchkit; contrib instruments its own client (``instrument_client``) with the
shared providers. The budget compares overheads over the bare client.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks._providers import Providers
from benchmarks.harness import Budget, Suite


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
    bare, contrib, ours = httpx.Client(), httpx.Client(), httpx.Client()
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
        for client in (bare, contrib, ours):
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
