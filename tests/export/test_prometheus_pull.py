"""The Prometheus pull endpoint: a real scrape over loopback, promoted labels, one process only."""

from __future__ import annotations

import socket

import httpx
import pytest

import watchkit
from tests.helpers import run_python


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_scrape_shows_metrics_with_promoted_resource_labels(clean_env: pytest.MonkeyPatch) -> None:
    """A counter scrapes as `_total` with service_name/namespace/environment as series labels."""
    port = _free_port()
    watchkit.configure(
        service_name="checkout",
        environment="production",
        resource_attributes={"service.namespace": "shop"},
        exporter="none",
        prometheus_port=port,
    )
    watchkit.counter("orders.placed", unit="{order}").add(3)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("orders_placed_total{"))
    for label in ('service_name="checkout"', 'service_namespace="shop"',
                  'deployment_environment_name="production"'):  # fmt: skip
        assert label in line
    assert line.endswith(" 3.0")
    assert "target_info{" in text
    watchkit.shutdown()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_a_second_process_on_the_same_port_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    """Pre-fork workers sharing one port would each show their own numbers: ConfigError instead."""
    port = _free_port()
    watchkit.configure(service_name="a", exporter="none", prometheus_port=port)
    result = run_python(
        f"""
        import watchkit
        try:
            watchkit.configure(service_name="a", exporter="none", prometheus_port={port})
        except watchkit.ConfigError as error:
            print("REFUSED", error)
        """,
        env={},
    )
    assert f"REFUSED prometheus_port = {port} is already in use" in result.stdout
    assert "give each worker its own prometheus_port" in result.stdout


async def test_mounted_asgi_app_serves_the_scrape(clean_env: pytest.MonkeyPatch) -> None:
    """With port 0 there is no server; the ASGI app mounted in the application serves it."""
    watchkit.configure(service_name="mounted", exporter="none", prometheus_port=0)
    watchkit.counter("hits").add(1)
    transport = httpx.ASGITransport(app=watchkit.prometheus_asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "hits_total{" in response.text
    assert 'service_name="mounted"' in response.text


def test_port_is_validated(clean_env: pytest.MonkeyPatch) -> None:
    """A bad port names the parameter and the accepted values."""
    with pytest.raises(watchkit.ConfigError, match=r"prometheus_port.*port number from 1 to 65535"):
        watchkit.configure(exporter="none", prometheus_port=70000)
    clean_env.setenv("WATCHKIT_PROMETHEUS_PORT", "http")
    with pytest.raises(watchkit.ConfigError, match=r"WATCHKIT_PROMETHEUS_PORT"):
        watchkit.configure(exporter="none")
