"""The food-delivery example's dependencies at a real collector: database, menu cache, payments.

The example runs under uvicorn in its own process, exporting to rotel; the payment
provider is the example's stand-in (``examples/food_delivery/payments.py``) under
uvicorn on another loopback port, so the test can see the headers it received.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.food_delivery import payments

from tests.helpers import free_port
from tests.integrations.servers import UvicornThread

pytestmark = [pytest.mark.server, pytest.mark.collector]
ROOT = Path(__file__).resolve().parents[2]
ORDER = {"restaurant": "Pasta Place", "items": ["carbonara"], "total": 14.5}


def _wait_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/livez", timeout=1)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline and server.poll() is None, "example did not start"
            time.sleep(0.1)


def _series(points: list[Any]) -> dict[tuple[Any, ...], Any]:
    return {tuple(sorted(p.attributes.items())): p for p in points}


def test_database_cache_and_payments_telemetry(  # type: ignore[no-untyped-def]
    rotel_collector, otlp_receiver, tmp_path: Path
) -> None:
    """Orders in SQLite, the menu cache (miss then hit), and the provider as `payments`."""
    payments.RECEIVED.clear()
    provider = UvicornThread(payments.app)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_", "PYTEST_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        OTEL_SERVICE_NAME="food-delivery",
        WATCHKIT_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        FOOD_DELIVERY_DB=str(tmp_path / "orders.sqlite3"),
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with provider:
        env["FOOD_DELIVERY_PAYMENTS_URL"] = provider.url
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "examples.food_delivery.app:app",
             "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_up(url, server)
            first = httpx.post(f"{url}/orders", json=ORDER, timeout=10)
            assert first.status_code == 201
            second = httpx.post(f"{url}/orders", json=ORDER, timeout=10)
            assert second.status_code == 201
            bad = {**ORDER, "items": ["pizza"]}
            assert httpx.post(f"{url}/orders", json=bad, timeout=10).status_code == 422
            order_id = first.json()["id"]
            tracked = httpx.get(f"{url}/orders/{order_id}", timeout=10).json()
            assert tracked["status"] == "placed" and tracked["items"] == ["carbonara"]
            paid = httpx.post(f"{url}/orders/{order_id}/payment?card_token=tok_visa", timeout=10)
            assert paid.json()["status"] == "paid"
            declined = httpx.post(
                f"{url}/orders/{second.json()['id']}/payment?card_token=tok_declined", timeout=10
            )
            assert declined.status_code == 402
        finally:
            server.send_signal(signal.SIGTERM)  # the lifespan shutdown flushes telemetry
            server.wait(20)
    # The provider got both charges, and no trace context.
    assert len(payments.RECEIVED) == 2
    assert not [h for h in payments.RECEIVED if "traceparent" in h or "tracestate" in h]

    insert = otlp_receiver.wait_for_span("INSERT orders")
    assert insert.kind == "client"
    assert insert.attributes["db.system.name"] == "sqlite"
    assert insert.attributes["db.namespace"] == "food_delivery"
    assert insert.attributes["db.query.text"].endswith("VALUES (?, ?, ?, ?, ?, ?)")
    db_points = otlp_receiver.wait_for(lambda r: r.metrics("db.client.operation.duration"))
    assert {p.attributes.get("db.collection.name") for p in db_points} >= {"orders", "menu_items"}

    cache = _series(otlp_receiver.wait_for(lambda r: r.metrics("watchkit.cache.operations")))
    menus = {dict(k).get("cache.result"): p.value for k, p in cache.items()
             if dict(k)["cache.name"] == "menus"}  # fmt: skip
    assert menus == {"miss": 1, "hit": 2}  # first order misses, the second and the bad one hit

    charges = otlp_receiver.wait_for(
        lambda r: [
            p for p in r.metrics("http.client.request.duration")
            if p.attributes.get("service.peer.name") == "payments"
        ]
    )  # fmt: skip
    by_status = {p.attributes.get("http.response.status_code"): p for p in charges}
    assert set(by_status) == {200, 402}
    assert by_status[402].attributes["error.type"] == "402"
    assert by_status[200].resource_attributes["service.name"] == "food-delivery"
    span = otlp_receiver.wait_for_span("POST")
    assert span.kind == "client"
