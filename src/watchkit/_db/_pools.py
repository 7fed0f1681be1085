"""Connection-pool metrics, read from the pools at collection time.

A pool library's hook registers each pool with :func:`register` and a reader
returning a :class:`PoolStats`; the observable instruments below call every
live reader once per collection. Reading the pool's own counters at
collection time, rather than adding and subtracting on checkout/checkin
events, cannot drift: SQLAlchemy fires ``checkin`` before the connection is
back in the pool, and event arithmetic has produced gauges stuck at 1 or
negative idle counts in other libraries.

Waiting for a connection is measured around the pool's acquire call by the
hook (:class:`Acquire`): ``db.client.connection.wait_time``, the number
waiting right now (``db.client.connection.pending_requests``) and the
acquisitions that gave up (``db.client.connection.timeouts``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from watchkit._internal.guard import report
from watchkit._internal.semconv import (
    DB_CLIENT_CONNECTION_COUNT,
    DB_CLIENT_CONNECTION_MAX,
    DB_CLIENT_CONNECTION_PENDING_REQUESTS,
    DB_CLIENT_CONNECTION_POOL_NAME,
    DB_CLIENT_CONNECTION_STATE,
    DB_CLIENT_CONNECTION_TIMEOUTS,
    DB_CLIENT_CONNECTION_WAIT_TIME,
    DB_CONNECTION_STATE_IDLE,
    DB_CONNECTION_STATE_USED,
    DB_DURATION_BUCKETS,
    UNIT_CONNECTIONS,
    UNIT_REQUESTS,
    UNIT_SECONDS,
    UNIT_TIMEOUTS,
)
from watchkit._metrics import Attributes, Counter, Histogram, ObservableUpDownCounter

__all__ = ["Acquire", "PoolStats", "register"]


@dataclass(frozen=True)
class PoolStats:
    """What a pool says about itself at one moment; None where it cannot say."""

    used: int
    idle: int
    max: int | None = None
    pending: int | None = None


class _Pool:
    __slots__ = ("__weakref__", "attributes", "lock", "pending", "read")

    def __init__(self, name: str, read: Callable[[], PoolStats]) -> None:
        self.attributes: Attributes = {DB_CLIENT_CONNECTION_POOL_NAME: name}
        self.read = read
        self.pending = 0
        self.lock = threading.Lock()


_pools: weakref.WeakKeyDictionary[Any, _Pool] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def register(pool: Any, name: str, read: Callable[[], PoolStats]) -> Acquire:
    """Report ``pool`` (held weakly) under ``name``; return its acquire timer."""
    entry = _Pool(name, read)
    with _lock:
        _pools[pool] = entry
    return Acquire(entry)


def _snapshot() -> list[tuple[_Pool, PoolStats | None]]:
    with _lock:
        entries = list(_pools.values())
    result: list[tuple[_Pool, PoolStats | None]] = []
    for entry in entries:
        try:
            result.append((entry, entry.read()))
        except Exception:
            report("database pool statistics")
            result.append((entry, None))
    return result


def _counts() -> Iterable[tuple[float, Attributes]]:
    for entry, stats in _snapshot():
        if stats is None:
            continue
        # Clamped: a pool between checkin and return may report a transient -1.
        yield (
            max(stats.used, 0),
            {**entry.attributes, DB_CLIENT_CONNECTION_STATE: DB_CONNECTION_STATE_USED},
        )
        yield (
            max(stats.idle, 0),
            {**entry.attributes, DB_CLIENT_CONNECTION_STATE: DB_CONNECTION_STATE_IDLE},
        )


def _maxima() -> Iterable[tuple[float, Attributes]]:
    for entry, stats in _snapshot():
        if stats is not None and stats.max is not None:
            yield stats.max, entry.attributes


def _pending() -> Iterable[tuple[float, Attributes]]:
    for entry, stats in _snapshot():
        pending = entry.pending if stats is None or stats.pending is None else stats.pending
        yield max(pending, 0), entry.attributes


_COUNT = ObservableUpDownCounter(
    DB_CLIENT_CONNECTION_COUNT, UNIT_CONNECTIONS,
    "Connections of a pool, by state (used or idle).", _counts, None,
)  # fmt: skip
_COUNT._activate()
_MAX = ObservableUpDownCounter(
    DB_CLIENT_CONNECTION_MAX, UNIT_CONNECTIONS,
    "The most connections a pool may open.", _maxima, None,
)  # fmt: skip
_MAX._activate()
_PENDING = ObservableUpDownCounter(
    DB_CLIENT_CONNECTION_PENDING_REQUESTS, UNIT_REQUESTS,
    "Requests waiting for a connection from a pool.", _pending, None,
)  # fmt: skip
_PENDING._activate()
_WAIT = Histogram(
    DB_CLIENT_CONNECTION_WAIT_TIME, UNIT_SECONDS,
    "Time spent waiting for a connection from a pool.", DB_DURATION_BUCKETS,
)  # fmt: skip
_TIMEOUTS = Counter(
    DB_CLIENT_CONNECTION_TIMEOUTS, UNIT_TIMEOUTS,
    "Connection requests that timed out waiting for a pool.",
)  # fmt: skip


class Acquire:
    """Times acquisitions from one pool: wrap the pool's acquire call with :meth:`run`."""

    __slots__ = ("_entry",)

    def __init__(self, entry: _Pool) -> None:
        self._entry = entry

    def run(
        self,
        acquire: Callable[..., Any],
        timeout_types: tuple[type[BaseException], ...],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Call ``acquire(*args, **kwargs)``; record its wait, and a timeout if it raises one."""
        entry = self._entry
        with entry.lock:
            entry.pending += 1
        start = time.perf_counter()
        try:
            return acquire(*args, **kwargs)
        except timeout_types:
            _TIMEOUTS.add(1, entry.attributes)
            raise
        finally:
            with entry.lock:
                entry.pending -= 1
            _WAIT.record(time.perf_counter() - start, entry.attributes)

    async def arun(
        self,
        acquire: Callable[..., Awaitable[Any]],
        timeout_types: tuple[type[BaseException], ...],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """:meth:`run` for a pool whose acquire call is a coroutine."""
        entry = self._entry
        with entry.lock:
            entry.pending += 1
        start = time.perf_counter()
        try:
            return await acquire(*args, **kwargs)
        except timeout_types:
            _TIMEOUTS.add(1, entry.attributes)
            raise
        finally:
            with entry.lock:
                entry.pending -= 1
            _WAIT.record(time.perf_counter() - start, entry.attributes)
