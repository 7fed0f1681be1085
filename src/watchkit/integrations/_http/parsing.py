"""Values read from what the client sent: numbers, ports, the Host header, request ids."""

from __future__ import annotations

import re
from random import getrandbits as _random_bits
from typing import Final

__all__ = ["number", "parse_host", "port_number", "request_id_from"]

_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")
_HOSTS: dict[tuple[str, str], tuple[str, int | None]] = {}
_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def number(text: object, max_digits: int = 18) -> int | None:
    """A non-negative integer written in ASCII digits (at most ``max_digits``), else None.

    ``str.isdigit()`` alone accepts ``"\\xb2"`` (a latin-1 byte clients can send),
    which ``int()`` rejects, and ``int()`` refuses more than 4300 digits.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text if text >= 0 else None
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    if isinstance(text, str) and 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def port_number(text: object) -> int | None:
    """A TCP port (0-65535) from a header or environ value, else None."""
    port = number(text, 5)
    return port if port is not None and port <= 65535 else None


def parse_host(text: str, scheme: str) -> tuple[str, int | None]:
    """``server.address`` and ``server.port`` from a Host header (default port by scheme).

    A port that is no valid port gives no ``server.port``.
    """
    key = (text, scheme)
    found = _HOSTS.get(key)
    if found is not None:
        return found
    tail: str | None = None
    if text.startswith("["):  # [v6]:port
        end = text.find("]")
        address = text[1:end] if end > 0 else text
        rest = text[end + 1 :] if end > 0 else ""
        if rest.startswith(":"):
            tail = rest[1:]
    else:
        address, sep, after = text.rpartition(":")
        if sep and after.isdigit():
            tail = after
        else:
            address = text
    port = _DEFAULT_PORTS.get(scheme) if tail is None else port_number(tail)
    found = (address, port)
    if len(_HOSTS) < 1024:
        _HOSTS[key] = found
    return found


def request_id_from(value: str | None) -> str:
    """The client's X-Request-ID if valid (1-128 of ``[A-Za-z0-9._-]``), else a new one."""
    if value is not None and _REQUEST_ID.fullmatch(value) is not None:
        return value
    return "%032x" % _random_bits(128)  # noqa: UP031 - fastest formatting here
