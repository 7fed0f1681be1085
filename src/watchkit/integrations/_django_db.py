"""Django's database connections through ``connection.execute_wrappers``.

Django documents ``execute_wrapper`` as the hook around every query its
cursors run (ORM and raw cursors alike). A wrapper is attached to each
``DatabaseWrapper`` when it connects (the ``connection_created`` signal, sent
for every connection of every alias and thread) and to those already
connected; it is installed once per wrapper object, so reconnections
(``CONN_MAX_AGE = 0``) do not stack it.

Each query goes through the one record path of :mod:`watchkit._db._record`, so
Django queries get the same span, ``db.client.operation.duration`` point, slow
query line and N+1 event as DB-API ones. No double recording:

- if the driver connection underneath is already a watchkit DB-API proxy (the
  application instrumented it itself), the proxy records and the wrapper only
  passes the query through;
- if OpenTelemetry's contrib dbapi instrumentation wraps it, the wrapper
  records and switches the contrib span off for the query (one warning).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Final

from watchkit._db._dbapi import contrib_instrumented, is_instrumented
from watchkit._db._record import Target, begin, warn_once
from watchkit._internal.guard import report
from watchkit._internal.semconv import DB_SYSTEM_OTHER_SQL

__all__ = ["DatabaseOptions", "install", "uninstall"]

# Django's vendor names -> db.system.name (semconv registry values).
_SYSTEMS: Final = {
    "postgresql": "postgresql",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "oracle": "oracle.db",
}
_TARGET: Final = "_watchkit_db_target"
_MARK: Final = "_watchkit_db_wrapper"


class DatabaseOptions:
    """Thresholds of the Django database hook (see :func:`watchkit.db.instrument_connection`)."""

    __slots__ = ("n_plus_one_count", "n_plus_one_duration", "slow_query_threshold")

    def __init__(
        self,
        slow_query_threshold: float = 0.1,
        n_plus_one_count: int = 5,
        n_plus_one_duration: float = 0.05,
    ) -> None:
        self.slow_query_threshold = slow_query_threshold
        self.n_plus_one_count = n_plus_one_count
        self.n_plus_one_duration = n_plus_one_duration


_options = DatabaseOptions()
_lock = threading.Lock()
_installed = False


def _target(connection: Any) -> Target:
    """The :class:`Target` of one Django ``DatabaseWrapper`` (built at its first query)."""
    settings = getattr(connection, "settings_dict", None) or {}
    vendor = getattr(connection, "vendor", "") or ""
    system = _SYSTEMS.get(vendor, DB_SYSTEM_OTHER_SQL)
    name = settings.get("NAME")
    if isinstance(name, os.PathLike):  # Django's default: BASE_DIR / "db.sqlite3"
        name = os.fspath(name)
    namespace = name if isinstance(name, str) else None  # Target keeps a SQLite file's name
    host = settings.get("HOST") or None
    if isinstance(host, str) and host.startswith("/"):  # a Unix socket directory
        host = None
    port = settings.get("PORT")
    try:
        port_number = int(port) if port else None
    except (TypeError, ValueError):
        port_number = None
    contrib = contrib_instrumented(getattr(connection, "connection", None))
    if contrib:
        warn_once(
            "db.contrib",
            "watchkit.db: this Django database connection is also instrumented by "
            "OpenTelemetry's contrib database instrumentation; watchkit records it and "
            "switches the contrib spans off for its queries (to avoid duplicates, "
            "uninstrument the contrib one)",
        )
    return Target(
        system,
        namespace=namespace,
        server=host if isinstance(host, str) else None,
        port=port_number,
        slow_query_threshold=_options.slow_query_threshold,
        n_plus_one_count=_options.n_plus_one_count,
        n_plus_one_duration=_options.n_plus_one_duration,
        suppress_contrib=contrib,
    )


def _batch(params: Any) -> int | None:
    try:
        return len(params)
    except TypeError:
        return None


def _wrapper(execute: Any, sql: Any, params: Any, many: bool, context: Any) -> Any:
    if not _installed:
        return execute(sql, params, many, context)
    operation = None
    try:
        connection = context["connection"]
        if not is_instrumented(connection.connection):
            target = connection.__dict__.get(_TARGET)
            if target is None:
                target = connection.__dict__[_TARGET] = _target(connection)
            operation = begin(target, sql, _batch(params) if many else None)
    except Exception:
        report("django database query start")
    if operation is None:
        return execute(sql, params, many, context)
    try:
        result = execute(sql, params, many, context)
    except BaseException as error:
        # Django re-raises driver errors as its own (django.db.utils.*); the driver's
        # class (psycopg.errors.UndefinedTable) says more and matches watchkit.db's.
        cause = error.__cause__
        translated = type(error).__module__ == "django.db.utils" and cause is not None
        operation.finish(cause if translated else error)
        raise
    operation.finish()
    return result


def _attach(connection: Any) -> None:
    try:
        if connection.__dict__.get(_MARK):
            return
        connection.execute_wrappers.append(_wrapper)
        connection.__dict__[_MARK] = True
        # A reconnection may change the driver connection underneath (contrib or not).
        connection.__dict__.pop(_TARGET, None)
    except Exception:
        report("django database hook")


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    _attach(connection)
    # A new driver connection: re-read whether contrib wraps it.
    connection.__dict__.pop(_TARGET, None)


def install(options: DatabaseOptions | None = None) -> None:
    """Record every query of every Django database connection (idempotent)."""
    global _installed, _options
    from django.db import connections  # type: ignore[import-untyped]
    from django.db.backends.signals import connection_created  # type: ignore[import-untyped]

    with _lock:
        if options is not None:
            _options = options
        if not _installed:
            connection_created.connect(_on_connection_created, dispatch_uid=_MARK)
            _installed = True
    # Wrappers of this thread that connected before the signal was connected.
    for connection in connections.all(initialized_only=True):
        _attach(connection)
        connection.__dict__.pop(_TARGET, None)


def uninstall() -> None:
    """Stop recording Django queries (connections of this thread lose the wrapper now)."""
    global _installed
    from django.db import connections
    from django.db.backends.signals import connection_created

    with _lock:
        connection_created.disconnect(dispatch_uid=_MARK)
        _installed = False
    for connection in connections.all(initialized_only=True):
        if _wrapper in connection.execute_wrappers:
            connection.execute_wrappers.remove(_wrapper)
        connection.__dict__.pop(_MARK, None)
        connection.__dict__.pop(_TARGET, None)
