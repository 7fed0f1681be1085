"""The PostgreSQL fixture starts a private cluster that answers queries."""

from __future__ import annotations

import psycopg


def test_cluster_answers_on_loopback(postgres_server):
    """A query over TCP on 127.0.0.1 reaches the private cluster."""
    with psycopg.connect(postgres_server.dsn) as conn:
        row = conn.execute("select current_setting('port')::int, inet_server_addr()").fetchone()
    assert row is not None
    assert row[0] == postgres_server.port
    assert str(row[1]) == "127.0.0.1"
