"""Distinct users per period: exact in memory, HyperLogLog in Redis across processes."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
import redis

import watchkit
from tests.helpers import free_port
from tests.security.workers import active_users_worker, spawn
from watchkit._security import active
from watchkit._security.store import StoreErrors
from watchkit.security import active_users


def _feature() -> str:
    return f"f-{uuid.uuid4().hex[:8]}"


def test_ten_thousand_ids_from_two_processes_count_within_two_percent(redis_server) -> None:
    """Two spawned processes add overlapping ranges (10,000 distinct); one reports the gauge."""
    feature = _feature()
    pipes, processes = spawn(
        active_users_worker,
        [(redis_server.url, feature, 0, 6000), (redis_server.url, feature, 4000, 10_000)],
    )
    try:
        for pipe in pipes:
            assert pipe.poll(120), "worker did not record"
            assert pipe.recv() == "recorded"
        reports = []
        for pipe in pipes:
            pipe.send("collect")
            assert pipe.poll(30)
            reports.append(pipe.recv())
    finally:
        for process in processes:
            process.join(30)
    assert [process.exitcode for process in processes] == [0, 0]
    # Exactly one process holds the reporter lease and reports both periods.
    assert sorted(len(report) for report in reports) == [0, 2]
    report = dict(next(r for r in reports if r))
    assert abs(report["day"] - 10_000) <= 200, report
    assert abs(report["hour"] - 10_000) <= 200, report
    counted = watchkit.active_users(feature, store=redis_server.url, periods=("hour", "day"))
    assert counted.count("day") == report["day"]


def test_hyperloglog_keys_are_hashed_and_expire_after_the_period(redis_server) -> None:
    """Keys name the feature and bucket only; ids are hashed; the day key expires within 2 days."""
    feature = _feature()
    users = active_users(feature, store=redis_server.url, periods=("day", "week"))
    users.record("alice@example.com")
    client = redis.Redis(port=redis_server.port)
    day = active.bucket("day", time.time())[0]
    key = f"watchkit:users:{feature}:{day}"
    assert client.pfcount(key) == 1
    assert 0 < client.ttl(key) <= 2 * 86_400
    week_key = f"watchkit:users:{feature}:{active.bucket('week', time.time())[0]}"
    assert 86_400 < client.ttl(week_key) <= 14 * 86_400
    for name in client.scan_iter(f"watchkit:users:{feature}:*"):
        assert b"alice" not in name
        if client.type(name) == b"string" and name.endswith(day.encode()):
            assert b"alice" not in client.get(name)  # HLL registers, not the id
    client.close()


def test_memory_counts_are_exact_and_the_gauge_reports_them(telemetry) -> None:
    """In memory: exact distinct counts per period, reported as watchkit.users.active."""
    feature = _feature()
    users = active_users(feature, periods=("hour", "day", "week"))
    for i in range(300):
        users.record(i % 120)
    assert users.count("hour") == users.count("day") == users.count("week") == 120
    points = telemetry.metric_points("watchkit.users.active", {"feature": feature})
    assert sorted((dict(p.attributes)["period"], p.value) for p in points) == [
        ("day", 120),
        ("hour", 120),
        ("week", 120),
    ]


def test_memory_store_is_capped_and_says_so(caplog) -> None:
    """Past max_users the count stops growing (a lower bound) and one warning says so."""
    users = active_users(_feature(), max_users=100)
    with caplog.at_level(logging.WARNING, logger="watchkit"):
        for i in range(250):
            users.record(i)
    assert users.count() == 100
    assert len([r for r in caplog.records if "reached its cap" in r.getMessage()]) == 1


def test_buckets_are_utc_hours_days_and_iso_weeks() -> None:
    """Bucket names and expiry: the end of the bucket plus one period."""
    now = 1_796_641_200 + 2400.5  # 2026-12-07T11:40:00.5Z, a Monday
    assert active.bucket("hour", now) == ("hour:2026-12-07T11", 1_796_641_200 + 7200)
    name, expire = active.bucket("day", now)
    assert name == "day:2026-12-07"
    assert expire == 1_796_601_600 + 2 * 86_400
    assert active.bucket("week", now)[0] == "week:2026-W50"
    assert active.bucket("week", now + 6 * 86_400)[0] == "week:2026-W50"
    assert active.bucket("week", now + 7 * 86_400)[0] == "week:2026-W51"


def test_same_feature_same_object_and_bad_arguments_are_value_errors() -> None:
    """Defining a feature again returns it; other arguments or bad values fail at definition."""
    feature = _feature()
    assert active_users(feature) is active_users(feature)
    with pytest.raises(ValueError, match="already defined"):
        active_users(feature, periods=("hour",))
    with pytest.raises(ValueError, match="periods="):
        active_users(_feature(), periods=("month",))
    with pytest.raises(ValueError, match="feature="):
        active_users("")
    with pytest.raises(ValueError, match="store="):
        active_users(_feature(), store="memcached://x")
    with pytest.raises(ValueError, match="period="):
        active_users(feature).count("hour")


def test_unreachable_redis_drops_the_id_counts_the_error_and_never_raises(
    telemetry, caplog
) -> None:
    """Redis down: record() returns, the error is counted, one warning, no gauge value."""
    StoreErrors._last_warning = float("-inf")
    users = active_users(_feature(), store=f"redis://127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.WARNING, logger="watchkit"):
        for i in range(10):
            users.record(i)
    assert users.count() is None
    errors = telemetry.counter(
        "watchkit.security.store.errors", {"operation": "active_users.record"}
    )
    assert errors == 10
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1
    points = telemetry.metric_points("watchkit.users.active", {"feature": users.feature})
    assert points == []
