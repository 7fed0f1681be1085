"""requests (``Session``, so ``requests.get`` too): recorded by :mod:`watchkit._outgoing`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
import wrapt

from watchkit._outgoing import restore, send

__all__ = ["install", "uninstall"]

_installed = False


def _send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    request: requests.PreparedRequest = args[0] if args else kwargs["request"]
    parts = urlsplit(request.url or "")
    method = request.method or "GET"
    return send(wrapped, args, kwargs, method, parts.hostname or "", parts.port, request.headers)


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
    restore(requests.Session, "send")
    _installed = False
