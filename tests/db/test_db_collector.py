"""Database spans and metrics reach a real collector (rotel) from real PostgreSQL queries."""

from __future__ import annotations

import psycopg
import pytest

import watchkit
import watchkit.db

pytestmark = [pytest.mark.collector]


def test_postgres_query_reaches_the_collector(rotel_collector, otlp_receiver, postgres_server):  # type: ignore[no-untyped-def]
    """A failing and a succeeding query: spans and db.client.operation.duration at the backend."""
    watchkit.configure(
        service_name="orders-db", exporter="otlp", endpoint=rotel_collector.http_endpoint
    )
    with watchkit.db.instrument_connection(
        psycopg.connect(postgres_server.dsn, autocommit=True)
    ) as conn:
        conn.execute("SELECT 'ann@example.com' AS email, 7 AS n")
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM missing_orders WHERE id = 3")
    assert watchkit.force_flush()
    ok = otlp_receiver.wait_for_span("SELECT")
    assert ok.kind == "client"
    assert ok.attributes["db.query.text"] == "SELECT ? AS email, ? AS n"
    assert ok.attributes["server.port"] == postgres_server.port
    failed = otlp_receiver.wait_for_span("SELECT missing_orders")
    assert failed.status_code == "error"
    assert failed.attributes["error.type"] == "psycopg.errors.UndefinedTable"
    points = otlp_receiver.wait_for(
        lambda r: (
            r.metrics("db.client.operation.duration")
            if len(
                {p.attributes.get("error.type") for p in r.metrics("db.client.operation.duration")}
            )
            == 2
            else None
        )
    )
    by_error = {p.attributes.get("error.type"): p for p in points}
    assert by_error[None].attributes["db.system.name"] == "postgresql"
    assert (
        by_error["psycopg.errors.UndefinedTable"].attributes["db.collection.name"]
        == "missing_orders"
    )
    assert by_error[None].unit == "s"
    assert 0.3 in by_error[None].explicit_bounds
    assert "example.com" not in str([p.attributes for p in points])
    assert by_error[None].resource_attributes["service.name"] == "orders-db"
