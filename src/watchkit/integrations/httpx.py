"""httpx (``Client`` and ``AsyncClient``): every request recorded by :mod:`watchkit._outgoing`.

Wraps ``Client.send`` / ``AsyncClient.send`` once, class-wide, so clients
created before or after :func:`watchkit.http_client.instrument` are covered.
"""

from __future__ import annotations

from typing import Any

import httpx
import wrapt

from watchkit._outgoing import restore, send, send_async

__all__ = ["install", "uninstall"]

_installed = False


def _send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    request: httpx.Request = args[0] if args else kwargs["request"]
    url = request.url
    return send(wrapped, args, kwargs, request.method, url.host, url.port, request.headers)


async def _asend(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    request: httpx.Request = args[0] if args else kwargs["request"]
    url = request.url
    return await send_async(
        wrapped, args, kwargs, request.method, url.host, url.port, request.headers
    )


def install() -> None:
    """Wrap httpx's ``send`` methods (idempotent)."""
    global _installed
    if _installed:
        return
    wrapt.wrap_function_wrapper(httpx.Client, "send", _send)
    wrapt.wrap_function_wrapper(httpx.AsyncClient, "send", _asend)
    _installed = True


def uninstall() -> None:
    """Restore the original methods (idempotent)."""
    global _installed
    if not _installed:
        return
    restore(httpx.Client, "send")
    restore(httpx.AsyncClient, "send")
    _installed = False
