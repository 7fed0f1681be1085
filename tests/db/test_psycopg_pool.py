"""psycopg_pool against the real PostgreSQL fixture: pool metrics, exhaustion, and queries."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

import watchkit.db
from watchkit.testing import TelemetryCapture

POOL = {"db.client.connection.pool.name": "orders"}


def _value(telemetry: TelemetryCapture, name: str, **attributes: str) -> float:
    points = telemetry.metric_points(name, {**POOL, **attributes})
    assert len(points) == 1, points
    return float(points[0].value)


def _wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_pool_counts_exhaustion_and_timeout(telemetry: TelemetryCapture, postgres_server) -> None:  # type: ignore[no-untyped-def]
    """Used/idle/max read at collection; a waiter is pending, then times out and is counted."""
    with ConnectionPool(
        postgres_server.dsn, min_size=1, max_size=2, name="orders", open=True
    ) as pool:
        assert watchkit.db.instrument_psycopg_pool(pool) is pool
        assert watchkit.db.instrument_psycopg_pool(pool) is pool  # idempotent
        pool.wait(timeout=10)
        first = pool.getconn()
        with pool.connection() as second:
            second.execute("SELECT 1")
            assert _value(telemetry, "db.client.connection.count", **{
                "db.client.connection.state": "used"}) == 2  # fmt: skip
            assert _value(telemetry, "db.client.connection.count", **{
                "db.client.connection.state": "idle"}) == 0  # fmt: skip
            assert _value(telemetry, "db.client.connection.max") == 2
            errors: list[BaseException] = []

            def wait_for_one() -> None:
                try:
                    pool.getconn(timeout=0.6)
                except PoolTimeout as error:
                    errors.append(error)

            waiter = threading.Thread(target=wait_for_one)
            waiter.start()
            _wait_until(lambda: pool.get_stats().get("requests_waiting", 0) == 1)
            assert _value(telemetry, "db.client.connection.pending_requests") == 1
            waiter.join(10)
            assert len(errors) == 1
        pool.putconn(first)
        assert _value(telemetry, "db.client.connection.pending_requests") == 0
        assert _value(telemetry, "db.client.connection.timeouts") == 1
        assert _value(telemetry, "db.client.connection.count", **{
            "db.client.connection.state": "used"}) == 0  # fmt: skip
        wait = telemetry.histogram("db.client.connection.wait_time", POOL)
        assert wait.count == 3  # two checkouts and the one that timed out
        assert wait.sum >= 0.5  # the timed-out wait
    # The pool's queries were recorded through the watchkit proxy.
    span = telemetry.span("SELECT")
    assert span.attributes is not None
    assert span.attributes["db.system.name"] == "postgresql"
    assert span.attributes["server.port"] == postgres_server.port


def test_pool_hands_back_driver_connections(telemetry: TelemetryCapture, postgres_server) -> None:  # type: ignore[no-untyped-def]
    """The pool only ever holds psycopg's own connections; queries=False records none."""
    with ConnectionPool(postgres_server.dsn, min_size=1, max_size=1, open=True) as pool:
        watchkit.db.instrument_psycopg_pool(pool, name="orders", queries=False)
        with pool.connection() as conn:
            conn.execute("SELECT 1")
            assert type(conn) is psycopg.Connection
        assert all(type(c) is psycopg.Connection for c in pool._pool)
        assert not telemetry.spans()
        assert _value(telemetry, "db.client.connection.count", **{
            "db.client.connection.state": "idle"}) == 1  # fmt: skip


async def test_async_pool(telemetry: TelemetryCapture, postgres_server) -> None:  # type: ignore[no-untyped-def]
    """AsyncConnectionPool: async queries recorded, connections returned unwrapped, wait timed."""
    async with AsyncConnectionPool(
        postgres_server.dsn, min_size=1, max_size=1, name="orders", open=False
    ) as pool:
        watchkit.db.instrument_psycopg_pool(pool)
        async with pool.connection() as conn:
            await conn.execute("SELECT 2")
            with pytest.raises(PoolTimeout):
                await pool.getconn(timeout=0.2)
        assert all(type(c) is psycopg.AsyncConnection for c in pool._pool)
    assert telemetry.span("SELECT").attributes["db.system.name"] == "postgresql"  # type: ignore[index]
    assert telemetry.histogram("db.client.connection.wait_time", POOL).count == 2
    assert _value(telemetry, "db.client.connection.timeouts") == 1


@pytest.mark.parametrize(
    ("pool", "kwargs", "error", "match"),
    [
        (object(), {}, TypeError, "psycopg_pool ConnectionPool"),
        (None, {"name": ""}, ValueError, "name"),
        (None, {"slow_query_threshold": -1}, ValueError, "slow_query_threshold"),
    ],
)
def test_bad_arguments(
    pool: Any, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Wrong arguments fail at once, naming the parameter."""
    target = pool if pool is not None else ConnectionPool("dbname=x", open=False)
    with pytest.raises(error, match=match):
        watchkit.db.instrument_psycopg_pool(target, **kwargs)
