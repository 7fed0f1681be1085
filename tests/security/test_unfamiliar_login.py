"""Unfamiliar logins (new network or user agent per user), and the client address from a request."""

from __future__ import annotations

import uuid

import pytest

import watchkit
from watchkit.security import LoginMonitor
from watchkit.testing import TelemetryCapture

EVENT = "security.unfamiliar_login"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _events(telemetry: TelemetryCapture) -> list[dict[str, object]]:
    return [dict(r.attributes or {}) for r in telemetry.logs(event=EVENT)]


@pytest.fixture(params=["memory", "redis"])
def store(request, redis_server) -> object:  # type: ignore[no-untyped-def]
    return "memory" if request.param == "memory" else redis_server.url


def test_a_new_network_or_agent_is_reported_once(telemetry, store) -> None:
    """First login: one INFO record (first_seen); same network again: none; new /24: one WARN."""
    monitor = LoginMonitor(store=store, name=f"t-{uuid.uuid4().hex[:8]}")
    firefox = "Mozilla/5.0 Firefox/133.0"
    monitor.record(True, user="ana", source_ip="203.0.113.7", user_agent=firefox)
    monitor.record(True, user="ana", source_ip="203.0.113.99", user_agent=firefox)  # same /24
    events = _events(telemetry)
    assert len(events) == 1
    assert events[0]["security.first_seen"] is True
    assert events[0]["security.network.prefix"] == "203.0.113.0/24"
    assert telemetry.counter("watchkit.security.alerts") == 0  # nothing to differ from yet

    monitor.record(True, user="ana", source_ip="198.51.100.4", user_agent=firefox)
    monitor.record(True, user="ana", source_ip="198.51.100.5", user_agent=firefox)
    monitor.record(True, user="ana", source_ip="198.51.100.6", user_agent="curl/8.5")
    events = _events(telemetry)
    assert len(events) == 3
    assert events[1]["security.new_network"] is True
    assert events[1]["security.new_user_agent"] is False
    assert events[1]["security.first_seen"] is False
    assert events[1]["user.name"] == "ana"
    assert events[1]["client.address"] == "198.51.100.4"
    assert events[2]["security.new_network"] is False
    assert events[2]["security.new_user_agent"] is True
    assert events[2]["user_agent.original"] == "curl/8.5"
    records = telemetry.logs(event=EVENT)
    assert [r.severity_text for r in records] == ["INFO", "WARN", "WARN"]
    assert telemetry.counter("watchkit.security.alerts", {"kind": "unfamiliar_login"}) == 2
    # Users and addresses are in log records only, never metric attributes.
    for name in telemetry.metric_names():
        for point in telemetry.metric_points(name):
            values = {str(v) for v in dict(point.attributes).values()}
            assert not values & {"ana", "203.0.113.7", "198.51.100.4", "curl/8.5"}


def test_ipv6_networks_are_48_bit_prefixes_and_configurable(telemetry) -> None:
    """/48 for IPv6 by default; network_prefix=(16, 32) widens both."""
    monitor = LoginMonitor()
    monitor.record(True, user="li", source_ip="2001:db8:1:2::5")
    monitor.record(True, user="li", source_ip="2001:db8:1:ffff::9")
    wide = LoginMonitor(network_prefix=(16, 32))
    wide.record(True, user="mo", source_ip="192.0.2.1")
    wide.record(True, user="mo", source_ip="192.0.77.1")
    events = _events(telemetry)
    assert [e["security.network.prefix"] for e in events] == ["2001:db8:1::/48", "192.0.0.0/16"]


def test_a_network_is_unfamiliar_again_after_the_period(telemetry) -> None:
    """Not seen for longer than new_device_period: reported again."""
    clock = Clock()
    monitor = LoginMonitor(new_device_period=3600, clock=clock)
    monitor.record(True, user="ana", source_ip="203.0.113.7")
    monitor.record(True, user="ana", source_ip="192.0.2.7")
    clock.now += 1800
    monitor.record(True, user="ana", source_ip="192.0.2.7")  # seen 30 min ago
    clock.now += 3000
    monitor.record(True, user="ana", source_ip="203.0.113.7")  # seen 80 min ago
    assert len(_events(telemetry)) == 3


def test_devices_in_memory_are_bounded_per_user_and_in_users(telemetry) -> None:
    """At most max_keys users and 64 networks/agents per user are remembered."""
    monitor = LoginMonitor(max_keys=10)
    for i in range(50):
        monitor.record(True, user=f"u{i}", source_ip=f"10.0.{i}.1")
    for i in range(200):
        monitor.record(True, user="roamer", source_ip=f"10.{i}.0.1")
    devices = monitor._store.devices
    assert len(devices) <= 10
    assert len(devices["roamer"]) <= 64


def test_new_device_events_can_be_switched_off(telemetry) -> None:
    """new_device_period=None: no record, nothing remembered."""
    monitor = LoginMonitor(new_device_period=None)
    monitor.record(True, user="ana", source_ip="203.0.113.7")
    assert _events(telemetry) == []


def test_the_client_address_comes_from_trusted_proxies_only(clean_env) -> None:
    """X-Forwarded-For counts only when configure(trusted_proxies=...) trusts the peer."""
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_X_FORWARDED_FOR": "203.0.113.7",
        "HTTP_USER_AGENT": "Firefox/133",
    }
    watchkit.configure(service_name="login-test", exporter="none")
    untrusted = LoginMonitor(max_failures=1)
    untrusted.record(False, request=environ)
    untrusted.record(False, request=environ)
    assert untrusted.is_blocked(source_ip="127.0.0.1")  # the proxy's address was counted
    assert not untrusted.is_blocked(source_ip="203.0.113.7")
    watchkit.shutdown()

    watchkit.configure(service_name="login-test", exporter="none", trusted_proxies=["127.0.0.1"])
    trusted = LoginMonitor(max_failures=1)
    trusted.record(False, request=environ)
    trusted.record(False, request=environ)
    assert trusted.is_blocked(source_ip="203.0.113.7")
    assert trusted.is_blocked(request=environ)
    assert not trusted.is_blocked(source_ip="127.0.0.1")
    # An ASGI scope (and so a Starlette request's .scope) works the same.
    scope = {
        "type": "http",
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-forwarded-for", b"203.0.113.7"), (b"user-agent", b"Firefox/133")],
    }
    assert trusted.is_blocked(request=scope)


def test_an_unknown_request_kind_is_reported(telemetry) -> None:
    """A request of no accepted kind is an internal error: raised under the test switch."""
    monitor = LoginMonitor()
    with pytest.raises(TypeError, match="request=int"):
        monitor.record(False, request=42)


def test_framework_request_objects_are_accepted(telemetry) -> None:
    """A werkzeug (Flask) request and a Starlette request give their peer and user agent."""
    from starlette.requests import Request
    from werkzeug.test import EnvironBuilder

    monitor = LoginMonitor(max_failures=1)
    flask_request = EnvironBuilder(
        environ_base={"REMOTE_ADDR": "192.0.2.31"}, headers={"User-Agent": "Safari/17"}
    ).get_request()
    starlette_request = Request(
        {"type": "http", "client": ("192.0.2.32", 1234), "headers": [(b"user-agent", b"Edge")]}
    )
    for request in (flask_request, starlette_request):
        monitor.record(True, user="kim", request=request)
        monitor.record(False, request=request)
        monitor.record(False, request=request)
    assert monitor.is_blocked(source_ip="192.0.2.31")
    assert monitor.is_blocked(source_ip="192.0.2.32")
    agents = [e.get("user_agent.original") for e in _events(telemetry)]
    assert agents == ["Safari/17", "Edge"]
