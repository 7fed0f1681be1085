"""Cache telemetry: hit, miss and error counts and durations per logical cache.

Two instruments, watchkit's own (no semantic convention exists for caches):

- ``watchkit.cache.operations`` (counter, ``{operation}``) with ``cache.name``
  (the logical cache: ``sessions``, ``pricing``), ``cache.operation``
  (``get``, ``set``, ``delete``, ...) and ``cache.result`` (``hit``, ``miss``,
  ``error``; lookups only);
- ``watchkit.cache.operation.duration`` (histogram, s, buckets from 0.5 ms).

Keys never become attributes (they carry user ids and session tokens). A
cached ``None`` is a hit: :class:`Lookup` and :func:`memoize` tell a stored
``None`` from an absent key. The hit ratio is left to a query or recording
rule over the counter.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeVar

from watchkit._internal.guard import report
from watchkit._internal.scopes import SyncScope
from watchkit._internal.semconv import (
    CACHE_DURATION_BUCKETS,
    CACHE_NAME,
    CACHE_OPERATION,
    CACHE_RESULT,
    UNIT_SECONDS,
    WATCHKIT_CACHE_OPERATION_DURATION,
    WATCHKIT_CACHE_OPERATIONS,
    WATCHKIT_CACHE_OPERATIONS_UNIT,
)
from watchkit._metrics import Counter, Histogram, attributes_key, record

__all__ = ["Lookup", "lookup", "memoize", "record_operation"]

P = ParamSpec("P")
R = TypeVar("R")

HIT: Final = "hit"
MISS: Final = "miss"
ERROR: Final = "error"

_OPERATIONS = Counter(
    WATCHKIT_CACHE_OPERATIONS, WATCHKIT_CACHE_OPERATIONS_UNIT, "Cache operations, by result."
)
_DURATION = Histogram(
    WATCHKIT_CACHE_OPERATION_DURATION, UNIT_SECONDS, "Duration of cache operations.",
    CACHE_DURATION_BUCKETS,
)  # fmt: skip
_series: dict[tuple[str, str, str | None], tuple[dict[str, str], Any]] = {}


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"cache name must be a non-empty string, got {name!r}")
    return name


def record_operation(name: str, operation: str, result: str | None, duration: float) -> None:
    """Record one operation of cache ``name`` (the one record path of every cache hook)."""
    try:
        key = (name, operation, result)
        series = _series.get(key)
        if series is None:
            attributes = {CACHE_NAME: name, CACHE_OPERATION: operation}
            if result is not None:
                attributes[CACHE_RESULT] = result
            series = (attributes, attributes_key(attributes))
            if len(_series) < 4096:  # the cardinality guard bounds the metric anyway
                _series[key] = series
        record(_OPERATIONS, 1, series[0], series[1])
        record(_DURATION, duration, series[0], series[1])
    except Exception:
        report("cache operation record")


class Lookup(SyncScope["Lookup"]):
    """One lookup in a cache; see :func:`lookup`."""

    __module__ = "watchkit.cache"
    __slots__ = ("_result", "_start", "name", "operation")

    def __init__(self, name: str, operation: str = "get") -> None:
        self.name = _check_name(name)
        self.operation = operation
        self._result: str | None = None
        self._start = 0.0

    def hit(self) -> None:
        """The value was in the cache (a cached ``None`` too)."""
        self._result = HIT

    def miss(self) -> None:
        """The value was not in the cache."""
        self._result = MISS

    def __enter__(self) -> Lookup:
        self._result = None
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        duration = time.perf_counter() - self._start
        result = ERROR if error is not None else (self._result or MISS)
        record_operation(self.name, self.operation, result, duration)


def lookup(name: str, operation: str = "get") -> Lookup:
    """A lookup in the cache ``name``: call ``hit()`` or ``miss()`` inside (default: miss).

    An exception leaving the block counts as ``error`` and is re-raised.

    Example:
        >>> import watchkit.cache
        >>> prices = {}
        >>> with watchkit.cache.lookup("pricing") as c:
        ...     if "sku-1" in prices:
        ...         c.hit()
        ...     else:
        ...         c.miss()
    """
    return Lookup(name, operation)


def memoize(
    name: str, *, maxsize: int = 1024, ttl: float | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Memoise a function in an in-process LRU cache recorded as cache ``name``.

    A returned ``None`` is cached (and its next lookup is a hit); arguments must
    be hashable. The lock is held only for the dictionary access, never while
    the function runs, so two callers may compute the same missing value.

    Raises:
        ValueError: ``name``, ``maxsize`` or ``ttl`` is invalid.

    Example:
        >>> import watchkit.cache
        >>> @watchkit.cache.memoize("zones", maxsize=256, ttl=60)
        ... def delivery_zone(postcode: str) -> str:
        ...     return postcode[:2]
        >>> delivery_zone("75011")
        '75'
    """
    _check_name(name)
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
        raise ValueError(f"maxsize must be an int >= 1, got {maxsize!r}")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0):
        raise ValueError(f"ttl must be a number of seconds > 0 or None, got {ttl!r}")

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        store: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        lock = threading.Lock()

        @functools.wraps(fn)
        def cached(*args: P.args, **kwargs: P.kwargs) -> R:
            key: Hashable = (args, tuple(sorted(kwargs.items()))) if kwargs else args
            start = time.perf_counter()
            now = time.monotonic()
            with lock:
                # Entries are (time, value) tuples, so a cached None is found too.
                found = store.get(key)
                if found is not None:
                    if ttl is None or now - found[0] < ttl:
                        store.move_to_end(key)
                    else:
                        del store[key]
                        found = None
            if found is not None:
                record_operation(name, "get", HIT, time.perf_counter() - start)
                return found[1]  # type: ignore[no-any-return]
            record_operation(name, "get", MISS, time.perf_counter() - start)
            value = fn(*args, **kwargs)
            with lock:
                store[key] = (time.monotonic(), value)
                store.move_to_end(key)
                while len(store) > maxsize:
                    store.popitem(last=False)
            return value

        return cached

    return decorate
