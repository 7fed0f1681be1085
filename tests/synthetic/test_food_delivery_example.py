"""The food-delivery example: its probes answer and its journey passes against it, under uvicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]


def test_probes_and_the_place_order_track_delivery_journey():
    """/livez and /readyz answer health+json; the journey run with --once exits 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_"))}
    env.update(PYTHONPATH=str(ROOT), WATCHKIT_EXPORTER="none")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.food_delivery.app:app", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                live = httpx.get(f"{url}/livez", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        assert live.status_code == 200
        assert live.headers["content-type"].startswith("application/health+json")
        ready = httpx.get(f"{url}/readyz").json()
        assert "order-store:responseTime" in ready["checks"]
        run = subprocess.run(
            [sys.executable, "-m", "watchkit", "synthetic", "run",
             "examples.food_delivery.journeys", "--once", "--base-url", url],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert "OK   place-order-track-delivery: pass" in run.stdout
    finally:
        server.terminate()
        server.wait(10)
