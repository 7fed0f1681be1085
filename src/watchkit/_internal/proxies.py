"""The client's address, believing forwarding headers only from trusted proxies.

``X-Forwarded-For`` and ``Forwarded`` are written by whoever sends the request:
any client can claim any address. Only hops added by proxies the operator
trusts (``configure(trusted_proxies=[CIDR, ...])``, or a number of proxy hops
in front of the service) are believed; with none configured the socket peer
is the client. The same rule serves the HTTP integrations and the login
monitor, so a spoofed header can neither fake a span's ``client.address`` nor
dodge a brute-force counter.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["NO_PROXIES", "TrustedProxies", "client_address", "parse_forwarded_for"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> str | None:
    """The IP address of one hop (``1.2.3.4``, ``1.2.3.4:80``, ``"[::1]:80"``), else None."""
    text = text.strip().strip('"')
    if text.startswith("["):
        end = text.find("]")
        text = text[1:end] if end > 0 else ""
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def parse_forwarded_for(x_forwarded_for: str | None, forwarded: str | None) -> list[str]:
    """The hops the headers list, client first; RFC 7239 ``Forwarded`` wins when present.

    A hop that is no IP address (``unknown``, an obfuscated ``_node``) is kept
    as ``""`` so the chain keeps its length.
    """
    hops: list[str] = []
    if forwarded:
        for element in forwarded.split(","):
            for pair in element.split(";"):
                key, _, value = pair.partition("=")
                if key.strip().lower() == "for":
                    hops.append(_address(value) or "")
        return hops
    if x_forwarded_for:
        hops = [_address(part) or "" for part in x_forwarded_for.split(",")]
    return hops


class TrustedProxies:
    """Which peers may tell the client's address: networks, or a hop count.

    Args:
        setting: the resolved ``trusted_proxies`` setting: CIDR strings, or
            the number of proxies in front of the service (0: none).

    Example:
        >>> trust = TrustedProxies(("10.0.0.0/8",))
        >>> trust.client("10.0.0.5", "203.0.113.7, 10.0.0.9", None)
        '203.0.113.7'
        >>> trust.client("198.51.100.1", "203.0.113.7", None)  # peer not trusted
        '198.51.100.1'
    """

    __slots__ = ("hops", "networks")

    def __init__(self, setting: Sequence[str] | int = ()) -> None:
        self.hops = setting if isinstance(setting, int) else 0
        self.networks: tuple[_Network, ...] = (
            ()
            if isinstance(setting, int)
            else tuple(ipaddress.ip_network(n, strict=False) for n in setting)
        )

    @property
    def enabled(self) -> bool:
        """Whether any forwarding header is believed at all."""
        return bool(self.networks) or self.hops > 0

    def trusts(self, address: str) -> bool:
        """Whether ``address`` is one of the trusted proxies' networks."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(
        self, peer: str | None, x_forwarded_for: str | None, forwarded: str | None
    ) -> str | None:
        """The client's address for a request from ``peer`` with these headers."""
        if not self.enabled or peer is None or not (x_forwarded_for or forwarded):
            return peer
        hops = parse_forwarded_for(x_forwarded_for, forwarded)
        if not hops:
            return peer
        if self.hops:
            # N proxies in front: the Nth address from the right is the client's,
            # as werkzeug's ProxyFix(x_for=N). A shorter chain did not pass
            # through all of them: the header is not believed.
            if len(hops) < self.hops:
                return peer
            return hops[-self.hops] or peer
        if not self.trusts(peer):
            return peer
        # Walk from the nearest hop outwards while the hops are trusted proxies;
        # the first untrusted one is the client. A hop that is no address ends
        # the walk at the last trusted proxy.
        last = peer
        for hop in reversed(hops):
            if not hop:
                return last
            if not self.trusts(hop):
                return hop
            last = hop
        return last


NO_PROXIES: Final = TrustedProxies()


def client_address(
    peer: str | None, headers: Mapping[str, str], trusted: TrustedProxies
) -> str | None:
    """The client's address from the socket ``peer`` and the request ``headers``.

    ``headers`` maps lower-case header names to values (``x-forwarded-for``,
    ``forwarded``); only hops added by ``trusted`` proxies are believed.

    Example:
        >>> client_address("127.0.0.1", {"x-forwarded-for": "203.0.113.7"},
        ...                TrustedProxies(("127.0.0.1/32",)))
        '203.0.113.7'
        >>> client_address("127.0.0.1", {"x-forwarded-for": "203.0.113.7"}, NO_PROXIES)
        '127.0.0.1'
    """
    return trusted.client(peer, headers.get("x-forwarded-for"), headers.get("forwarded"))
