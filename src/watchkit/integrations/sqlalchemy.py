"""SQLAlchemy engines (sync and async): queries through engine events, pools at collection time.

Use :func:`watchkit.db.instrument_sqlalchemy`. Every cursor execution is
recorded by :mod:`watchkit._db._record` from the engine's
``before_cursor_execute`` / ``after_cursor_execute`` / ``handle_error``
events; an ``AsyncEngine`` is instrumented through its ``sync_engine``, where
SQLAlchemy runs those events for async drivers too.

The engine's pool is reported by :mod:`watchkit._db._pools`: used and idle
connections from ``checkedout()``/``checkedin()`` and the maximum from
``size()`` plus the overflow allowance, read at collection time; wait time,
pending requests and timeouts from a wrapper around the pool's ``connect``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

from watchkit._db import _pools
from watchkit._db._record import Operation, QueryOptions, begin, namespace_of, warn_once
from watchkit._internal.semconv import DB_SYSTEM_OTHER_SQL

__all__ = ["instrument_engine"]

_OPERATION = "_watchkit_operation"
_MARK = "_watchkit_instrumented"
# SQLAlchemy dialect name -> db.system.name.
_SYSTEMS = {
    "postgresql": "postgresql",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mariadb",
    "mssql": "microsoft.sql_server",
    "oracle": "oracle.db",
}


def _contrib_listeners(engine: Engine) -> list[Any]:
    return [
        listener
        for listener in engine.dispatch.before_cursor_execute
        if (getattr(listener, "__module__", "") or "").startswith("opentelemetry.instrumentation")
    ]


def _contrib_listening(engine: Engine) -> bool:
    return bool(_contrib_listeners(engine))


def _pool_stats(pool: Any) -> _pools.PoolStats:
    if isinstance(pool, QueuePool):
        overflow = getattr(pool, "_max_overflow", -1)  # no public accessor
        return _pools.PoolStats(
            used=pool.checkedout(),
            idle=pool.checkedin(),
            max=pool.size() + overflow if overflow >= 0 else None,
        )
    # NullPool, StaticPool, SingletonThreadPool keep no countable idle set.
    return _pools.PoolStats(used=0, idle=0)


def _wrap_pool(engine: Engine, name: str) -> None:
    pool = engine.pool
    if getattr(pool, _MARK, False):
        return
    acquire = _pools.register(pool, name, lambda: _pool_stats(pool))
    original = pool.connect

    def connect() -> Any:
        return acquire.run(original, (sa_exc.TimeoutError,))

    # An instance attribute: only this engine's pool is timed, and
    # Engine.raw_connection() calls self.pool.connect().
    pool.connect = connect  # type: ignore[method-assign]
    setattr(pool, _MARK, True)


def instrument_engine(engine: Any, options: QueryOptions, *, pool_name: str | None) -> Any:
    """Listen to ``engine``'s events (idempotent); return ``engine``."""
    sync_engine: Engine = getattr(engine, "sync_engine", engine)
    if not isinstance(sync_engine, Engine):
        raise TypeError(
            f"engine must be an sqlalchemy Engine or AsyncEngine, got {type(engine).__name__}"
        )
    if getattr(sync_engine, _MARK, False):
        return engine
    url = sync_engine.url
    contrib = _contrib_listening(sync_engine)
    if contrib:
        warn_once(
            "db.contrib.sqlalchemy",
            "watchkit.db: this engine is also instrumented by OpenTelemetry's contrib "
            "SQLAlchemy instrumentation; watchkit records its queries and switches the "
            "contrib spans off for them (to avoid duplicates, uninstrument the contrib one)",
        )
    target = options.target(
        _SYSTEMS.get(url.get_backend_name(), DB_SYSTEM_OTHER_SQL),
        options.namespace or url.database or None,
        options.server_address or url.host or None,
        options.server_port or url.port or None,
        contrib,
    )

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> tuple[str, Any]:
        batch = len(parameters) if executemany and hasattr(parameters, "__len__") else None
        operation = begin(target, statement, batch)
        if operation is not None and context is not None:
            setattr(context, _OPERATION, operation)
        return statement, parameters

    def after(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        operation: Operation | None = getattr(context, _OPERATION, None)
        if operation is not None:
            setattr(context, _OPERATION, None)
            operation.finish()

    def failed(error_context: Any) -> None:
        context = error_context.execution_context
        operation: Operation | None = getattr(context, _OPERATION, None)
        if operation is not None:
            setattr(context, _OPERATION, None)
            operation.finish(error_context.original_exception)

    # Ours must run before contrib's, so that contrib already sees the
    # suppression; ``insert=True`` does not reorder listeners registered on the
    # engine instance, so contrib's are taken out and put back after ours.
    contrib_before = _contrib_listeners(sync_engine)
    for listener in contrib_before:
        event.remove(sync_engine, "before_cursor_execute", listener)
    event.listen(sync_engine, "before_cursor_execute", before, retval=True)
    for listener in contrib_before:
        event.listen(sync_engine, "before_cursor_execute", listener, retval=True)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "handle_error", failed)
    _wrap_pool(sync_engine, pool_name or _pool_name(sync_engine))
    setattr(sync_engine, _MARK, True)
    return engine


def _pool_name(engine: Engine) -> str:
    url = engine.url
    # Never the password: backend, host, port and database only; a SQLite file by
    # its base name, as db.namespace (a machine path is no name for a pool).
    backend = url.get_backend_name()
    host = f"{url.host}:{url.port}" if url.port else (url.host or "")
    return f"{backend}://{host}/{namespace_of(backend, url.database) or ''}"
