"""Any PEP 249 (DB-API 2.0) connection, sync or async, through one transparent proxy.

:func:`instrument_connection` returns a :class:`wrapt.ObjectProxy` of the
connection: everything the driver offers still works (``isinstance`` included),
and ``cursor()`` returns proxied cursors whose ``execute``, ``executemany`` and
``callproc`` are recorded through :mod:`watchkit._db._record`. Connection-level
shortcuts (``Connection.execute`` of sqlite3 and psycopg 3, sqlite3's
``executemany``/``executescript``) are recorded too, and ``with conn:`` /
``with conn.cursor() as cur:`` keep returning the proxies.

psycopg 3's ``AsyncConnection`` is recognised by its coroutine ``execute`` and
gets async proxies (``await cur.execute(...)``, ``async with``).

No driver is imported here: the database system and server come from the
connection object by duck typing (psycopg's ``conn.info``), or from the caller.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, TypeVar

import wrapt

from watchkit._db._record import QueryOptions, Target, begin, warn_once
from watchkit._internal.semconv import DB_SYSTEM_OTHER_SQL

__all__ = ["contrib_instrumented", "is_instrumented", "target_for", "wrap"]

C = TypeVar("C")

# Top-level driver module -> db.system.name (semconv registry values).
_SYSTEMS = {
    "psycopg": "postgresql",
    "psycopg2": "postgresql",
    "pg8000": "postgresql",
    "sqlite3": "sqlite",
    "pysqlite2": "sqlite",
    "pymysql": "mysql",
    "MySQLdb": "mysql",
    "mysql": "mysql",
    "mariadb": "mariadb",
    "oracledb": "oracle.db",
    "cx_Oracle": "oracle.db",
    "pyodbc": DB_SYSTEM_OTHER_SQL,
    "pymssql": "microsoft.sql_server",
    "duckdb": "duckdb",
}
_CONTRIB = "opentelemetry.instrumentation"


def _driver_module(connection: Any) -> str:
    module = type(connection).__module__ or ""
    if module.startswith(_CONTRIB):
        wrapped = getattr(connection, "__wrapped__", None)
        if wrapped is not None:
            return _driver_module(wrapped)
    return module.split(".")[0]


def contrib_instrumented(connection: Any) -> bool:
    """Whether an OpenTelemetry contrib instrumentation already traces this connection."""
    if (type(connection).__module__ or "").startswith(_CONTRIB):
        return True
    factory = getattr(connection, "cursor_factory", None)
    return bool(
        factory is not None and (getattr(factory, "__module__", "") or "").startswith(_CONTRIB)
    )


def connect_namespace(connection: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The database a ``connect(...)`` call named, for drivers whose connection forgets it.

    sqlite3 connections keep no file name; ``wrap_connect`` reads it from the
    arguments (``Target`` then keeps only its base name).
    """
    if _SYSTEMS.get(_driver_module(connection)) != "sqlite":
        return None
    database = args[0] if args else kwargs.get("database")
    if isinstance(database, (str, bytes, os.PathLike)):
        name = os.fsdecode(database)
        return None if name == ":memory:" else name
    return None


def target_for(connection: Any, options: QueryOptions) -> Target:
    """A :class:`Target` for ``connection``: explicit values win over what the connection says."""
    driver = _driver_module(connection)
    namespace, server_address, server_port = (
        options.namespace,
        options.server_address,
        options.server_port,
    )
    info = getattr(connection, "info", None)  # psycopg 2.8+ and 3: libpq connection info
    if info is not None and driver in ("psycopg", "psycopg2"):
        namespace = namespace or getattr(info, "dbname", None) or None
        host = getattr(info, "host", None)
        # A Unix socket directory is not a server address.
        if server_address is None and host and not str(host).startswith("/"):
            server_address = str(host)
        if server_port is None:
            port = getattr(info, "port", None)
            server_port = int(port) if port else None
    contrib = contrib_instrumented(connection)
    if contrib:
        warn_once(
            "db.contrib",
            "watchkit.db: this connection is also instrumented by OpenTelemetry's contrib "
            "database instrumentation; watchkit records it and switches the contrib spans off "
            "for its queries (to avoid duplicates, uninstrument the contrib one)",
        )
    return options.target(
        _SYSTEMS.get(driver, DB_SYSTEM_OTHER_SQL), namespace, server_address, server_port, contrib
    )


def _batch_size(parameters: Any) -> int | None:
    try:
        return len(parameters)
    except TypeError:  # a generator: its length is unknown without consuming it
        return None


def _run(
    target: Target,
    sql: Any,
    method: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    batch: int | None = None,
) -> Any:
    operation = begin(target, sql, batch)
    if operation is None:
        return method(*args, **kwargs)
    try:
        result = method(*args, **kwargs)
    except BaseException as error:
        operation.finish(error)
        raise
    operation.finish()
    return result


async def _arun(
    target: Target,
    sql: Any,
    method: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    batch: int | None = None,
) -> Any:
    operation = begin(target, sql, batch)
    if operation is None:
        return await method(*args, **kwargs)
    try:
        result = await method(*args, **kwargs)
    except BaseException as error:
        operation.finish(error)
        raise
    operation.finish()
    return result


def _sql_text(sql: Any, context: Any) -> Any:
    # psycopg's sql.Composed renders only against a connection or cursor.
    if not isinstance(sql, (str, bytes)) and hasattr(sql, "as_string"):
        try:
            return sql.as_string(context)
        except Exception:
            return type(sql).__name__
    return sql


class _Cursor(wrapt.ObjectProxy[Any]):
    def __init__(self, cursor: Any, target: Target) -> None:
        super().__init__(cursor)
        self._self_target = target

    def execute(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
        # The hot path, inlined (no _run frame, no argument repacking): it is most of
        # what watchkit adds per query besides the SDK's span and histogram point.
        wrapped = self.__wrapped__
        operation = begin(self._self_target, sql if type(sql) is str else _sql_text(sql, wrapped))
        if operation is None:
            result = wrapped.execute(sql, *args, **kwargs)
        else:
            try:
                result = wrapped.execute(sql, *args, **kwargs)
            except BaseException as error:
                operation.finish(error)
                raise
            operation.finish()
        # sqlite3 and psycopg return the cursor itself, for chaining.
        return self if result is wrapped else result

    def executemany(self, sql: Any, parameters: Any, *args: Any, **kwargs: Any) -> Any:
        wrapped = self.__wrapped__
        if not isinstance(parameters, (list, tuple)):
            parameters = list(parameters)
        result = _run(
            self._self_target, _sql_text(sql, wrapped), wrapped.executemany,
            (sql, parameters, *args), kwargs, _batch_size(parameters),
        )  # fmt: skip
        return self if result is wrapped else result

    def callproc(self, name: str, *args: Any, **kwargs: Any) -> Any:
        wrapped = self.__wrapped__
        return _run(self._self_target, f"CALL {name}", wrapped.callproc, (name, *args), kwargs)

    # PEP 249's fetch methods, forwarded explicitly: an attribute the proxy class
    # lacks is found only after a failed lookup raises AttributeError inside
    # wrapt (about 0.5 µs); a row read after every query should not pay that.
    def fetchone(self) -> Any:
        return self.__wrapped__.fetchone()

    def fetchmany(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__.fetchmany(*args, **kwargs)

    def fetchall(self) -> Any:
        return self.__wrapped__.fetchall()

    def __enter__(self) -> _Cursor:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self.__wrapped__.__exit__(*exc)

    def __iter__(self) -> Any:
        return iter(self.__wrapped__)


class _AsyncCursor(wrapt.ObjectProxy[Any]):
    def __init__(self, cursor: Any, target: Target) -> None:
        super().__init__(cursor)
        self._self_target = target

    async def execute(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
        wrapped = self.__wrapped__
        result = await _arun(
            self._self_target, _sql_text(sql, wrapped), wrapped.execute, (sql, *args), kwargs
        )
        return self if result is wrapped else result

    async def executemany(self, sql: Any, parameters: Any, *args: Any, **kwargs: Any) -> Any:
        wrapped = self.__wrapped__
        if not isinstance(parameters, (list, tuple)):
            parameters = list(parameters)
        result = await _arun(
            self._self_target, _sql_text(sql, wrapped), wrapped.executemany,
            (sql, parameters, *args), kwargs, _batch_size(parameters),
        )  # fmt: skip
        return self if result is wrapped else result

    async def __aenter__(self) -> _AsyncCursor:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.__wrapped__.__aexit__(*exc)

    def __aiter__(self) -> Any:
        return self.__wrapped__.__aiter__()


class _Connection(wrapt.ObjectProxy[Any]):
    def __init__(self, connection: Any, target: Target) -> None:
        super().__init__(connection)
        self._self_target = target

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        return _Cursor(self.__wrapped__.cursor(*args, **kwargs), self._self_target)

    def execute(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
        wrapped = self.__wrapped__
        cursor = _run(
            self._self_target, _sql_text(sql, wrapped), wrapped.execute, (sql, *args), kwargs
        )
        return _Cursor(cursor, self._self_target)

    def executemany(self, sql: Any, parameters: Any, *args: Any, **kwargs: Any) -> Any:
        wrapped = self.__wrapped__
        if not isinstance(parameters, (list, tuple)):
            parameters = list(parameters)
        cursor = _run(
            self._self_target, _sql_text(sql, wrapped), wrapped.executemany,
            (sql, parameters, *args), kwargs, _batch_size(parameters),
        )  # fmt: skip
        return _Cursor(cursor, self._self_target)

    # Forwarded explicitly for the same reason as the cursor's fetch methods
    # (rollback is optional in PEP 249, so it stays forwarded by wrapt).
    def commit(self) -> Any:
        return self.__wrapped__.commit()

    def executescript(self, script: str, *args: Any, **kwargs: Any) -> Any:
        wrapped = self.__wrapped__
        cursor = _run(self._self_target, script, wrapped.executescript, (script, *args), kwargs)
        return _Cursor(cursor, self._self_target)

    def __enter__(self) -> _Connection:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self.__wrapped__.__exit__(*exc)


class _AsyncConnection(wrapt.ObjectProxy[Any]):
    def __init__(self, connection: Any, target: Target) -> None:
        super().__init__(connection)
        self._self_target = target

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        return _AsyncCursor(self.__wrapped__.cursor(*args, **kwargs), self._self_target)

    async def execute(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
        wrapped = self.__wrapped__
        cursor = await _arun(
            self._self_target, _sql_text(sql, wrapped), wrapped.execute, (sql, *args), kwargs
        )
        return _AsyncCursor(cursor, self._self_target)

    async def __aenter__(self) -> _AsyncConnection:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.__wrapped__.__aexit__(*exc)


def is_instrumented(connection: Any) -> bool:
    """Whether ``connection`` is already one of watchkit's proxies."""
    return isinstance(connection, (_Connection, _AsyncConnection))


def wrap(connection: C, target: Target) -> C:
    """``connection`` behind watchkit's sync or async proxy."""
    if is_instrumented(connection):
        return connection
    if inspect.iscoroutinefunction(getattr(type(connection), "execute", None)):
        return _AsyncConnection(connection, target)  # type: ignore[return-value]
    return _Connection(connection, target)  # type: ignore[return-value]
