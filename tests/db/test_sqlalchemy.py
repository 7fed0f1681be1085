"""SQLAlchemy engines (sync, async) and their pools, against SQLite and the real PostgreSQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import create_async_engine

import watchkit.db
from watchkit.testing import TelemetryCapture

DURATION = "db.client.operation.duration"
COUNT = "db.client.connection.count"
STATE = "db.client.connection.state"


def test_engine_queries_are_recorded(telemetry: TelemetryCapture) -> None:
    """Each cursor execution: a span with sanitised text and one duration point."""
    engine = watchkit.db.instrument_sqlalchemy(sqlalchemy.create_engine("sqlite://"))
    assert watchkit.db.instrument_sqlalchemy(engine) is engine  # twice is harmless
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE items (id INTEGER, name TEXT)"))
        conn.execute(sqlalchemy.text("INSERT INTO items VALUES (1, 'secret')"))
        conn.execute(
            sqlalchemy.text("INSERT INTO items VALUES (:id, :name)"),
            [{"id": 2, "name": "a"}, {"id": 3, "name": "b"}],
        )
        rows = conn.execute(sqlalchemy.text("SELECT name FROM items WHERE id = 2")).all()
    assert rows == [("a",)]
    select = telemetry.span("SELECT items")
    assert select.attributes is not None
    assert select.attributes["db.query.text"] == "SELECT name FROM items WHERE id = ?"
    assert select.attributes["db.system.name"] == "sqlite"
    inserts = telemetry.spans("INSERT items")
    assert len(inserts) == 2  # the batch is one operation
    assert inserts[1].attributes["db.operation.batch.size"] == 2  # type: ignore[index]
    assert "secret" not in str([s.attributes for s in telemetry.spans()])
    assert telemetry.histogram(DURATION, {"db.operation.name": "INSERT"}).count == 2


def test_engine_error_is_recorded(telemetry: TelemetryCapture) -> None:
    """A failing statement: SQLAlchemy's error reaches the caller; error.type is the driver's."""
    engine = watchkit.db.instrument_sqlalchemy(sqlalchemy.create_engine("sqlite://"))
    with pytest.raises(sqlalchemy.exc.OperationalError), engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT * FROM nowhere"))
    span = telemetry.span("SELECT nowhere")
    assert span.attributes["error.type"] == "sqlite3.OperationalError"  # type: ignore[index]
    assert telemetry.histogram(DURATION, {"error.type": "sqlite3.OperationalError"}).count == 1


def test_bad_engine_is_a_type_error() -> None:
    """Something that is not an engine fails at instrument time."""
    with pytest.raises(TypeError, match="engine"):
        watchkit.db.instrument_sqlalchemy(object())


def test_postgres_pool_metrics_and_exhaustion(telemetry: TelemetryCapture, postgres_server) -> None:  # type: ignore[no-untyped-def]
    """Pool of 1 + 0 overflow: used/idle/max read at collection; a waiter, its wait and timeout."""
    engine = watchkit.db.instrument_sqlalchemy(
        sqlalchemy.create_engine(
            postgres_server.url, pool_size=1, max_overflow=0, pool_timeout=0.3
        ),
        pool_name="orders-db",
    )
    pool = {"db.client.connection.pool.name": "orders-db"}
    holder = engine.connect()
    holder.execute(sqlalchemy.text("SELECT 1"))
    assert (
        telemetry.counter(
            "db.client.connection.count", {**pool, "db.client.connection.state": "used"}
        )
        == 1
    )
    assert (
        telemetry.counter(
            "db.client.connection.count", {**pool, "db.client.connection.state": "idle"}
        )
        == 0
    )
    assert telemetry.counter("db.client.connection.max", pool) == 1
    seen_pending: list[float] = []
    waiting = threading.Event()

    def wait_for_connection() -> None:
        waiting.set()
        with pytest.raises(sqlalchemy.exc.TimeoutError):
            engine.connect()

    waiter = threading.Thread(target=wait_for_connection)
    waiter.start()
    waiting.wait()
    for _ in range(50):
        seen_pending.append(telemetry.counter("db.client.connection.pending_requests", pool))
        if seen_pending[-1] == 1:
            break
        threading.Event().wait(0.01)
    waiter.join()
    assert 1 in seen_pending
    assert telemetry.counter("db.client.connection.pending_requests", pool) == 0
    assert telemetry.counter("db.client.connection.timeouts", pool) == 1
    wait = telemetry.histogram("db.client.connection.wait_time", pool)
    assert wait.count >= 2 and wait.sum >= 0.3
    holder.close()
    assert (
        telemetry.counter(
            "db.client.connection.count", {**pool, "db.client.connection.state": "idle"}
        )
        == 1
    )
    span = telemetry.spans("SELECT")[0]
    assert span.attributes["server.port"] == postgres_server.port  # type: ignore[index]
    assert span.attributes["db.namespace"] == "postgres"  # type: ignore[index]
    engine.dispose()


async def test_async_engine(telemetry: TelemetryCapture, postgres_server) -> None:  # type: ignore[no-untyped-def]
    """An AsyncEngine (psycopg async) is recorded through its sync_engine."""
    engine = watchkit.db.instrument_sqlalchemy(create_async_engine(postgres_server.url))
    async with engine.connect() as conn:
        result = await conn.execute(sqlalchemy.text("SELECT 41 + 1"))
        assert result.scalar() == 42
    await engine.dispose()
    span = telemetry.span("SELECT")
    assert span.attributes["db.query.text"] == "SELECT ? + ?"  # type: ignore[index]
    assert telemetry.histogram(DURATION, {"db.system.name": "postgresql"}).count >= 1
