"""Built-in checks: each is a few lines on the public API, the way users write their own.

Every factory returns a :data:`~watchkit.health.CheckFunction`; register it
with :func:`watchkit.health.add`::

    health.add("postgres", health.sql(engine), component_type="datastore")
"""

from __future__ import annotations

import importlib.util
import os
import urllib.request
from collections.abc import Callable
from typing import Any

from watchkit._internal.diagnostics import export_health
from watchkit._internal.filesystem import filesystem_usage
from watchkit._version import __version__
from watchkit.health._core import CheckFunction, Observation, Status

__all__ = ["disk", "export", "http", "memory", "redis", "sql"]

_USER_AGENT = f"watchkit-health/{__version__}"


def sql(connect_or_engine: Any) -> CheckFunction:
    """``SELECT 1`` on a fresh connection from a DB-API factory or an SQLAlchemy engine.

    Args:
        connect_or_engine: a callable returning a DB-API connection
            (``lambda: psycopg.connect(dsn)``, ``functools.partial(sqlite3.connect, path)``)
            or an SQLAlchemy ``Engine`` (anything with ``.connect()`` whose
            connection has ``.exec_driver_sql``).
    """
    if callable(getattr(connect_or_engine, "connect", None)) and hasattr(
        connect_or_engine, "dialect"
    ):
        engine = connect_or_engine

        def sqlalchemy_select_1() -> None:
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("SELECT 1").scalar()
            except Exception as error:
                # A pooled connection the database closed (a restart, a
                # failover, an idle timeout) fails once, and SQLAlchemy then
                # invalidates the pool: a fresh connection says whether the
                # database itself answers, as pool_pre_ping would.
                if not getattr(error, "connection_invalidated", False):
                    raise
                with engine.connect() as connection:
                    connection.exec_driver_sql("SELECT 1").scalar()

        return sqlalchemy_select_1
    if not callable(connect_or_engine):
        raise ValueError(
            f"connect_or_engine={connect_or_engine!r} is invalid: use a function returning a "
            "DB-API connection, or an SQLAlchemy engine"
        )
    connect: Callable[[], Any] = connect_or_engine

    def dbapi_select_1() -> None:
        connection = connect()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            finally:
                cursor.close()
        finally:
            connection.close()

    return dbapi_select_1


def redis(client: Any) -> CheckFunction:
    """``PING`` through a redis-py client (``redis.Redis`` or ``redis.asyncio.Redis``).

    Create the client with a ``socket_timeout`` below the check's timeout and
    without retries (``retry=Retry(NoBackoff(), 0)``): redis-py retries failed
    commands with back-off by default, which turns "refused" into a timeout.
    """
    ping = getattr(client, "ping", None)
    if not callable(ping):
        raise ValueError(f"client={client!r} is invalid: use a redis client (it has no ping())")
    module = type(client).__module__
    if module.startswith("redis.asyncio"):

        async def redis_ping_async() -> bool:
            return bool(await ping())

        return redis_ping_async

    def redis_ping() -> bool:
        return bool(ping())

    return redis_ping


def http(url: str, *, timeout: float = 0.7, headers: dict[str, str] | None = None) -> CheckFunction:
    """GET ``url`` and expect a 2xx answer within ``timeout`` seconds (httpx if installed)."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"url={url!r} is invalid: use an http:// or https:// URL")
    sent = {"User-Agent": _USER_AGENT, **(headers or {})}
    if importlib.util.find_spec("httpx") is not None:
        return _http_httpx(url, timeout, sent)

    def http_get_urllib() -> None:
        request = urllib.request.Request(url, headers=sent)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"HTTP {response.status}")

    return http_get_urllib


def _http_httpx(url: str, timeout: float, sent: dict[str, str]) -> CheckFunction:
    import httpx

    client_timeout = httpx.Timeout(timeout)

    async def http_get_httpx() -> Observation | None:
        async with httpx.AsyncClient(timeout=client_timeout, headers=sent) as client:
            response = await client.get(url)
        if 200 <= response.status_code < 300:
            return None
        return Observation(status="fail", output=f"HTTP {response.status_code}")

    return http_get_httpx


def _percent(parameter: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
        raise ValueError(f"{parameter}={value!r} is invalid: use a percentage in (0, 100]")
    return float(value)


def disk(
    path: str | os.PathLike[str] = "/", *, warn: float = 80, fail: float = 90
) -> CheckFunction:
    """Used space of the file system holding ``path``: ``warn``/``fail`` above these percents.

    Used percent is ``used / (used + available)`` as ``df`` shows it (blocks
    reserved for root count on neither side), the same figure as
    ``system.filesystem.utilization{system.filesystem.state="used"}``.
    """
    warn_at, fail_at = _percent("warn", warn), _percent("fail", fail)
    if warn_at > fail_at:
        raise ValueError(f"warn={warn!r} is invalid: it must not exceed fail={fail!r}")
    where = os.fspath(path)

    def disk_usage() -> Observation:
        used = round(100.0 * filesystem_usage(where).utilization, 1)
        status: Status = "fail" if used >= fail_at else "warn" if used >= warn_at else "pass"
        return Observation(used, "percent", "utilization", status, f"{used} % used")

    return disk_usage


def _rss_bytes() -> int:
    # /proc is read per call (never cached), so the value is the current
    # process's, also in a worker forked after the check was declared.
    with open("/proc/self/statm", "rb") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def memory(max_rss: int, *, warn_ratio: float = 0.9) -> CheckFunction:
    """Resident memory of this process (from ``/proc``): warn, then fail above ``max_rss``.

    Args:
        max_rss: the limit in bytes.
        warn_ratio: fraction of ``max_rss`` from which the check warns.
    """
    if isinstance(max_rss, bool) or not isinstance(max_rss, int) or max_rss <= 0:
        raise ValueError(f"max_rss={max_rss!r} is invalid: use a positive number of bytes")
    if isinstance(warn_ratio, bool) or not isinstance(warn_ratio, (int, float)):
        raise ValueError(f"warn_ratio={warn_ratio!r} is invalid: use a number in (0, 1]")
    if not 0 < warn_ratio <= 1:
        raise ValueError(f"warn_ratio={warn_ratio!r} is invalid: use a number in (0, 1]")

    def process_memory() -> Observation:
        rss = _rss_bytes()
        status: Status = (
            "fail" if rss > max_rss else "warn" if rss > warn_ratio * max_rss else "pass"
        )
        return Observation(rss, "By", "rss", status, f"{rss / 2**20:.1f} MiB resident")

    return process_memory


def export() -> CheckFunction:
    """watchkit's own export: ``warn`` while the collector is unreachable or telemetry is dropped.

    Never ``fail``: losing telemetry must not take the service out of rotation.
    Declare it non-critical and in readiness or healthz.
    """
    seen = {"dropped": 0}

    def watchkit_export() -> Observation:
        dropped = sum(stat.dropped for stat in list(export_health.stats.values()))
        new, seen["dropped"] = dropped - seen["dropped"], dropped
        if export_health.failing:
            return Observation(dropped, "{item}", "dropped", "warn", "collector unreachable")
        if new > 0:
            return Observation(dropped, "{item}", "dropped", "warn", f"{new} items dropped")
        return Observation(dropped, "{item}", "dropped", "pass")

    return watchkit_export
