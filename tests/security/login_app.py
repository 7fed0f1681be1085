"""A WSGI app that creates an in-memory LoginMonitor at import (run under gunicorn by a test)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from watchkit.security import LoginMonitor

MONITOR = LoginMonitor()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    blocked = MONITOR.is_blocked(request=environ)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"blocked" if blocked else b"ok"]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b"blocked" if MONITOR.is_blocked(request=scope) else b"ok"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
