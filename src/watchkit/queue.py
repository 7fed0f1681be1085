"""Queues and background jobs: one trace from producer to consumer, and queue metrics.

::

    import watchkit.queue

    headers = {}
    with watchkit.queue.send("notifications", headers, system="redis"):
        redis.lpush("notifications", json.dumps({"headers": headers, "body": body}))

    message = json.loads(redis.brpop("notifications")[1])
    with watchkit.queue.process("notifications", message["headers"], system="redis"):
        deliver(message["body"])

    watchkit.queue.redis_depth("redis://localhost:6379/0", ["notifications"])

See :mod:`watchkit._queue` for the spans and series recorded, and
:func:`watchkit.integrations.celery.instrument` for Celery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from watchkit._queue import (
    Collect,
    Depth,
    ProcessScope,
    SendScope,
    consumer,
    current,
    depth,
    enqueued_at,
    extract,
    inject,
    process,
    producer,
    send,
)

__all__ = [
    "Depth",
    "ProcessScope",
    "SendScope",
    "consumer",
    "current",
    "depth",
    "enqueued_at",
    "extract",
    "inject",
    "process",
    "producer",
    "redis_depth",
    "redis_lease",
    "send",
]


def redis_depth(
    redis: Any,
    queues: Sequence[str],
    *,
    system: str = "redis",
    priority_steps: Sequence[int] = (0, 3, 6, 9),
    separator: str = "\x06\x16",
    prefix: str = "",
    collect: Collect | str = "lease",
    lease_ttl: float = 90.0,
) -> Depth:
    """Report the depth of queues kept in Redis lists (``LLEN``), priority lists included.

    Each queue's depth is the sum of ``LLEN <prefix><queue>`` and, for every
    non-zero step of ``priority_steps``, ``LLEN <prefix><queue><separator><step>``:
    the lists Celery's Redis transport uses for priorities (its defaults are
    the defaults here; ``prefix`` is its ``global_keyprefix``).

    Args:
        redis: a ``redis://`` URL (a client with 2 s timeouts is made) or a
            synchronous ``redis.Redis`` (give it a ``socket_timeout``: it is
            read at each metric collection).
        queues: the queue names.
        system: ``messaging.system`` of the series (``celery`` for Celery's queues).
        collect: ``"lease"`` (default): one process among all that call this
            reports, elected through a key in the same Redis that its holder
            renews at each collection and that expires after ``lease_ttl``
            seconds (keep it above the metric export interval); ``True``: this
            process reports; ``False``: it does not; or a function returning
            whether to report now.

    Raises:
        ValueError: no queue names, bad ``priority_steps`` or ``collect``, or
            ``redis`` is neither a URL nor a synchronous client.
        ImportError: redis-py is not installed (``pip install redis``).
    """
    from watchkit.integrations._redis_queue import list_depth

    return list_depth(
        redis,
        queues,
        system=system,
        priority_steps=priority_steps,
        separator=separator,
        prefix=prefix,
        collect=collect,
        lease_ttl=lease_ttl,
    )


def redis_lease(redis: Any, name: str, *, ttl: float = 90.0) -> Any:
    """A lease in Redis for ``depth(..., collect=lease)``: True in one process at a time.

    Every process that asks with the same ``name`` competes; the holder renews
    it at each collection, and another takes over within ``ttl`` seconds after
    the holder stops.

    Raises:
        ValueError: an empty ``name`` or a bad ``ttl`` or ``redis``.
    """
    from watchkit.integrations._redis_queue import Lease, client_for

    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    return Lease(client_for(redis), name, ttl)
