"""Queues kept in Redis lists: their depth, and a lease that elects one reporting process.

Depth: ``LLEN`` of each queue's list, plus the lists Celery's Redis transport
keeps for message priorities (``<queue><sep><step>``, by default
``celery\\x06\\x163``, ``\\x06\\x166``, ``\\x06\\x169``: the un-suffixed list is
priority 0). Only counting the un-suffixed list is the classic way to miss a
backlog (danihodovic/celery-exporter#272). A missing key is an empty queue
(Redis deletes empty lists). The lengths of one collection are read in one
pipeline round trip.

Lease: a :class:`~watchkit._internal.locks.RedisLock` on a key in the same
Redis, taken or renewed at each collection in one round trip, so one process
among every worker and host reports, and another takes over within ``ttl``
when it exits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import redis

from watchkit._internal import locks, semconv
from watchkit._internal.locks import RedisLock
from watchkit._queue import Collect, Depth, add_depth_source

__all__ = ["DEFAULT_PRIORITY_STEPS", "DEFAULT_SEPARATOR", "Lease", "client_for", "list_depth"]

DEFAULT_PRIORITY_STEPS: Final = (0, 3, 6, 9)
"""kombu's Redis transport default ``priority_steps``."""
DEFAULT_SEPARATOR: Final = "\x06\x16"
"""kombu's Redis transport default ``sep`` between queue name and priority."""
_TIMEOUT: Final = 2.0


def client_for(target: Any) -> Any:
    """A ``redis.Redis`` for a URL (with 2 s timeouts, so a hung Redis cannot stall
    metric export), or the client given."""
    if isinstance(target, str):
        return redis.Redis.from_url(
            target, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT
        )
    if isinstance(target, redis.asyncio.Redis) or not hasattr(target, "pipeline"):
        raise ValueError(
            "a queue depth needs a redis:// URL or a synchronous redis.Redis client "
            f"(it is read at metric collection), got {target!r}"
        )
    return target


class Lease(RedisLock):
    """Whether this process is the one that reports (call it: True or False).

    A :class:`~watchkit._internal.locks.RedisLock` on ``watchkit:lease:<name>``:
    each call takes the lease if it is free or renews it if it is ours, in one
    round trip. A forked child never believes it holds its parent's lease.
    """

    def __init__(self, client: Any, name: str, ttl: float) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
            raise ValueError(f"ttl must be a number of seconds > 0, got {ttl!r}")
        super().__init__(client, f"watchkit:lease:{name}", ttl)

    def __call__(self) -> bool:
        return self.acquire()

    def release(self) -> None:
        """Give the lease up now (a process about to exit), so another takes over at once."""
        with contextlib.suppress(redis.RedisError):  # else it expires on its own
            super().release()


def release_leases() -> None:
    """Release every queue lease this process holds (before it exits)."""
    for lock in locks.registered():
        if isinstance(lock, Lease):
            lock.release()


def _keys(queue: str, prefix: str, separator: str, priority_steps: Sequence[int]) -> list[str]:
    keys = [f"{prefix}{queue}"]
    keys.extend(f"{prefix}{queue}{separator}{step}" for step in priority_steps if step)
    return keys


class _ListLengths:
    """Reads the lengths of several queues (and their priority lists) in one round trip."""

    def __init__(
        self,
        client: Any,
        queues: Sequence[str],
        prefix: str,
        separator: str,
        priority_steps: Sequence[int],
        attributes: Mapping[str, Any],
    ) -> None:
        self.client = client
        self.plan = [(queue, _keys(queue, prefix, separator, priority_steps)) for queue in queues]
        self.attributes = [
            {**attributes, semconv.MESSAGING_DESTINATION_NAME: queue} for queue in queues
        ]

    def __call__(self) -> Iterable[tuple[float, Mapping[str, Any]]]:
        pipe = self.client.pipeline(transaction=False)
        for _, keys in self.plan:
            for key in keys:
                pipe.llen(key)
        lengths = iter(pipe.execute())
        readings = []
        for (_, keys), attributes in zip(self.plan, self.attributes, strict=True):
            total = sum(int(next(lengths) or 0) for _ in keys)
            readings.append((float(total), attributes))
        return readings


def list_depth(
    target: Any,
    queues: Sequence[str],
    *,
    system: str = semconv.MESSAGING_SYSTEM_REDIS,
    priority_steps: Sequence[int] = DEFAULT_PRIORITY_STEPS,
    separator: str = DEFAULT_SEPARATOR,
    prefix: str = "",
    collect: Collect | str = "lease",
    lease_ttl: float = 90.0,
) -> Depth:
    """Report ``watchkit.queue.depth`` for Redis lists ``queues`` (with priority lists)."""
    if isinstance(queues, str) or not queues or not all(isinstance(q, str) and q for q in queues):
        raise ValueError(f"queues must be a non-empty list of queue names, got {queues!r}")
    steps = tuple(priority_steps)
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in steps):
        raise ValueError(f"priority_steps must be integers >= 0, got {priority_steps!r}")
    client = client_for(target)
    policy: Collect
    if collect == "lease":
        policy = Lease(client, f"queue.depth:{system}:{','.join(sorted(queues))}", lease_ttl)
    elif isinstance(collect, bool) or callable(collect):
        policy = collect
    else:
        raise ValueError(f"collect must be 'lease', True, False or a function, got {collect!r}")
    reader = _ListLengths(
        client, list(queues), prefix, separator, steps, {semconv.MESSAGING_SYSTEM: system}
    )
    source = Depth(",".join(queues), reader, {}, policy)
    return add_depth_source(source)
