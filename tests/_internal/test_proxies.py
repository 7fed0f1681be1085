"""client.address from X-Forwarded-For / Forwarded only when the peer is a trusted proxy."""

from __future__ import annotations

import pytest

from watchkit import ConfigError
from watchkit._internal.proxies import NO_PROXIES, TrustedProxies, client_address
from watchkit._internal.settings import resolve

PROXY = TrustedProxies(("10.0.0.0/8", "::1"))


def test_without_trusted_proxies_the_socket_peer_is_the_client() -> None:
    """A spoofed header from anybody is ignored by default."""
    assert NO_PROXIES.client("198.51.100.1", "1.2.3.4", None) == "198.51.100.1"
    assert client_address("198.51.100.1", {"forwarded": "for=1.2.3.4"}, NO_PROXIES) == (
        "198.51.100.1"
    )


def test_a_trusted_peer_gives_the_first_untrusted_hop_from_the_right() -> None:
    """The client can prepend anything; only what trusted proxies appended counts."""
    assert PROXY.client("10.0.0.5", "203.0.113.7", None) == "203.0.113.7"
    assert PROXY.client("10.0.0.5", "6.6.6.6, 203.0.113.7, 10.1.2.3", None) == "203.0.113.7"
    assert PROXY.client("10.0.0.5", "10.9.9.9, 10.1.2.3", None) == "10.9.9.9"  # all proxies
    assert PROXY.client("::1", "203.0.113.7:4711", None) == "203.0.113.7"


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    """The peer itself is not a trusted proxy: its headers are the client's words."""
    assert PROXY.client("198.51.100.1", "203.0.113.7", None) == "198.51.100.1"


def test_forwarded_header_wins_and_is_parsed() -> None:
    """RFC 7239: quoted IPv6 with port, several elements, other parameters."""
    header = 'for=6.6.6.6, for="[2001:db8::1]:443";proto=https;by=10.0.0.1'
    assert PROXY.client("10.0.0.5", "9.9.9.9", header) == "2001:db8::1"


def test_garbage_hop_stops_at_the_last_trusted_proxy() -> None:
    """``unknown`` or junk is no address: the nearest trusted proxy is reported."""
    assert PROXY.client("10.0.0.5", "203.0.113.7, unknown", None) == "10.0.0.5"
    assert PROXY.client("10.0.0.5", "junk", None) == "10.0.0.5"


def test_hop_count_takes_the_nth_address_from_the_right() -> None:
    """Two proxies in front: the second-to-last XFF entry; a shorter chain is not believed."""
    two = TrustedProxies(2)
    assert two.client("10.0.0.5", "6.6.6.6, 203.0.113.7, 10.0.0.9", None) == "203.0.113.7"
    assert two.client("10.0.0.5", "203.0.113.7", None) == "10.0.0.5"
    assert TrustedProxies(0).client("10.0.0.5", "203.0.113.7", None) == "10.0.0.5"


def test_setting_accepts_networks_hop_counts_and_the_environment() -> None:
    """Parameter and WATCHKIT_TRUSTED_PROXIES, CIDR or addresses or a number."""
    assert resolve(environ={}).trusted_proxies == ()
    assert resolve(trusted_proxies=["10.0.0.0/8", "127.0.0.1"], environ={}).trusted_proxies == (
        "10.0.0.0/8",
        "127.0.0.1/32",
    )
    assert resolve(trusted_proxies=1, environ={}).trusted_proxies == 1
    env = {"WATCHKIT_TRUSTED_PROXIES": "192.168.0.0/16, ::1"}
    assert resolve(environ=env).trusted_proxies == ("192.168.0.0/16", "::1/128")
    assert resolve(environ={"WATCHKIT_TRUSTED_PROXIES": "2"}).trusted_proxies == 2


@pytest.mark.parametrize("bad", [["10.0.0.0/33"], ["proxy.internal"], -1, True, "10.0.0.0/8"])
def test_bad_trusted_proxies_name_the_parameter(bad: object) -> None:
    """ConfigError names the parameter and what is accepted."""
    with pytest.raises(ConfigError, match=r"parameter trusted_proxies .*CIDR"):
        resolve(trusted_proxies=bad, environ={})  # type: ignore[arg-type]


def test_bad_environment_variable_names_it() -> None:
    """ConfigError names WATCHKIT_TRUSTED_PROXIES."""
    with pytest.raises(ConfigError, match="WATCHKIT_TRUSTED_PROXIES"):
        resolve(environ={"WATCHKIT_TRUSTED_PROXIES": "10.0.0.0/8, nonsense"})
