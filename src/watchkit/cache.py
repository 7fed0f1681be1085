"""Cache telemetry: ``watchkit.cache.operations`` and ``watchkit.cache.operation.duration``.

::

    import watchkit.cache

    with watchkit.cache.lookup("pricing") as c:
        ...
        c.hit()  # or c.miss()

    @watchkit.cache.memoize("zones", maxsize=256)
    def delivery_zone(postcode): ...

    client = watchkit.cache.instrument_redis(redis.Redis(), name="sessions")

See :mod:`watchkit._cache` for the series recorded.
"""

from __future__ import annotations

from typing import Any, TypeVar

from watchkit._cache import Lookup, lookup, memoize

__all__ = ["Lookup", "instrument_redis", "lookup", "memoize", "redis_server_stats"]

_C = TypeVar("_C")


def instrument_redis(client: _C, *, name: str) -> _C:
    """Record a redis-py client's (sync or asyncio) cache commands as cache ``name``.

    ``GET``-like replies of ``None`` are misses, others hits; ``MGET`` counts
    each key; ``SET``/``DEL``/``EXPIRE`` are recorded without a result. Keys are
    never recorded. Instrumenting twice is harmless.

    Raises:
        ValueError: ``name`` is empty.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    from watchkit.integrations.redis import instrument_client

    return instrument_client(client, name)  # type: ignore[no-any-return]


def redis_server_stats(client: Any) -> None:
    """Report the server's hits, misses and evictions (``INFO stats``) as observable counters.

    ``watchkit.cache.redis.keyspace_hits``, ``.keyspace_misses`` and
    ``.evicted_keys``, tagged ``cache.server`` (host:port). They count the whole
    server, so one process per host reports them: the one holding a lock file
    (``<tmp>/watchkit-redis-stats-<host>_<port>.lock``), tried at each
    collection; calling this in every worker is safe. Across hosts, call it on
    one host only.
    """
    from watchkit.integrations.redis import server_stats

    server_stats(client)
