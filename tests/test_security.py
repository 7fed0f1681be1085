"""Brute-force detection: thresholds, window, once per key per window, bounded memory."""

from __future__ import annotations

import tracemalloc

import pytest

from watchkit.security import LoginMonitor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _alerts(telemetry):
    return telemetry.logs(event="security.brute_force_suspected")


def test_five_failures_do_not_fire_the_sixth_fires_once(telemetry) -> None:
    """6th failure within 10 minutes fires exactly once; the 7th..20th stay quiet."""
    clock = Clock()
    monitor = LoginMonitor(max_failures=5, window=600, clock=clock)
    fired = []
    for _ in range(5):
        fired.append(monitor.record(False, user="ana", source_ip="203.0.113.7"))
        clock.now += 60
    assert fired == [False] * 5
    assert _alerts(telemetry) == []
    assert monitor.record(False, source_ip="203.0.113.7")  # 6th, at t+300 s
    for _ in range(14):
        clock.now += 10
        assert not monitor.record(False, source_ip="203.0.113.7")
    alerts = _alerts(telemetry)
    assert len(alerts) == 1
    attributes = dict(alerts[0].attributes or {})
    assert attributes["client.address"] == "203.0.113.7"
    assert attributes["security.failures"] == 6
    assert attributes["security.window"] == 600
    assert alerts[0].severity_text == "WARN"
    assert telemetry.counter("watchkit.security.alerts", {"kind": "brute_force"}) == 1
    assert telemetry.counter("watchkit.security.login.attempts", {"outcome": "failure"}) == 20
    assert len(telemetry.logs(event="audit.login")) == 20


def test_failures_spread_over_more_than_the_window_do_not_fire(telemetry) -> None:
    """Ten failures, each 150 s apart: never six within 600 s."""
    clock = Clock()
    monitor = LoginMonitor(max_failures=5, window=600, clock=clock)
    for _ in range(10):
        assert not monitor.record(False, source_ip="198.51.100.9")
        clock.now += 150
    assert _alerts(telemetry) == []


def test_alerts_again_in_a_later_window_and_per_user(telemetry) -> None:
    """A key alerts once per window; users are tracked apart from IPs."""
    clock = Clock()
    monitor = LoginMonitor(max_failures=2, window=60, clock=clock)
    results = [monitor.record(False, user="bob") for _ in range(3)]
    assert results == [False, False, True]
    clock.now += 61
    assert [monitor.record(False, user="bob") for _ in range(3)] == [False, False, True]
    users = [dict(a.attributes or {}).get("user.name") for a in _alerts(telemetry)]
    assert users == ["bob", "bob"]


def test_success_clears_the_users_failures(telemetry) -> None:
    """A successful login resets the user's count (not the IP's)."""
    clock = Clock()
    monitor = LoginMonitor(max_failures=2, window=60, clock=clock)
    monitor.record(False, user="eve")
    monitor.record(False, user="eve")
    monitor.record(True, user="eve")
    assert not monitor.record(False, user="eve")
    assert telemetry.counter("watchkit.security.login.attempts", {"outcome": "success"}) == 1


def test_a_million_distinct_ips_keep_memory_bounded() -> None:
    """1,000,000 distinct failing IPs: at most max_keys tracked, memory stays flat.

    The tracking table is driven directly (the public path also emits an audit
    record per attempt, ~15 us, which would make this test take ~20 s); the
    public path's bound is checked in the next test.
    """
    clock = Clock()
    monitor = LoginMonitor(max_failures=5, window=600, max_keys=10_000, clock=clock)
    store = monitor._store
    table = store.tables["source_ip"]
    fail = store._fail
    for i in range(800_000):
        fail(table, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", clock())
    # Trace only the last 200,000 (tracing all would take ~15 s): after the first
    # 100,000 traced ones the table holds only traced entries; the next 100,000
    # must each evict one, so the traced size must not grow.
    tracemalloc.start()
    for i in range(800_000, 900_000):
        fail(table, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", clock())
    baseline, _ = tracemalloc.get_traced_memory()
    for i in range(900_000, 1_000_000):
        fail(table, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", clock())
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(monitor) <= 10_000
    assert current - baseline < 200_000, f"grew by {current - baseline} bytes"


def test_public_path_is_bounded_too() -> None:
    """record() with many distinct IPs never tracks more than max_keys."""
    monitor = LoginMonitor(max_keys=1000)
    for i in range(5000):
        monitor.record(False, source_ip=f"192.0.2.{i % 250}-{i}")
    assert len(monitor) == 1000


def test_idle_keys_are_dropped_as_new_ones_arrive() -> None:
    """Keys idle for a whole window leave even below max_keys."""
    clock = Clock()
    monitor = LoginMonitor(max_failures=5, window=60, clock=clock)
    for i in range(100):
        monitor.record(False, source_ip=f"10.0.0.{i}")
    clock.now += 120
    for i in range(100):
        monitor.record(False, source_ip=f"10.0.1.{i}")
    assert len(monitor) == 100


@pytest.mark.parametrize(
    "kwargs", [{"max_failures": 0}, {"window": 0}, {"window": "10"}, {"max_keys": 0}]
)
def test_invalid_limits_are_value_errors(kwargs) -> None:
    """Wrong limits fail when the monitor is defined."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        LoginMonitor(**kwargs)


def test_non_string_user_and_ip_are_still_counted(telemetry) -> None:
    """An int user id or an ipaddress object is tracked (as text), not silently ignored."""
    import ipaddress

    monitor = LoginMonitor(max_failures=2, window=60)
    assert [monitor.record(False, user=42) for _ in range(3)] == [False, False, True]  # type: ignore[arg-type]
    address = ipaddress.ip_address("203.0.113.9")
    assert [monitor.record(False, source_ip=address) for _ in range(3)][-1]  # type: ignore[arg-type]
    assert telemetry.counter("watchkit.security.login.attempts", {"outcome": "failure"}) == 6
    users = [dict(a.attributes or {}).get("user.name") for a in _alerts(telemetry)]
    ips = [dict(a.attributes or {}).get("client.address") for a in _alerts(telemetry)]
    assert "42" in users and "203.0.113.9" in ips
    logins = [dict(r.attributes or {}) for r in telemetry.logs(event="audit.login")]
    assert logins[-1]["client.address"] == "203.0.113.9"


def test_concurrent_failures_alert_exactly_once_per_key(telemetry) -> None:
    """8 threads hammering one IP and one user: one alert for each key."""
    import threading

    monitor = LoginMonitor(max_failures=5, window=600)
    barrier = threading.Barrier(8)

    def attack() -> None:
        barrier.wait()
        for _ in range(25):
            monitor.record(False, user="bob", source_ip="198.51.100.1")

    threads = [threading.Thread(target=attack) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kinds = sorted(dict(a.attributes or {})["security.key.kind"] for a in _alerts(telemetry))
    assert kinds == ["source_ip", "user"]
    assert telemetry.counter("watchkit.security.alerts", {"kind": "brute_force"}) == 2


def test_failure_exactly_one_window_later_is_outside_the_window(telemetry) -> None:
    """'Within window seconds' is strict: the oldest failure drops out at exactly `window`."""
    clock = Clock()
    monitor = LoginMonitor(max_failures=2, window=60, clock=clock)
    monitor.record(False, source_ip="192.0.2.1")
    clock.now += 30
    monitor.record(False, source_ip="192.0.2.1")
    clock.now += 30  # exactly 60 s after the first
    assert not monitor.record(False, source_ip="192.0.2.1")
    clock.now += 0.001
    assert monitor.record(False, source_ip="192.0.2.1")  # 3 within 60 s


def test_alert_series_start_at_zero_so_increase_sees_the_first_alert(telemetry) -> None:
    """A monitor reports its alert series at 0 before any alert: the first one is a step."""
    monitor = LoginMonitor(max_failures=1, window=60, clock=Clock())
    points = telemetry.metric_points("watchkit.security.alerts")
    assert sorted((dict(p.attributes)["kind"], p.value) for p in points) == [
        ("brute_force", 0),
        ("unfamiliar_login", 0),
    ]
    assert telemetry.counter("watchkit.security.login.attempts", {"outcome": "failure"}) == 0
    monitor.record(False, source_ip="203.0.113.8")
    monitor.record(False, source_ip="203.0.113.8")
    assert telemetry.counter("watchkit.security.alerts", {"kind": "brute_force"}) == 1
