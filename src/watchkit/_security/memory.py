"""The in-process login store: one process's sliding windows and known devices, bounded.

Only for one process: behind several workers or hosts each counts alone (see
:func:`watchkit._security.store.track_memory_store`).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence

from watchkit._internal import fork

__all__ = ["MemoryLoginStore"]

_FIELDS_PER_USER = 64
"""Networks and user agents remembered per user (the most recent ones)."""


class _Failures:
    """Failure times of one key (at most limit + 1) and when it may alert again."""

    __slots__ = ("quiet_until", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.quiet_until = float("-inf")


class MemoryLoginStore:
    """Sliding windows per source IP and per user, and the devices seen per user.

    At most ``max_keys`` IPs, ``max_keys`` users and ``max_keys`` users'
    devices are kept, least recently seen first out; keys idle for a whole
    window are dropped as new ones arrive.
    """

    shared = False

    def __init__(
        self, window: float, limit: int, max_keys: int, clock: Callable[[], float]
    ) -> None:
        self.window = window
        self.limit = limit
        self.max_keys = max_keys
        self.clock = clock
        self.lock = threading.Lock()
        self.tables: dict[str, OrderedDict[str, _Failures]] = {
            "source_ip": OrderedDict(),
            "user": OrderedDict(),
        }
        self.devices: OrderedDict[str, dict[str, float]] = OrderedDict()
        _stores.add(self)

    def __len__(self) -> int:
        return sum(len(table) for table in self.tables.values())

    def fail(self, keys: Sequence[tuple[str, str]]) -> list[tuple[int, bool]]:
        """Add one failure to each ``(kind, key)``; each key's count and whether it alerts."""
        now = self.clock()
        with self.lock:
            return [self._fail(self.tables[kind], key, now) for kind, key in keys]

    def clear(self, kind: str, key: str) -> None:
        """Forget ``key``'s failures (a successful login)."""
        with self.lock:
            self.tables[kind].pop(key, None)

    def counts(self, keys: Sequence[tuple[str, str]]) -> list[int]:
        """Failures of each ``(kind, key)`` within the window, without recording one."""
        horizon = self.clock() - self.window
        with self.lock:
            found = [self.tables[kind].get(key) for kind, key in keys]
            return [0 if f is None else sum(t > horizon for t in f.times) for f in found]

    def seen(self, user: str, fields: Sequence[str], period: float) -> tuple[list[bool], bool]:
        """Remember ``fields`` for ``user``.

        Returns which fields were new (unseen within ``period``) and whether the
        user had any field seen within it.
        """
        now = self.clock()
        with self.lock:
            known = self.devices.get(user)
            if known is None:
                known = self.devices[user] = {}
                while len(self.devices) > self.max_keys:
                    self.devices.popitem(last=False)
            else:
                self.devices.move_to_end(user)
            was_known = any(now - last <= period for last in known.values())
            new = []
            for field in fields:
                last = known.pop(field, None)  # re-inserted last: dicts keep insertion order
                new.append(last is None or now - last > period)
                known[field] = now
            while len(known) > _FIELDS_PER_USER:
                del known[next(iter(known))]
            return new, was_known

    def _fail(self, table: OrderedDict[str, _Failures], key: str, now: float) -> tuple[int, bool]:
        entry = table.get(key)
        if entry is None:
            entry = table[key] = _Failures()
            self._evict(table, now)
        else:
            table.move_to_end(key)
        horizon = now - self.window
        times = entry.times
        while times and times[0] <= horizon:
            del times[0]
        times.append(now)
        if len(times) > self.limit + 1:
            del times[0]
        if len(times) > self.limit and now >= entry.quiet_until:
            entry.quiet_until = now + self.window
            return len(times), True
        return len(times), False

    def _evict(self, table: OrderedDict[str, _Failures], now: float) -> None:
        while len(table) > self.max_keys:
            table.popitem(last=False)
        # Also drop a couple of idle keys from the old end, so a quiet monitor shrinks.
        horizon = now - self.window
        for _ in range(2):
            if len(table) <= 1:
                return
            key, oldest = next(iter(table.items()))
            last = oldest.times[-1] if oldest.times else float("-inf")
            if last > horizon or now < oldest.quiet_until:
                return
            del table[key]


_stores: weakref.WeakSet[MemoryLoginStore] = weakref.WeakSet()


def _fresh_locks() -> None:
    # A thread of the parent may have held a store's lock at the fork.
    for store in list(_stores):
        store.lock = threading.Lock()


fork.at_fork(fork.LOCKS, "security.memory_store.locks", _fresh_locks)
