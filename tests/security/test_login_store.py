"""LoginMonitor on a real redis-server: shared across processes, hashed keys, fail open/closed."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
import redis

from tests.helpers import free_port
from tests.security.workers import login_worker, spawn
from tests.support.redis_server import RedisServer
from watchkit._security.store import StoreErrors
from watchkit.security import LoginMonitor


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _warn_again() -> None:
    """Each test sees the first store warning of its own (one a minute per process)."""
    StoreErrors._last_warning = float("-inf")


def test_two_processes_reach_the_limit_together_at_the_sixth_failure(redis_server) -> None:
    """Failures alternate between two processes: the 6th alerts, once; both then see it blocked."""
    name = _name()
    pipes, processes = spawn(login_worker, [(redis_server.url, name)] * 2)
    try:
        for pipe in pipes:
            assert pipe.poll(60), "worker did not start"
            assert pipe.recv() == "ready"
        results = []
        for i in range(8):
            pipe = pipes[i % 2]
            pipe.send("fail")
            assert pipe.poll(30)
            results.append(pipe.recv())
    finally:
        for pipe in pipes:
            pipe.send(None)
        for process in processes:
            process.join(30)
    alerts = [alert for alert, _, _ in results]
    assert alerts == [False] * 5 + [True, False, False]
    # Blocked from the 6th failure on, by IP and by user, as seen from either process.
    assert [ip for _, ip, _ in results] == [False] * 5 + [True] * 3
    assert [user for _, _, user in results] == [False] * 5 + [True] * 3
    assert [process.exitcode for process in processes] == [0, 0]


def test_keys_are_hashed_and_expire_with_the_window(redis_server) -> None:
    """Redis holds no IP or user name, and every key has a TTL of at most the window."""
    name = _name()
    monitor = LoginMonitor(max_failures=2, window=30, store=redis_server.url, name=name)
    for _ in range(3):
        monitor.record(False, user="ana@example.com", source_ip="203.0.113.7")
    monitor.record(True, user="bob", source_ip="198.51.100.20", user_agent="Firefox/133")
    client = redis.Redis(port=redis_server.port)
    keys = [key.decode() for key in client.scan_iter(f"watchkit:login:{name}:*")]
    assert len(keys) >= 5  # ip, user and their quiet keys; bob's devices
    for key in keys:
        assert "203.0.113" not in key and "ana" not in key and "bob" not in key
        ttl = client.pttl(key)
        assert 0 < ttl <= 30 * 86_400 * 1000
        if ":devices:" not in key:
            assert ttl <= 30_000
    for value in client.zrange(keys[0], 0, -1) if client.type(keys[0]) == b"zset" else []:
        assert b"203.0.113" not in value
    client.close()


def test_the_window_slides_in_redis(redis_server) -> None:
    """Failures older than the window leave it; the alert can fire again in a later window."""
    monitor = LoginMonitor(max_failures=1, window=0.5, store=redis_server.url, name=_name())
    assert not monitor.record(False, source_ip="192.0.2.50")
    assert monitor.record(False, source_ip="192.0.2.50")
    assert monitor.is_blocked(source_ip="192.0.2.50")
    time.sleep(0.6)
    assert not monitor.is_blocked(source_ip="192.0.2.50")
    assert not monitor.record(False, source_ip="192.0.2.50")
    assert monitor.record(False, source_ip="192.0.2.50")


def test_success_clears_the_users_failures_in_redis(redis_server) -> None:
    """As in memory: a successful login resets the user's count, not the IP's."""
    monitor = LoginMonitor(max_failures=2, window=60, store=redis_server.url, name=_name())
    monitor.record(False, user="eve", source_ip="192.0.2.9")
    monitor.record(False, user="eve", source_ip="192.0.2.9")
    monitor.record(True, user="eve", source_ip="192.0.2.9")
    assert not monitor.record(False, user="eve")
    assert monitor.record(False, source_ip="192.0.2.9")  # the IP's 3rd failure


def test_redis_killed_mid_run_logins_proceed_and_errors_are_counted(telemetry, caplog) -> None:
    """Redis dies: record() and is_blocked() keep answering fast, errors counted, one warning.

    When it comes back (empty: the script cache too), counting resumes: EVALSHA
    gets NOSCRIPT and the script is loaded again.
    """
    server = RedisServer().start()
    try:
        monitor = LoginMonitor(max_failures=3, window=60, store=server.url, name=_name())
        for _ in range(2):
            assert not monitor.record(False, user="ana", source_ip="203.0.113.7")
        server.stop()
        slowest = 0.0
        with caplog.at_level(logging.WARNING, logger="watchkit"):
            for _ in range(20):
                start = time.perf_counter()
                assert not monitor.record(False, user="ana", source_ip="203.0.113.7")
                assert not monitor.is_blocked(source_ip="203.0.113.7")
                slowest = max(slowest, time.perf_counter() - start)
        assert slowest < 1.0
        errors = telemetry.counter("watchkit.security.store.errors", {"operation": "is_blocked"})
        assert errors == 20
        assert telemetry.counter("watchkit.security.store.errors", {"operation": "record"}) == 20
        warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(warnings) == 1
        assert "fail open" in warnings[0].getMessage()
        assert telemetry.counter("watchkit.security.login.attempts") == 22  # all recorded
        server.start()
        time.sleep(1.1)  # the circuit stays open for a second after the last failure
        for _ in range(3):
            monitor.record(False, source_ip="203.0.113.7")
        assert monitor.record(False, source_ip="203.0.113.7")  # the 4th since the restart
    finally:
        server.close()


def test_hung_redis_costs_one_timeout_then_is_skipped(telemetry) -> None:
    """A frozen server (accepts, never answers): one ~timeout wait, then calls skip it."""
    server = RedisServer().start()
    try:
        monitor = LoginMonitor(store=server.url, name=_name(), timeout=0.2)
        assert not monitor.record(False, source_ip="192.0.2.1")
        server.pause()
        start = time.perf_counter()
        monitor.record(False, source_ip="192.0.2.1")
        first = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(50):
            monitor.record(False, source_ip="192.0.2.1")
        rest = time.perf_counter() - start
        server.resume()
        assert first < 1.0
        assert rest < 0.5  # skipped while the circuit is open
        errors = telemetry.counter("watchkit.security.store.errors", {"operation": "record"})
        assert errors == 51
    finally:
        server.close()


def test_fail_closed_blocks_when_the_store_is_unreachable(telemetry) -> None:
    """Admin logins: with fail_closed=True an unreachable store means blocked."""
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    admin = LoginMonitor(store=url, name="admin", fail_closed=True)
    users = LoginMonitor(store=url, name="login")
    assert admin.is_blocked(user="root")
    assert not users.is_blocked(user="root")
    assert not admin.record(False, user="root")
    assert telemetry.counter("watchkit.security.store.errors", {"operation": "is_blocked"}) == 2
    assert telemetry.counter("watchkit.security.store.errors", {"operation": "record"}) == 1


def test_a_client_is_accepted_and_wrong_stores_are_value_errors(redis_server) -> None:
    """A redis.Redis client shares the counts; other stores fail when the monitor is defined."""
    name = _name()
    client = redis.Redis(port=redis_server.port, socket_timeout=0.5)
    a = LoginMonitor(max_failures=1, store=client, name=name)
    b = LoginMonitor(max_failures=1, store=redis_server.url, name=name)
    assert a.shared and b.shared
    assert not a.record(False, user="zoe")
    assert b.record(False, user="zoe")
    client.close()
    for store in ("memcached://localhost", "redis", 42):
        with pytest.raises(ValueError, match="store="):
            LoginMonitor(store=store)
    with pytest.raises(ValueError, match="asyncio"):
        LoginMonitor(store=redis.asyncio.Redis())
    with pytest.raises(ValueError, match="network_prefix"):
        LoginMonitor(network_prefix=(33, 48))
    with pytest.raises(ValueError, match="hash_key"):
        LoginMonitor(hash_key=12)  # type: ignore[arg-type]


def test_monitors_with_different_names_or_hash_keys_do_not_share(redis_server) -> None:
    """``name`` separates monitors on one Redis; so does a different ``hash_key``."""
    name = _name()
    login = LoginMonitor(max_failures=1, store=redis_server.url, name=name)
    admin = LoginMonitor(max_failures=1, store=redis_server.url, name=name + "-admin")
    keyed = LoginMonitor(max_failures=1, store=redis_server.url, name=name, hash_key="s3cret")
    login.record(False, user="max")
    assert not admin.record(False, user="max")
    assert not keyed.record(False, user="max")
    assert login.record(False, user="max")
