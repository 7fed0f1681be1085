"""End to end: a real Prometheus scrapes an instrumented app each second, generated rules loaded."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import watchkit
from tests.integrations.servers import WsgiThread
from tests.support.binaries import require
from watchkit import ops
from watchkit.integrations.wsgi import WatchkitMiddleware

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    failing = environ["PATH_INFO"] == "/fail"
    start_response("500 Internal Server Error" if failing else "200 OK", [])
    return [b"no" if failing else b"ok"]


def _alerts(base: str) -> list[dict[str, Any]]:
    payload = httpx.get(f"{base}/api/v1/alerts", timeout=5).json()
    return [a for a in payload["data"]["alerts"] if a["labels"]["alertname"] == "HighErrorRate"]


def test_error_rate_alert_goes_pending_then_fires(tmp_path: Path, clean_env: Any) -> None:
    """5xx traffic above 3 %: HighErrorRate is pending, then firing, with the declared labels."""
    service = ops.service(
        "e2e-shop",
        team="payments",
        runbook_url="https://runbooks.example.com/e2e",
        thresholds=[
            ops.threshold(
                "HighErrorRate",
                kind="error_ratio",
                warning=0.01,
                critical=0.03,
                for_="3s",
                window="1m",
            ),
        ],
        anomalies=False,
    )
    (tmp_path / "rules.yaml").write_text(ops.to_yaml(ops.rules(service)))
    metrics_port, prom_port = _free_port(), _free_port()
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": ["rules.yaml"],
                "scrape_configs": [
                    {
                        "job_name": "app",
                        "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
                    },
                ],
            }
        )
    )
    watchkit.configure(service_name="e2e-shop", exporter="none", prometheus_port=metrics_port)
    prometheus = subprocess.Popen(
        [require("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{prom_port}"
    states: list[str] = []
    try:
        with WsgiThread(WatchkitMiddleware(_app)) as server, httpx.Client() as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for _ in range(9):
                    client.get(f"{server.url}/ok")
                client.get(f"{server.url}/fail")  # 10 % errors
                try:
                    found = _alerts(base)
                except httpx.TransportError:
                    found = []
                for alert in found:
                    if not states or states[-1] != alert["state"] + alert["labels"]["severity"]:
                        states.append(alert["state"] + alert["labels"]["severity"])
                firing = [a for a in found if a["state"] == "firing"]
                if {a["labels"]["severity"] for a in firing} == {"warning", "critical"}:
                    break
                time.sleep(0.25)
    finally:
        prometheus.terminate()
        _, err = prometheus.communicate(timeout=20)
    assert any(s.startswith("pending") for s in states), (states, err[-2000:])
    critical = next(a for a in firing if a["labels"]["severity"] == "critical")
    assert critical["labels"]["team"] == "payments"
    assert critical["labels"]["service_name"] == "e2e-shop"
    assert critical["annotations"]["runbook_url"] == "https://runbooks.example.com/e2e"
