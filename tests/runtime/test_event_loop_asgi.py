"""Event-loop lag of an ASGI app under real uvicorn, wired by the ASGI middleware."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import watchkit.runtime
from tests.integrations.servers import UvicornThread
from watchkit._runtime import _LOOPS
from watchkit.integrations.asgi import WatchkitMiddleware
from watchkit.testing import TelemetryCapture

LAG = "watchkit.runtime.event_loop.lag"


@pytest.fixture
def runtime() -> Iterator[None]:
    watchkit.runtime.enable()
    yield
    watchkit.runtime.disable()


def _app(blocking: threading.Event) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].replace("lifespan.", "")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["path"] == "/block":
            blocking.set()
            time.sleep(0.3)  # a sync call on the loop: what lag is about
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


@pytest.mark.parametrize("lifespan", ["on", "off"])
def test_uvicorn_loop_lag(telemetry: TelemetryCapture, runtime: None, lifespan: str) -> None:
    """The serving loop is watched (lifespan or first request) once, and unwatched at shutdown."""
    blocking = threading.Event()
    server = UvicornThread(WatchkitMiddleware(_app(blocking)), lifespan=lifespan)
    watched_before = set(_LOOPS.loops)
    with server:
        assert httpx.get(f"{server.url}/fast", timeout=10).status_code == 200
        serving = set(_LOOPS.loops) - watched_before
        assert len(serving) == 1  # the server's loop, once
        slow = threading.Thread(target=httpx.get, args=(f"{server.url}/block",))
        slow.start()
        assert blocking.wait(10)
        telemetry.metric_points(LAG)  # this collection's probe waits for the blocked loop
        slow.join(10)
        assert httpx.get(f"{server.url}/fast", timeout=10).status_code == 200
        assert 0.15 <= telemetry.counter(LAG) < 5
        assert set(_LOOPS.loops) - watched_before == serving
    if lifespan == "on":
        assert not (set(_LOOPS.loops) & serving)  # the lifespan shutdown unwatched it
