"""The SQL sanitiser and summariser: every literal goes, every shape stays recognisable."""

from __future__ import annotations

import pytest

from watchkit._db._sql import MAX_QUERY_TEXT, MAX_SUMMARY, analyse, sanitise
from watchkit.db import sanitize_sql


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = ?"),
        ("SELECT * FROM t WHERE a = 'O''Brien'", "SELECT * FROM t WHERE a = ?"),
        ("SELECT * FROM t WHERE a = 'it''s; DROP TABLE t; --'", "SELECT * FROM t WHERE a = ?"),
        (r"SELECT E'a\'b' FROM t", "SELECT ? FROM t"),
        ("SELECT X'DEADBEEF', B'0101', N'nom' FROM t", "SELECT ?, ?, ? FROM t"),
        ("SELECT $$secret 'quoted' text$$ FROM t", "SELECT ? FROM t"),
        ("SELECT $fn$ body with $$ inside $fn$ FROM t", "SELECT ? FROM t"),
        ("SELECT 'unterminated", "SELECT ?"),
        ("SELECT 42, 3.14, .5, 1e10, 2.5E-3, 0x1F", "SELECT ?, ?, ?, ?, ?, ?"),
        ("SELECT -7", "SELECT - ?"),
        ("SELECT col1, t2.col3 FROM table1 t2", "SELECT col1, t2.col3 FROM table1 t2"),
        ("SELECT \"col 1\", `col2`, [col 3] FROM \"Order\"",
         "SELECT \"col 1\", `col2`, [col 3] FROM \"Order\""),
        ("SELECT \"it's\" FROM t", "SELECT \"it's\" FROM t"),
        ("SELECT a FROM t -- user 42 asked\nWHERE b = 1", "SELECT a FROM t WHERE b = ?"),
        ("/* traceparent='00-abc-def-01' */ SELECT 1", "SELECT ?"),
        ("SELECT /* inline 'quote' */ a FROM t", "SELECT a FROM t"),
        ("SELECT a FROM t WHERE id IN (1, 2, 3, 4)", "SELECT a FROM t WHERE id IN (?)"),
        ("SELECT a FROM t WHERE id in ('a','b')", "SELECT a FROM t WHERE id in (?)"),
        ("SELECT a FROM t WHERE id IN (%s, %s, %s)", "SELECT a FROM t WHERE id IN (?)"),
        ("SELECT a FROM t WHERE id NOT IN ($1, $2)", "SELECT a FROM t WHERE id NOT IN (?)"),
        ("SELECT a FROM t WHERE id IN (SELECT b FROM u)",
         "SELECT a FROM t WHERE id IN (SELECT b FROM u)"),
        ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
         "INSERT INTO t(a, b) VALUES (?, ?)"),
        ("INSERT INTO t VALUES (%(a)s, %(b)s)", "INSERT INTO t VALUES (%(a)s, %(b)s)"),
        ("SELECT * FROM t WHERE a = :name AND b = ?", "SELECT * FROM t WHERE a = :name AND b = ?"),
        ("SELECT a::int FROM t", "SELECT a::int FROM t"),
        ("SELECT count(*) FROM t", "SELECT count(*) FROM t"),
        ("  SELECT\n\t a\n FROM   t  ", "SELECT a FROM t"),
        ("UPDATE t SET a = 1; DELETE FROM u WHERE id = 2",
         "UPDATE t SET a = ?; DELETE FROM u WHERE id = ?"),
        ("SELECT 'Zürich', 'naïve' FROM café", "SELECT ?, ? FROM café"),
        ("SELECT TRUE, NULL FROM t", "SELECT TRUE, NULL FROM t"),
    ],
)  # fmt: skip
def test_sanitise(sql: str, expected: str) -> None:
    """Literals become ?, comments go, identifiers and placeholders stay, IN lists collapse."""
    assert sanitise(sql) == expected


@pytest.mark.parametrize(
    ("sql", "summary", "operation", "collection"),
    [
        ("SELECT * FROM orders WHERE id = 1", "SELECT orders", "SELECT", "orders"),
        ("select * from orders o join customers c on o.cid = c.id",
         "SELECT orders customers", "SELECT", ""),
        ("SELECT a FROM x, y WHERE x.id = y.id", "SELECT x y", "SELECT", ""),
        ("INSERT INTO audit SELECT * FROM orders", "INSERT audit SELECT orders", "INSERT", ""),
        ("UPDATE public.orders SET a = 1", "UPDATE public.orders", "UPDATE", "public.orders"),
        ("DELETE FROM \"Order\" WHERE id = 1", 'DELETE "Order"', "DELETE", '"Order"'),
        ("CREATE TABLE IF NOT EXISTS orders (id int)", "CREATE TABLE orders", "CREATE TABLE",
         "orders"),
        ("DROP INDEX CONCURRENTLY idx_orders", "DROP INDEX idx_orders", "DROP INDEX", "idx_orders"),
        ("WITH r AS (SELECT * FROM orders) SELECT * FROM r", "SELECT orders SELECT r",
         "SELECT", ""),
        ("SELECT a FROM t UNION SELECT a FROM u", "SELECT t SELECT u", "SELECT", ""),
        ("SELECT * FROM t WHERE id IN (SELECT id FROM u)", "SELECT t SELECT u", "SELECT", ""),
        ("BEGIN", "BEGIN", "BEGIN", ""),
        ("SELECT 1", "SELECT", "SELECT", ""),
        ("SELECT 1; DROP TABLE x", "SELECT DROP TABLE x", "SELECT", ""),
        ("CALL refresh_stats()", "CALL", "CALL", ""),
        ("frobnicate the widgets", "", "", ""),
        ("", "", "", ""),
    ],
)  # fmt: skip
def test_summary(sql: str, summary: str, operation: str, collection: str) -> None:
    """db.query.summary lists operations and collections in order; one collection is named."""
    info = analyse(sql)
    assert (info.summary, info.operation, info.collection) == (summary, operation, collection)


def test_long_queries_are_truncated() -> None:
    """Query text stops at 2 KB and the summary at 255 characters."""
    sql = "SELECT " + ", ".join(f"column_{i}" for i in range(1000)) + " FROM t"
    assert len(sanitise(sql)) == MAX_QUERY_TEXT
    joins = "SELECT * FROM " + " JOIN ".join(f"table_number_{i} ON a = b" for i in range(60))
    summary = analyse(joins).summary
    assert len(summary) <= MAX_SUMMARY
    assert summary.startswith("SELECT table_number_0 table_number_1")
    assert not summary.endswith(" ")


def test_no_literal_survives() -> None:
    """A query full of personal data keeps none of it."""
    secrets = ["ann@example.com", "4111111111111111", "hunter2", "1818", "O'Hara"]
    sql = (
        "SELECT * FROM users WHERE email = 'ann@example.com' AND card = 4111111111111111 "
        "AND pw = $$hunter2$$ AND city_id = 1818 AND name = 'O''Hara' -- ann@example.com"
    )
    text = sanitize_sql(sql)
    for secret in secrets:
        assert secret not in text
    assert text.count("?") == 5


def test_analyses_are_cached_and_bounded() -> None:
    """The same text is analysed once; many distinct texts do not grow the cache forever."""
    from watchkit._db import _sql

    first = analyse("SELECT * FROM cached_t WHERE a = 1")
    assert analyse("SELECT * FROM cached_t WHERE a = 1") is first
    for i in range(3000):
        analyse(f"SELECT * FROM t WHERE a = {i}")
    assert len(_sql._cache) <= 1024
