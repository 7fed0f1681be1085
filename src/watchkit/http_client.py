"""Outgoing HTTP: client spans, ``http.client.request.duration`` by dependency, context policy.

::

    import watchkit.http_client

    watchkit.http_client.instrument(
        dependencies={"payments": ["api.stripe.com"], "sms": ["api.twilio.com"]},
        internal=["*.svc.cluster.local", "localhost"],
    )

Every request of httpx (sync and async) and requests gets a CLIENT span and a
point of ``http.client.request.duration`` (s) with ``http.request.method``,
``server.address``, ``server.port``, ``http.response.status_code``,
``error.type`` and, for hosts of a declared dependency, ``service.peer.name``.
Trace context goes only to ``internal`` hosts (and to dependencies with
``propagate=True``); other hosts are grouped as ``server.address=_OTHER``. See
:mod:`watchkit._outgoing`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence

from watchkit._outgoing import HostMap, configure_hosts

__all__ = ["instrument", "uninstrument"]

_CLIENTS = ("httpx", "requests")


def instrument(
    *,
    dependencies: Mapping[str, Sequence[str]] | None = None,
    internal: Sequence[str] = (),
    propagate: bool = False,
    clients: Sequence[str] | None = None,
) -> None:
    """Record every outgoing request of httpx and requests (calling it again replaces the map).

    Args:
        dependencies: logical dependency name -> its hosts (``api.stripe.com``
            or ``*.stripe.com``); recorded as ``service.peer.name``.
        internal: the service's own hosts, which get trace context.
        propagate: also send trace context to the dependencies' hosts.
        clients: which libraries to instrument (default: those installed of
            ``httpx`` and ``requests``).

    Raises:
        ValueError: a host pattern, name or client is invalid.
        ImportError: a client named in ``clients`` is not installed.

    Example:
        >>> instrument(dependencies={"payments": ["api.stripe.com"]}, internal=["localhost"])
    """
    hosts = HostMap(dependencies, internal, propagate)
    if clients is None:
        chosen = [name for name in _CLIENTS if importlib.util.find_spec(name) is not None]
    else:
        if isinstance(clients, str):
            raise ValueError(f"clients must be a list of names, not the string {clients!r}")
        chosen = list(clients)
        for name in chosen:
            if name not in _CLIENTS:
                raise ValueError(f"clients entry {name!r} is invalid: use {', '.join(_CLIENTS)}")
            if importlib.util.find_spec(name) is None:
                raise ImportError(
                    f"watchkit.http_client: {name} is not installed: pip install {name}"
                )
    configure_hosts(hosts)
    if "httpx" in chosen:
        from watchkit.integrations import httpx as _httpx

        _httpx.install()
    if "requests" in chosen:
        from watchkit.integrations import requests as _requests

        _requests.install()


def uninstrument() -> None:
    """Stop recording outgoing requests: restore httpx's and requests' original methods."""
    configure_hosts(HostMap())
    if importlib.util.find_spec("httpx") is not None:
        from watchkit.integrations import httpx as _httpx

        _httpx.uninstall()
    if importlib.util.find_spec("requests") is not None:
        from watchkit.integrations import requests as _requests

        _requests.uninstall()
