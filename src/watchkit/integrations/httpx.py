"""httpx (``Client`` and ``AsyncClient``): every request recorded by :mod:`watchkit._outgoing`.

Wraps ``Client.send`` / ``AsyncClient.send`` once, class-wide, so clients
created before or after :func:`watchkit.http_client.instrument` are covered.
"""

from __future__ import annotations

from typing import Any

import httpx
import wrapt

from watchkit._outgoing import begin_call

__all__ = ["install", "uninstall"]

_installed = False


def _send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    request: httpx.Request = args[0] if args else kwargs["request"]
    url = request.url
    call = begin_call(request.method, url.host, url.port, request.headers)
    if call is None:
        return wrapped(*args, **kwargs)
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as error:
        call.finish(None, error)
        raise
    call.finish(response.status_code)
    return response


async def _asend(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    request: httpx.Request = args[0] if args else kwargs["request"]
    url = request.url
    call = begin_call(request.method, url.host, url.port, request.headers)
    if call is None:
        return await wrapped(*args, **kwargs)
    try:
        response = await wrapped(*args, **kwargs)
    except BaseException as error:
        call.finish(None, error)
        raise
    call.finish(response.status_code)
    return response


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
    wrapper = httpx.Client.__dict__["send"]
    if isinstance(wrapper, wrapt.FunctionWrapper):
        httpx.Client.send = wrapper.__wrapped__  # type: ignore[method-assign]
    wrapper = httpx.AsyncClient.__dict__["send"]
    if isinstance(wrapper, wrapt.FunctionWrapper):
        httpx.AsyncClient.send = wrapper.__wrapped__  # type: ignore[method-assign]
    _installed = False
