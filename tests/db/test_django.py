"""Django's database connections: ORM queries recorded through the execute wrapper.

The test app (``tests.integrations.apps.django_app``) has SQLite as its default
database and ``WatchkitMiddleware`` in ``MIDDLEWARE``, which installs the hook.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.dbapi import instrument_connection as contrib_instrument

import watchkit
import watchkit.db
from tests.integrations.apps import django_app
from tests.integrations.servers import WsgiThread
from watchkit._db import _record
from watchkit._exceptions import ConfigError
from watchkit.integrations import _django_db
from watchkit.integrations.django import WatchkitMiddleware, instrument_databases
from watchkit.testing import TelemetryCapture

from django.contrib.contenttypes.models import ContentType  # isort: skip
from django.core.cache import caches  # isort: skip
from django.db import connections  # isort: skip
from django.db.backends.signals import connection_created  # isort: skip
from django.test.utils import override_settings  # isort: skip

DURATION = "db.client.operation.duration"
# Quoted identifiers stay as written (tests/db/test_sql.py), and Django quotes every one.
TABLE = '"django_content_type"'
TABLE_SPAN = f"SELECT {TABLE}"


def _ensure_table(alias: str = "default") -> None:
    connection = connections[alias]
    if ContentType._meta.db_table not in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            editor.create_model(ContentType)
    ContentType.objects.using(alias).all().delete()
    for model in ("order", "courier", "restaurant", "dish", "zone", "payment"):
        ContentType.objects.using(alias).create(app_label="food", model=model)


@pytest.fixture
def orm(telemetry: TelemetryCapture) -> Iterator[None]:
    """The content-types table with six rows; thresholds back to their defaults afterwards."""
    # tests/conftest.py closes every sqlite3 connection a test opened, Django's too.
    connections.close_all()
    _ensure_table()
    telemetry.clear()  # the set-up's own queries
    yield
    instrument_databases()
    connections.close_all()


def _db_spans(telemetry: TelemetryCapture) -> list[Any]:
    return [s for s in telemetry.spans() if s.attributes.get("db.system.name")]


def test_orm_queries_under_a_real_server(
    telemetry: TelemetryCapture, orm: None, clean_env: pytest.MonkeyPatch
) -> None:
    """A request's ORM queries: CLIENT spans under the request, the metric, slow query and N+1."""
    watchkit.configure(service_name="shop", exporter="none")  # the log chain for warnings
    django_app.application  # noqa: B018 - the middleware installed the hook at load
    instrument_databases(slow_query_threshold=0.0, n_plus_one_duration=0.0)
    _record._slow_window_start = 0.0  # earlier tests may have used up this window's lines
    caches["default"].clear()  # the view caches its answer
    with WsgiThread(django_app.application) as server:
        response = httpx.get(f"{server.url}/kinds", timeout=10)
    assert response.status_code == 200
    assert len(response.json()["kinds"]) == 6
    request = next(s for s in telemetry.spans() if s.name == "GET /kinds")
    # Queries of the request: the list, then one per row (the N+1).
    spans = [
        s for s in _db_spans(telemetry)
        if s.parent is not None and s.parent.span_id == request.context.span_id
    ]  # fmt: skip
    assert [s.name for s in spans] == [TABLE_SPAN] * 7
    query = spans[-1]
    assert query.kind.name == "CLIENT"
    assert query.parent is not None and query.parent.span_id == request.context.span_id
    assert query.attributes["db.system.name"] == "sqlite"
    assert query.attributes["db.namespace"] == "orders.sqlite3"
    assert "?" in query.attributes["db.query.text"]
    assert [e.name for e in request.events].count("watchkit.db.n_plus_one") == 1
    point = telemetry.histogram(DURATION, {"db.system.name": "sqlite", "db.collection.name": TABLE})
    assert point.count >= 7  # and the fixture's own queries
    warnings = [r.body for r in telemetry.logs(level="warning")]
    assert "watchkit.db.slow_query" in warnings
    assert warnings.count("watchkit.db.n_plus_one") == 1


def test_postgresql_alias(telemetry: TelemetryCapture, orm: None, postgres_server) -> None:  # type: ignore[no-untyped-def]
    """A PostgreSQL database of the same project: server, namespace, and a failing query."""
    conf = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": postgres_server.dbname,
        "USER": postgres_server.user,
        "HOST": postgres_server.host,
        "PORT": str(postgres_server.port),
    }
    configured = connections.configure_settings(
        {"default": connections.settings["default"], "pg": conf}
    )
    connections.settings["pg"] = configured["pg"]
    try:
        _ensure_table("pg")
        assert ContentType.objects.using("pg").filter(app_label="food").count() == 6
        with pytest.raises(Exception, match="missing_orders"), connections["pg"].cursor() as cur:
            cur.execute("SELECT * FROM missing_orders WHERE id = %s", [3])
    finally:
        connections["pg"].close()
        del connections.settings["pg"]
        delattr(connections._connections, "pg")
    count = next(
        s for s in _db_spans(telemetry)
        if s.attributes.get("db.operation.name") == "SELECT"
        and s.attributes["db.system.name"] == "postgresql"
    )  # fmt: skip
    assert count.attributes["server.port"] == postgres_server.port
    assert count.attributes["db.namespace"] == postgres_server.dbname
    failed = telemetry.histogram(
        DURATION, {"db.system.name": "postgresql", "db.collection.name": "missing_orders"}
    )
    assert failed.count == 1
    assert next(
        p for p in telemetry.metric_points(DURATION) if p.attributes.get("db.collection.name")
        == "missing_orders"
    ).attributes["error.type"] == "psycopg.errors.UndefinedTable"  # fmt: skip


def test_no_double_recording_with_watchkit_dbapi(telemetry: TelemetryCapture, orm: None) -> None:
    """The application wraps Django's driver connection itself: one span per query."""

    def wrap(sender: Any, connection: Any, **kwargs: Any) -> None:
        connection.connection = watchkit.db.instrument_connection(connection.connection)

    connections.close_all()
    before = telemetry.histogram(DURATION, {"db.system.name": "sqlite"}).count
    connection_created.connect(wrap)
    try:
        assert ContentType.objects.count() == 6
    finally:
        connection_created.disconnect(wrap)
        connections.close_all()
    assert [s.name for s in _db_spans(telemetry)] == [TABLE_SPAN]
    assert telemetry.histogram(DURATION, {"db.system.name": "sqlite"}).count == before + 1


def test_no_double_recording_with_contrib(
    telemetry: TelemetryCapture, orm: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The contrib dbapi instrumentation wraps it: only watchkit's span, one warning."""
    _record._warned.discard("db.contrib")

    def wrap(sender: Any, connection: Any, **kwargs: Any) -> None:
        connection.connection = contrib_instrument(
            "sqlite3", connection.connection, "sqlite", tracer_provider=telemetry.tracer_provider
        )

    connections.close_all()
    # Connected after watchkit's hook: the target is built at the first query, so it sees it.
    connection_created.connect(wrap)
    try:
        with caplog.at_level(logging.WARNING, logger="watchkit"):
            assert ContentType.objects.count() == 6
            assert ContentType.objects.filter(model="zone").count() == 1
    finally:
        connection_created.disconnect(wrap)
        connections.close_all()
    assert [(s.name, s.instrumentation_scope.name) for s in telemetry.spans()] == [  # type: ignore[union-attr]
        (TABLE_SPAN, "watchkit"),
        (TABLE_SPAN, "watchkit"),
    ]
    assert sum("contrib" in r.getMessage() for r in caplog.records) == 1


def test_uninstall_and_reinstall(telemetry: TelemetryCapture, orm: None) -> None:
    """uninstall() stops recording; instrument_databases() is idempotent (no stacking)."""
    _django_db.uninstall()
    assert ContentType.objects.count() == 6
    assert not _db_spans(telemetry)
    instrument_databases()
    instrument_databases()
    connections.close_all()
    assert ContentType.objects.count() == 6
    assert len(_db_spans(telemetry)) == 1


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"databases": "yes"}, "'databases' must be True, False or a dict"),
        ({"databases": {"slow_query_threshold": -1}}, "slow_query_threshold"),
        ({"databases": {"slow": 1}}, "slow"),
        ({"caches": "default"}, "'caches' must be True, False or a list"),
        ({"caches": ["nope"]}, "'nope'"),
    ],
)
def test_bad_settings(option: dict[str, Any], match: str) -> None:
    """A bad WATCHKIT databases/caches option is a ConfigError naming it."""
    django_app.application  # noqa: B018 - Django configured
    with override_settings(WATCHKIT=option), pytest.raises(ConfigError, match=match):
        WatchkitMiddleware(lambda request: None)


def test_executemany_is_one_operation(telemetry: TelemetryCapture, orm: None) -> None:
    """A Django cursor's executemany: one span with the batch size, one duration point."""
    with connections["default"].cursor() as cursor:
        cursor.executemany(
            "INSERT INTO django_content_type (app_label, model) VALUES (%s, %s)",
            [("food", "rider"), ("food", "basket"), ("food", "voucher")],
        )
    (span,) = _db_spans(telemetry)
    assert span.name == "INSERT django_content_type"
    assert span.attributes["db.operation.batch.size"] == 3
    assert "rider" not in str(span.attributes)
