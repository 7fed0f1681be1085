"""psycopg_pool pools (``ConnectionPool``, ``AsyncConnectionPool``): pool metrics and queries.

Use :func:`watchkit.db.instrument_psycopg_pool`. The pool is reported by
:mod:`watchkit._db._pools` under ``db.client.connection.pool.name`` (the
pool's ``name``): ``get_stats()`` is read at collection time for
``db.client.connection.count`` (``used`` = ``pool_size - pool_available``,
``idle`` = ``pool_available``), ``db.client.connection.max`` (``pool_max``)
and ``db.client.connection.pending_requests`` (``requests_waiting``).
``get_stats()`` only keeps a total of the waiting time, so the wait-time
histogram and the timeouts (``PoolTimeout``) come from a wrapper around the
pool's ``getconn``, which ``connection()`` calls too.

With ``queries=True`` the connections it hands out are watchkit DB-API proxies
(:func:`watchkit.db.instrument_connection`), unwrapped again when they go back
to the pool, so the pool only ever holds the driver's connections.
"""

from __future__ import annotations

from typing import Any, Final

from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from watchkit._db import _pools
from watchkit._db._dbapi import target_for, wrap
from watchkit._db._record import QueryOptions, Target

__all__ = ["instrument_pool"]

_MARK: Final = "_watchkit_pool"


def _stats(pool: Any) -> _pools.PoolStats:
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    available = stats.get("pool_available", 0)
    return _pools.PoolStats(
        used=size - available,
        idle=available,
        max=stats.get("pool_max"),
        pending=stats.get("requests_waiting", 0),
    )


class _Queries:
    """The :class:`Target` of a pool's connections, built from the first one handed out."""

    __slots__ = ("options", "target")

    def __init__(self, options: QueryOptions) -> None:
        self.options = options
        self.target: Target | None = None

    def wrap(self, connection: Any) -> Any:
        target = self.target
        if target is None:
            target = self.target = target_for(connection, self.options)
        return wrap(connection, target)


def _unwrap(connection: Any) -> Any:
    return getattr(connection, "__wrapped__", connection)


def instrument_pool(pool: Any, options: QueryOptions, *, name: str | None, queries: bool) -> Any:
    """Report ``pool`` (and, with ``queries``, its connections' queries); idempotent."""
    if not isinstance(pool, (ConnectionPool, AsyncConnectionPool)):
        raise TypeError(
            "pool must be a psycopg_pool ConnectionPool or AsyncConnectionPool, "
            f"got {type(pool).__name__}"
        )
    if pool.__dict__.get(_MARK):
        return pool
    acquire = _pools.register(pool, name or pool.name, lambda: _stats(pool))
    getconn: Any = pool.getconn
    putconn: Any = pool.putconn
    recorder = _Queries(options) if queries else None
    # Instance attributes: connection() calls self.getconn()/self.putconn(), and other
    # pools are untouched.
    if isinstance(pool, AsyncConnectionPool):

        async def agetconn(timeout: float | None = None) -> Any:
            connection = await acquire.arun(getconn, (PoolTimeout,), timeout=timeout)
            return connection if recorder is None else recorder.wrap(connection)

        async def aputconn(connection: Any) -> None:
            await putconn(_unwrap(connection))

        setattr(pool, "getconn", agetconn)  # noqa: B010 - methods, not typed attributes
        setattr(pool, "putconn", aputconn)  # noqa: B010
    else:

        def sgetconn(timeout: float | None = None) -> Any:
            connection = acquire.run(getconn, (PoolTimeout,), timeout=timeout)
            return connection if recorder is None else recorder.wrap(connection)

        def sputconn(connection: Any) -> None:
            putconn(_unwrap(connection))

        setattr(pool, "getconn", sgetconn)  # noqa: B010 - methods, not typed attributes
        setattr(pool, "putconn", sputconn)  # noqa: B010
    pool.__dict__[_MARK] = True
    return pool
