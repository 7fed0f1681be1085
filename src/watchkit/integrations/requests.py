"""requests (``Session``, so ``requests.get`` too): recorded by :mod:`watchkit._outgoing`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
import wrapt

from watchkit._outgoing import begin_call

__all__ = ["install", "uninstall"]

_installed = False


def _send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    request: requests.PreparedRequest = args[0] if args else kwargs["request"]
    parts = urlsplit(request.url or "")
    call = begin_call(request.method or "GET", parts.hostname or "", parts.port, request.headers)
    if call is None:
        return wrapped(*args, **kwargs)
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as error:
        call.finish(None, error)
        raise
    call.finish(response.status_code)
    return response


def install() -> None:
    """Wrap ``requests.Session.send`` (idempotent)."""
    global _installed
    if _installed:
        return
    wrapt.wrap_function_wrapper(requests.Session, "send", _send)
    _installed = True


def uninstall() -> None:
    """Restore the original methods (idempotent)."""
    global _installed
    if not _installed:
        return
    wrapper = requests.Session.__dict__["send"]
    if isinstance(wrapper, wrapt.FunctionWrapper):
        requests.Session.send = wrapper.__wrapped__  # type: ignore[method-assign]
    _installed = False
