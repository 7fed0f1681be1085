"""DB-API connections (sqlite3, psycopg 3 sync and async): spans, metrics, slow queries, N+1."""

from __future__ import annotations

import sqlite3
import time

import psycopg
import pytest
from opentelemetry import trace

import watchkit
import watchkit.db
from watchkit.testing import TelemetryCapture

DURATION = "db.client.operation.duration"


def _slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.fixture
def configured(clean_env: pytest.MonkeyPatch) -> None:
    """configure() installs the log chain that turns warnings into OTel log records."""
    watchkit.configure(service_name="shop", exporter="none")


def _warnings(telemetry: TelemetryCapture, body: str) -> list:  # type: ignore[type-arg]
    return [r for r in telemetry.logs(level="warning") if r.body == body]


@pytest.fixture
def lite() -> sqlite3.Connection:
    conn = watchkit.db.instrument_connection(sqlite3.connect(":memory:"), namespace="shop")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, city TEXT)")
    conn.create_function("pause", 1, _slow)
    return conn


def test_sqlite_query_span_and_metric(
    telemetry: TelemetryCapture, lite: sqlite3.Connection
) -> None:
    """One query: a CLIENT span named by its summary with sanitised text, and one duration point."""
    cur = lite.cursor()
    cur.execute("SELECT id FROM orders WHERE city = 'Lyon' AND id > 3")
    assert cur.fetchall() == []
    span = telemetry.span("SELECT orders")
    assert span.kind is trace.SpanKind.CLIENT
    assert span.attributes is not None
    assert span.attributes["db.system.name"] == "sqlite"
    assert span.attributes["db.namespace"] == "shop"
    assert span.attributes["db.query.text"] == "SELECT id FROM orders WHERE city = ? AND id > ?"
    assert span.attributes["db.query.summary"] == "SELECT orders"
    assert span.attributes["db.collection.name"] == "orders"
    summary = telemetry.histogram(DURATION, {"db.operation.name": "SELECT"})
    assert summary.count == 1
    assert summary.explicit_bounds == (0.001, 0.005, 0.01, 0.05, 0.1, 0.3, 0.5, 1.0, 5.0, 10.0)
    (point,) = telemetry.metric_points(DURATION, {"db.operation.name": "SELECT"})
    assert dict(point.attributes) == {
        "db.system.name": "sqlite",
        "db.namespace": "shop",
        "db.operation.name": "SELECT",
        "db.collection.name": "orders",
    }


def test_duration_exemplar_links_the_enclosing_span(
    telemetry: TelemetryCapture, lite: sqlite3.Connection
) -> None:
    """The duration point's exemplar names the trace and span the query ran under."""
    with watchkit.span("list_orders"):
        lite.execute("SELECT id FROM orders WHERE id = ?", (1,))
    lite.execute("SELECT city FROM orders WHERE id = ?", (1,))  # outside a trace: no exemplar
    parent = telemetry.span("list_orders").context
    (point,) = telemetry.metric_points(DURATION, {"db.operation.name": "SELECT"})
    assert point.count == 2
    assert [(e.trace_id, e.span_id) for e in point.exemplars] == [
        (parent.trace_id, parent.span_id)  # type: ignore[union-attr]
    ]
    inner, outer = telemetry.spans("SELECT orders")
    assert inner.parent is not None and inner.parent.span_id == parent.span_id  # type: ignore[union-attr]
    assert outer.parent is None


def test_shapes_by_raw_text_stay_bounded() -> None:
    """A connection caches short statement texts up to a count; long ones are never kept."""
    from watchkit._db import _record
    from watchkit._db._sql import MAX_QUERY_TEXT

    target = _record.Target("sqlite")
    long = "SELECT * FROM orders WHERE note = '" + "x" * MAX_QUERY_TEXT + "'"
    assert target.shape_of(long).name == "SELECT orders"
    assert long not in target._by_sql
    for i in range(_record._MAX_TEXTS + 10):
        assert target.shape_of(f"SELECT {i} FROM orders").info.text == "SELECT ? FROM orders"
        assert len(target._by_sql) <= _record._MAX_TEXTS
    assert target.shape_of("SELECT 1 FROM orders") is target.shape_of("SELECT 2 FROM orders")


def test_query_text_never_on_metrics(telemetry: TelemetryCapture, lite: sqlite3.Connection) -> None:
    """No metric attribute carries query text or a literal."""
    lite.execute("INSERT INTO orders (city) VALUES ('ann@example.com')")
    for point in telemetry.metric_points(DURATION):
        for value in point.attributes.values():
            assert "example.com" not in str(value)
        assert "db.query.text" not in point.attributes
        assert "db.query.summary" not in point.attributes


def test_failing_query_records_error_type(
    telemetry: TelemetryCapture, lite: sqlite3.Connection
) -> None:
    """A failing query: the caller gets the driver's exception; span and metric get error.type."""
    with pytest.raises(sqlite3.OperationalError):
        lite.execute("SELECT * FROM missing_table")
    span = telemetry.span("SELECT missing_table")
    assert span.status.status_code is trace.StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "sqlite3.OperationalError"
    assert telemetry.histogram(DURATION, {"error.type": "sqlite3.OperationalError"}).count == 1


def test_executemany_is_one_operation(
    telemetry: TelemetryCapture, lite: sqlite3.Connection
) -> None:
    """A batch is recorded once, with its size."""
    lite.executemany("INSERT INTO orders (city) VALUES (?)", [("a",), ("b",), ("c",)])
    cur = lite.cursor()
    cur.executemany("INSERT INTO orders (city) VALUES (?)", iter([("d",), ("e",)]))
    spans = telemetry.spans("INSERT orders")
    assert [s.attributes["db.operation.batch.size"] for s in spans] == [3, 2]  # type: ignore[index]
    assert telemetry.histogram(DURATION, {"db.operation.name": "INSERT"}).count == 2
    assert lite.execute("SELECT count(*) FROM orders").fetchone() == (5,)


def test_proxy_is_transparent(telemetry: TelemetryCapture, lite: sqlite3.Connection) -> None:
    """isinstance, context managers, iteration and chaining keep working through the proxy."""
    assert isinstance(lite, sqlite3.Connection)
    with lite:
        lite.execute("INSERT INTO orders (city) VALUES ('x')")
    cur = lite.cursor()
    assert isinstance(cur, sqlite3.Cursor)
    assert cur.execute("SELECT city FROM orders") is cur
    assert list(cur) == [("x",)]
    lite.executemany("INSERT INTO orders (city) VALUES (?)", [("y",), ("z",)])
    cur.execute("SELECT city FROM orders ORDER BY id")
    assert cur.fetchone() == ("x",)
    assert cur.fetchmany(1) == [("y",)]
    assert cur.fetchmany(size=5) == [("z",)]
    assert cur.fetchall() == []
    lite.rollback()
    assert cur.execute("SELECT count(*) FROM orders").fetchone() == (1,)
    assert watchkit.db.instrument_connection(lite) is lite
    lite.executescript("CREATE TABLE a (x); CREATE TABLE b (y);")
    assert telemetry.spans("CREATE TABLE a CREATE TABLE b")


def test_slow_query_logs_one_warning(telemetry: TelemetryCapture, configured: None) -> None:
    """Above the threshold: one WARN line with the sanitised query and the caller's location."""
    conn = watchkit.db.instrument_connection(sqlite3.connect(":memory:"), slow_query_threshold=0.02)
    conn.create_function("pause", 1, _slow)
    with watchkit.flow("checkout"):
        conn.execute("SELECT pause(0.03), 'secret-literal'")
    records = _warnings(telemetry, "watchkit.db.slow_query")
    assert len(records) == 1
    record = records[0]
    attributes = dict(record.attributes or {})
    assert attributes["db.query.text"] == "SELECT pause(?), ?"
    assert attributes["duration_ms"] >= 30
    assert attributes["code.file.path"] == __file__
    assert attributes["code.function.name"].endswith("test_slow_query_logs_one_warning")
    assert "secret-literal" not in str(record.body) + str(attributes)
    flow_span = telemetry.span("checkout")
    assert record.trace_id == flow_span.context.trace_id  # type: ignore[union-attr]
    span = telemetry.spans("SELECT")[0]
    assert span.attributes is not None and span.attributes["watchkit.db.slow"] is True


def test_slow_query_log_is_rate_limited(telemetry: TelemetryCapture, configured: None) -> None:
    """A storm of slow queries logs at most the limit per window."""
    from watchkit._db import _record

    conn = watchkit.db.instrument_connection(sqlite3.connect(":memory:"), slow_query_threshold=0)
    for _ in range(_record.SLOW_LOG_LIMIT + 15):
        conn.execute("SELECT 1")
    assert 1 <= len(_warnings(telemetry, "watchkit.db.slow_query")) <= _record.SLOW_LOG_LIMIT


def test_n_plus_one_gives_one_event_and_one_log(
    telemetry: TelemetryCapture, configured: None, lite: sqlite3.Connection
) -> None:
    """Six queries of one shape over 50 ms in one flow: one span event, one log line."""
    with watchkit.flow("list_orders"):
        for i in range(8):
            lite.execute(f"SELECT pause(0.012), {i}")
    span = telemetry.span("list_orders")
    events = [e for e in span.events if e.name == "watchkit.db.n_plus_one"]
    assert len(events) == 1
    assert events[0].attributes is not None
    assert events[0].attributes["db.query.text"] == "SELECT pause(?), ?"
    assert events[0].attributes["watchkit.db.query.count"] >= 5
    (log,) = _warnings(telemetry, "watchkit.db.n_plus_one")
    assert log.trace_id == span.context.trace_id  # type: ignore[union-attr]


def test_fast_repeated_queries_are_not_n_plus_one(
    telemetry: TelemetryCapture, configured: None, lite: sqlite3.Connection
) -> None:
    """Many fast queries of one shape (under 50 ms together) are not flagged; nor outside a span."""
    with watchkit.flow("fast"):
        for i in range(20):
            lite.execute("SELECT city FROM orders WHERE id = ?", (i,))
    for i in range(8):
        lite.execute(f"SELECT pause(0.012), {i}")
    assert not [e for e in telemetry.span("fast").events if e.name == "watchkit.db.n_plus_one"]
    assert not _warnings(telemetry, "watchkit.db.n_plus_one")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("slow_query_threshold", -1),
        ("slow_query_threshold", "fast"),
        ("n_plus_one_count", 1),
        ("n_plus_one_duration", float("nan")),
    ],
)
def test_bad_options_fail_early(option: str, value: object) -> None:
    """Out-of-range options raise ValueError naming the parameter."""
    with pytest.raises(ValueError, match=option):
        watchkit.db.instrument_connection(sqlite3.connect(":memory:"), **{option: value})  # type: ignore[arg-type]


def test_unconfigured_costs_nothing_visible() -> None:
    """Without configure() or a capture, queries run and nothing raises."""
    conn = watchkit.db.instrument_connection(sqlite3.connect(":memory:"))
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_wrap_connect() -> None:
    """wrap_connect returns instrumented connections."""
    connect = watchkit.db.wrap_connect(sqlite3.connect)
    conn = connect(":memory:")
    assert watchkit.db.instrument_connection(conn) is conn


def test_wrap_connect_checks_its_options_when_it_wraps() -> None:
    """A misspelt option or a bad threshold fails at wrap_connect(), not at the first connect."""
    with pytest.raises(TypeError, match=r"unknown option\(s\) slow_query; use system, "):
        watchkit.db.wrap_connect(sqlite3.connect, slow_query=0.5)
    with pytest.raises(ValueError, match="n_plus_one_count must be an int >= 2"):
        watchkit.db.wrap_connect(sqlite3.connect, n_plus_one_count=1)


# ----------------------------------------------------------------- PostgreSQL


def test_psycopg_connection(telemetry: TelemetryCapture, postgres_server) -> None:  # type: ignore[no-untyped-def]
    """psycopg 3: server address, port and database come from the connection."""
    raw = psycopg.connect(postgres_server.dsn, autocommit=True)
    with watchkit.db.instrument_connection(raw) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS pg_orders (id int, city text)")
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM pg_orders WHERE city = %s", ("Lyon",))
            assert cur.fetchall() == []
            cur.executemany("INSERT INTO pg_orders VALUES (%s, %s)", [(1, "a"), (2, "b")])
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM nope")
    span = telemetry.span("SELECT pg_orders")
    assert span.attributes is not None
    assert span.attributes["db.system.name"] == "postgresql"
    assert span.attributes["server.address"] == "127.0.0.1"
    assert span.attributes["server.port"] == postgres_server.port
    assert span.attributes["db.namespace"] == "postgres"
    assert span.attributes["db.query.text"] == "SELECT * FROM pg_orders WHERE city = %s"
    assert telemetry.span("INSERT pg_orders").attributes["db.operation.batch.size"] == 2  # type: ignore[index]
    failed = telemetry.span("SELECT nope")
    assert failed.attributes["error.type"] == "psycopg.errors.UndefinedTable"  # type: ignore[index]
    assert telemetry.histogram(DURATION, {"server.port": postgres_server.port}).count == 4


async def test_psycopg_async_connection(telemetry: TelemetryCapture, postgres_server) -> None:  # type: ignore[no-untyped-def]
    """psycopg 3 AsyncConnection: awaited queries are recorded like sync ones."""
    raw = await psycopg.AsyncConnection.connect(postgres_server.dsn, autocommit=True)
    conn = watchkit.db.instrument_connection(raw)
    async with conn:
        cur = await conn.execute("SELECT 1 AS one")
        assert await cur.fetchone() == (1,)
        async with conn.cursor() as cur2:
            await cur2.execute("SELECT 2")
            assert await cur2.fetchone() == (2,)
    assert len(telemetry.spans("SELECT")) == 2
    assert telemetry.histogram(DURATION, {"db.system.name": "postgresql"}).count == 2
