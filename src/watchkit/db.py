"""Database telemetry: queries, slow queries, N+1 and connection pools.

::

    import sqlite3
    import watchkit.db

    conn = watchkit.db.instrument_connection(sqlite3.connect(":memory:"))
    conn.execute("CREATE TABLE orders (id INTEGER, city TEXT)")
    conn.execute("SELECT * FROM orders WHERE city = ?", ("Lyon",))

Every query becomes a CLIENT span named after its ``db.query.summary``
(``SELECT orders``) and one point of ``db.client.operation.duration`` (s):
see :mod:`watchkit._db._record` for what is recorded and
:mod:`watchkit._db._sql` for how query text is sanitised (literals become
``?``; the text goes on spans only, never on metrics).

- :func:`instrument_connection`: any PEP 249 (DB-API 2.0) connection, sync or
  async (sqlite3, psycopg 3, psycopg2, PyMySQL, ...);
- :func:`wrap_connect`: a ``connect`` function whose connections are instrumented;
- :func:`instrument_sqlalchemy`: an SQLAlchemy ``Engine`` or ``AsyncEngine``,
  with its pool's metrics;
- :func:`instrument_psycopg_pool`: a psycopg_pool ``ConnectionPool`` or
  ``AsyncConnectionPool``: its metrics, and its connections' queries;
- Django's database connections: installed by the Django integration
  (:func:`watchkit.integrations.django.instrument_databases`);
- :func:`sanitize_sql`: the sanitiser itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from watchkit._db._dbapi import connect_namespace, target_for, wrap
from watchkit._db._record import QueryOptions
from watchkit._db._sql import sanitise

__all__ = [
    "instrument_connection",
    "instrument_psycopg_pool",
    "instrument_sqlalchemy",
    "sanitize_sql",
    "wrap_connect",
]

_C = TypeVar("_C")
_E = TypeVar("_E")
_P = ParamSpec("_P")


def _options(arguments: dict[str, Any]) -> QueryOptions:
    """The query options among a public function's ``locals()`` (its keyword arguments),
    checked: the functions below share them and fail alike on a bad threshold."""
    return QueryOptions(**{name: arguments[name] for name in QueryOptions._fields}).checked()


def instrument_connection(
    connection: _C,
    *,
    system: str | None = None,
    namespace: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    slow_query_threshold: float = 0.1,
    n_plus_one_count: int = 5,
    n_plus_one_duration: float = 0.05,
) -> _C:
    """Return ``connection`` behind a transparent proxy that records every query.

    Args:
        connection: a DB-API 2.0 connection (sync, or async like psycopg's
            ``AsyncConnection``). Instrumenting a proxy again returns it unchanged.
        system: ``db.system.name``; default from the driver (``postgresql``,
            ``sqlite``, ``mysql`` ..., else ``other_sql``).
        namespace: ``db.namespace`` (the database name); psycopg's is read from
            the connection.
        server_address: ``server.address``; psycopg's is read from the connection.
        server_port: ``server.port``; psycopg's is read from the connection.
        slow_query_threshold: seconds from which a query logs one WARN line
            (rate-limited) and its span gets ``watchkit.db.slow=true``.
        n_plus_one_count: how many queries of one shape within one span make an
            N+1 suspicion (with ``n_plus_one_duration``).
        n_plus_one_duration: seconds those queries must take together.

    Returns:
        The proxy: use it exactly like the connection (``isinstance`` holds).

    Raises:
        ValueError: a threshold is out of range.

    Example:
        >>> import sqlite3
        >>> conn = instrument_connection(sqlite3.connect(":memory:"))
        >>> conn.execute("SELECT 1").fetchone()
        (1,)
        >>> isinstance(conn, sqlite3.Connection)
        True
    """
    options = _options(locals())
    return wrap(connection, target_for(connection, options))


def wrap_connect(connect: Callable[_P, _C], **options: Any) -> Callable[_P, _C]:
    """``connect`` whose connections are instrumented.

    ``options`` are those of :func:`instrument_connection`. For sqlite3,
    ``namespace`` defaults to the database file's base name (``orders.db``).

    Example:
        >>> import sqlite3
        >>> connect = wrap_connect(sqlite3.connect, namespace="orders")
        >>> connect(":memory:").execute("SELECT 2").fetchone()
        (2,)

    Raises:
        TypeError: an option :func:`instrument_connection` does not take.
        ValueError: a threshold is out of range.
    """
    unknown = sorted(set(options) - set(QueryOptions._fields))
    if unknown:
        raise TypeError(
            f"wrap_connect: unknown option(s) {', '.join(unknown)}; "
            f"use {', '.join(QueryOptions._fields)}"
        )
    checked = QueryOptions(**options).checked()

    @functools.wraps(connect)
    def instrumented(*args: _P.args, **kwargs: _P.kwargs) -> _C:
        connection = connect(*args, **kwargs)
        if checked.namespace is None:
            namespace = connect_namespace(connection, args, kwargs)
            if namespace is not None:
                return wrap(
                    connection, target_for(connection, checked._replace(namespace=namespace))
                )
        return wrap(connection, target_for(connection, checked))

    return instrumented


def instrument_sqlalchemy(
    engine: _E,
    *,
    system: str | None = None,
    namespace: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    pool_name: str | None = None,
    slow_query_threshold: float = 0.1,
    n_plus_one_count: int = 5,
    n_plus_one_duration: float = 0.05,
) -> _E:
    """Record every query of an SQLAlchemy ``Engine`` or ``AsyncEngine``, and its pool.

    Queries are recorded as by :func:`instrument_connection`; the defaults of
    ``system``, ``namespace``, ``server_address`` and ``server_port`` come from
    the engine's URL. The pool reports ``db.client.connection.count`` (used,
    idle), ``.max``, ``.pending_requests``, ``.wait_time`` and ``.timeouts``
    under ``db.client.connection.pool.name`` = ``pool_name`` (default
    ``backend://host:port/database``, never the password). Instrumenting twice
    is harmless.

    Raises:
        ImportError: SQLAlchemy is not installed.
        TypeError: ``engine`` is not an SQLAlchemy engine.
        ValueError: a threshold is out of range.

    Example:
        >>> import sqlalchemy
        >>> engine = instrument_sqlalchemy(sqlalchemy.create_engine("sqlite://"))
        >>> with engine.connect() as conn:
        ...     conn.execute(sqlalchemy.text("SELECT 1")).scalar()
        1
    """
    options = _options(locals())
    try:
        from watchkit.integrations.sqlalchemy import instrument_engine
    except ImportError as error:  # pragma: no cover - the dev extra has SQLAlchemy
        raise ImportError(
            "watchkit.db.instrument_sqlalchemy needs SQLAlchemy: pip install sqlalchemy"
        ) from error
    return instrument_engine(engine, options, pool_name=pool_name)  # type: ignore[no-any-return]


def instrument_psycopg_pool(
    pool: _E,
    *,
    name: str | None = None,
    queries: bool = True,
    system: str | None = None,
    namespace: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    slow_query_threshold: float = 0.1,
    n_plus_one_count: int = 5,
    n_plus_one_duration: float = 0.05,
) -> _E:
    """Report a psycopg_pool ``ConnectionPool`` or ``AsyncConnectionPool``, and its queries.

    The pool reports ``db.client.connection.count`` (``state`` = used, idle),
    ``.max`` and ``.pending_requests`` from ``pool.get_stats()`` read at
    collection time, and ``.wait_time`` (histogram) and ``.timeouts`` (each
    ``PoolTimeout``) from its ``getconn``, all under
    ``db.client.connection.pool.name`` = ``name`` (default: the pool's
    ``name``). With ``queries`` (default), the connections it hands out record
    their queries as :func:`instrument_connection` does (the other arguments are
    its). Instrumenting twice is harmless.

    Raises:
        ImportError: psycopg_pool is not installed.
        TypeError: ``pool`` is not a psycopg_pool pool.
        ValueError: a threshold or ``name`` is invalid.

    Example:
        >>> from psycopg_pool import ConnectionPool
        >>> pool = ConnectionPool("dbname=orders", open=False, name="orders")
        >>> instrument_psycopg_pool(pool) is pool
        True
    """
    options = _options(locals())
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string or None, got {name!r}")
    try:
        from watchkit.integrations._psycopg_pool import instrument_pool
    except ImportError as error:  # pragma: no cover - the dev extra has psycopg_pool
        raise ImportError(
            "watchkit.db.instrument_psycopg_pool needs psycopg_pool: pip install psycopg-pool"
        ) from error
    return instrument_pool(pool, options, name=name, queries=queries)  # type: ignore[no-any-return]


def sanitize_sql(sql: str) -> str:
    """``sql`` as watchkit records it: literals to ``?``, comments dropped, ``IN`` lists collapsed.

    Example:
        >>> sanitize_sql("SELECT * FROM users WHERE email = 'ann@example.com' AND id IN (1, 2, 3)")
        'SELECT * FROM users WHERE email = ? AND id IN (?)'
    """
    return sanitise(sql)
