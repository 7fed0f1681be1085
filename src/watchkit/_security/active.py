"""Distinct users per period: buckets, the in-process exact store, and the one gauge.

``watchkit.users.active`` {``period``, ``feature``} is one observable gauge for
every :class:`watchkit.security.ActiveUsers`; each reports its current buckets'
counts when the SDK collects (see ``watchkit.security`` for who reports).
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from watchkit._internal import fork, semconv
from watchkit._internal.guard import internal_logger
from watchkit._metrics import Attributes, ObservableGauge

__all__ = ["PERIODS", "MemoryDistinct", "bucket", "register"]

PERIODS: Final = {"hour": 3600, "day": 86_400, "week": 7 * 86_400}
"""The periods a distinct count can be kept for, and their length in seconds."""


def bucket(period: str, now: float) -> tuple[str, int]:
    """The UTC bucket ``now`` falls in (``day:2026-12-07``) and when its key may expire.

    A key outlives its bucket by one period, so the finished bucket can still be read.
    """
    length = PERIODS[period]
    if period == "week":  # ISO weeks start on Monday
        day_start = int(now) - int(now) % 86_400
        start = day_start - time.gmtime(day_start).tm_wday * 86_400
        name = time.strftime("%G-W%V", time.gmtime(start))
    else:
        start = int(now) - int(now) % length
        name = time.strftime("%Y-%m-%dT%H" if period == "hour" else "%Y-%m-%d", time.gmtime(start))
    return f"{period}:{name}", start + 2 * length


def short_hash(text: str, key: bytes) -> int:
    """A keyed 64-bit hash of a user id: what the in-process store keeps."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), key=key, digest_size=8)
    return int.from_bytes(digest.digest(), "big")


class MemoryDistinct:
    """Exact distinct counts of one process, at most ``cap`` ids per bucket.

    Past the cap a bucket stops growing (its count is then a lower bound) and
    one warning says so. Only the current bucket of each period is kept.
    """

    def __init__(self, what: str, cap: int) -> None:
        self.what = what
        self.cap = cap
        self.lock = threading.Lock()
        self.sets: dict[str, tuple[str, set[int]]] = {}  # period -> (bucket, ids)
        self.warned = False
        _stores.add(self)

    def add(self, element: int, buckets: Sequence[tuple[str, str]]) -> None:
        """Add ``element`` to each ``(period, bucket)``."""
        full = False
        with self.lock:
            for period, name in buckets:
                current = self.sets.get(period)
                if current is None or current[0] != name:
                    current = self.sets[period] = (name, set())
                ids = current[1]
                if len(ids) < self.cap:
                    ids.add(element)
                elif element not in ids:
                    full = True
        if full and not self.warned:
            self.warned = True
            internal_logger.warning(
                "watchkit: %s counts distinct users in memory and reached its cap of %d per "
                "period; its count stops growing (a lower bound) until the period ends. "
                "Use a Redis store, or raise max_users.",
                self.what,
                self.cap,
            )

    def count(self, period: str, name: str) -> int:
        """Distinct ids of ``period`` in bucket ``name`` (0 once the bucket is over)."""
        with self.lock:
            current = self.sets.get(period)
            return len(current[1]) if current is not None and current[0] == name else 0


_stores: weakref.WeakSet[MemoryDistinct] = weakref.WeakSet()


Observe = Callable[[], Iterable[tuple[float, Attributes]]]
_sources: list[Observe] = []
_gauge: list[ObservableGauge] = []
_lock = threading.Lock()


def _fresh_locks() -> None:
    global _lock
    _lock = threading.Lock()
    for store in list(_stores):
        store.lock = threading.Lock()


fork.at_fork(fork.LOCKS, "security.active_users.locks", _fresh_locks)


def _observe() -> list[tuple[float, Attributes]]:
    readings: list[tuple[float, Attributes]] = []
    for source in list(_sources):
        readings.extend(source())
    return readings


def register(source: Observe) -> None:
    """Report what ``source()`` returns in ``watchkit.users.active`` at each collection."""
    with _lock:
        _sources.append(source)
        if not _gauge:
            gauge = ObservableGauge(
                semconv.USERS_ACTIVE,
                semconv.USERS_ACTIVE_UNIT,
                "Distinct users seen in the current period (hour, day, week), by feature.",
                _observe,
                scope="watchkit.security",
            )
            gauge._activate()
            _gauge.append(gauge)
