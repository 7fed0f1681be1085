"""The client's address and user agent of a request, whatever the framework.

Accepted: a WSGI environ, a Django ``HttpRequest`` (``.META``), a werkzeug/
Flask request (``.environ``), a Starlette request (``.scope``) or an ASGI
scope. The forwarding headers count only as the ``trusted_proxies`` setting
allows (:mod:`watchkit._internal.proxies`), so a spoofed ``X-Forwarded-For``
can neither dodge a brute-force counter nor lock out somebody else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchkit._internal.proxies import TrustedProxies
from watchkit._internal.state import STATE, PerPipeline, bound

__all__ = ["client_of"]


def _proxies() -> TrustedProxies:
    pipeline = STATE.pipeline
    settings = pipeline.settings if pipeline is not None else None
    return TrustedProxies(getattr(settings, "trusted_proxies", ()))


_PROXIES: PerPipeline[TrustedProxies] = bound(_proxies)


def _from_environ(environ: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
    return (
        environ.get("REMOTE_ADDR"),
        environ.get("HTTP_X_FORWARDED_FOR"),
        environ.get("HTTP_FORWARDED"),
        environ.get("HTTP_USER_AGENT"),
    )


def _from_scope(scope: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
    client = scope.get("client")
    headers: dict[str, str] = {}
    for name, value in scope.get("headers") or ():
        key = name.decode("latin-1").lower()
        if key in ("x-forwarded-for", "forwarded", "user-agent"):
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return (
        client[0] if client else None,
        headers.get("x-forwarded-for"),
        headers.get("forwarded"),
        headers.get("user-agent"),
    )


def client_of(request: object) -> tuple[str | None, str | None]:
    """``(client address, user agent)`` of ``request``.

    Raises:
        TypeError: ``request`` is none of the accepted kinds.
    """
    parts: tuple[Any, Any, Any, Any]
    if isinstance(request, Mapping):
        if "type" in request and "headers" in request:  # an ASGI scope
            parts = _from_scope(request)
        else:
            parts = _from_environ(request)
    elif isinstance(getattr(request, "META", None), Mapping):
        parts = _from_environ(request.META)  # type: ignore[attr-defined]
    elif isinstance(getattr(request, "environ", None), Mapping):
        parts = _from_environ(request.environ)  # type: ignore[attr-defined]
    elif isinstance(getattr(request, "scope", None), Mapping):
        parts = _from_scope(request.scope)  # type: ignore[attr-defined]
    else:
        raise TypeError(
            f"request={type(request).__name__} is not accepted; pass a WSGI environ, an "
            "ASGI scope, or a Django, Flask/werkzeug or Starlette request"
        )
    peer, forwarded_for, forwarded, user_agent = parts
    address = _PROXIES.get().client(peer, forwarded_for, forwarded)
    return address, user_agent
