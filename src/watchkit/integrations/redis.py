"""redis-py clients (``redis.Redis`` and ``redis.asyncio.Redis``) as watchkit caches.

Wraps one client's ``execute_command`` (an instance attribute: other clients
are untouched). Lookups (``GET``, ``GETEX``, ``GETDEL``, ``HGET``) count a
``None`` reply as a miss and anything else as a hit; ``MGET``/``HMGET`` count
each key. Writes and deletes are recorded without a result; other commands are
not cache operations and are not recorded. Keys are never recorded.

:func:`server_stats` reports the server's own ``INFO stats`` counters,
instance-wide (every client of a shared Redis adds to them), so they must be
collected by one process only: the process that holds an exclusive ``flock`` on
``<tmp>/watchkit-redis-stats-<host>_<port>.lock`` reads them, the others report
nothing for that server. The lock is tried at each collection, so when its
holder exits (the kernel releases it, even on SIGKILL) another process takes
over; a forked child never inherits it. Across hosts, call it on one host only.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import redis

from watchkit._cache import ERROR, HIT, MISS, record_operation
from watchkit._internal.locks import FileLock
from watchkit._internal.semconv import (
    CACHE_SERVER,
    WATCHKIT_CACHE_REDIS_EVICTED_KEYS,
    WATCHKIT_CACHE_REDIS_KEYSPACE_HITS,
    WATCHKIT_CACHE_REDIS_KEYSPACE_MISSES,
)
from watchkit._metrics import ObservableCounter

__all__ = ["instrument_client", "lock_path", "server_stats"]

_LOOKUPS: Final = frozenset({"GET", "GETEX", "GETDEL", "HGET"})
_MANY: Final = frozenset({"MGET", "HMGET"})
_KINDS: Final = {
    "SET": "set", "SETEX": "set", "PSETEX": "set", "SETNX": "set", "MSET": "set",
    "HSET": "set", "DEL": "delete", "UNLINK": "delete", "HDEL": "delete",
    "EXPIRE": "expire", "PEXPIRE": "expire",
}  # fmt: skip
_MARK: Final = "_watchkit_cache"


def _classify(args: tuple[Any, ...]) -> str | None:
    if not args:
        return None
    command = args[0]
    if isinstance(command, bytes):
        command = command.decode("ascii", "replace")
    return str(command).upper()


def _record(name: str, command: str, reply: Any, error: BaseException | None, start: float) -> None:
    duration = time.perf_counter() - start
    if error is not None:
        operation = (
            "get" if command in _LOOKUPS else "get_many" if command in _MANY else _KINDS[command]
        )
        record_operation(name, operation, ERROR, duration)
    elif command in _LOOKUPS:
        record_operation(name, "get", MISS if reply is None else HIT, duration)
    elif command in _MANY:
        replies = reply if isinstance(reply, list) else []
        for value in replies:
            record_operation(
                name, "get_many", MISS if value is None else HIT, duration / len(replies)
            )
    else:
        record_operation(name, _KINDS[command], None, duration)


def _tracked(command: str | None) -> bool:
    return command is not None and (command in _LOOKUPS or command in _MANY or command in _KINDS)


def instrument_client(client: Any, name: str) -> Any:
    """Record ``client``'s cache commands as cache ``name`` (idempotent); return ``client``."""
    if getattr(client, _MARK, None) is not None:
        return client
    original = client.execute_command
    asynchronous = isinstance(client, redis.asyncio.Redis)

    if asynchronous:

        async def execute_async(*args: Any, **options: Any) -> Any:
            command = _classify(args)
            if not _tracked(command):
                return await original(*args, **options)
            start = time.perf_counter()
            try:
                reply = await original(*args, **options)
            except Exception as error:
                _record(name, command, None, error, start)  # type: ignore[arg-type]
                raise
            _record(name, command, reply, None, start)  # type: ignore[arg-type]
            return reply

        client.execute_command = execute_async
    else:

        def execute(*args: Any, **options: Any) -> Any:
            command = _classify(args)
            if not _tracked(command):
                return original(*args, **options)
            start = time.perf_counter()
            try:
                reply = original(*args, **options)
            except Exception as error:
                _record(name, command, None, error, start)  # type: ignore[arg-type]
                raise
            _record(name, command, reply, None, start)  # type: ignore[arg-type]
            return reply

        client.execute_command = execute
    setattr(client, _MARK, name)
    return client


def lock_path(server: str) -> Path:
    """The lock file that elects the one process reporting ``server``'s INFO stats."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", server)
    return Path(tempfile.gettempdir()) / f"watchkit-redis-stats-{safe}.lock"


class _Servers:
    def __init__(self) -> None:
        # client, attributes, the server's election lock
        self.clients: list[tuple[Any, dict[str, str], FileLock]] = []

    def add(self, client: Any, server: str) -> None:
        if any(attributes[CACHE_SERVER] == server for _, attributes, _ in self.clients):
            return  # one reader per server is enough
        self.clients.append((client, {CACHE_SERVER: server}, FileLock(lock_path(server))))

    def read(self, field: str) -> list[tuple[float, dict[str, str]]]:
        readings = []
        for client, attributes, lock in list(self.clients):
            try:
                if not lock.acquire():
                    continue  # another process on this host reports this server
                stats = client.info("stats")
            except (redis.RedisError, OSError):
                continue  # server unreachable (or no lock file): no value this collection
            if field in stats:
                readings.append((float(stats[field]), attributes))
        return readings


# A forked child forgets the parent's locks through locks.py's own fork hook.
_SERVERS = _Servers()


def _reader(field: str) -> Callable[[], list[tuple[float, dict[str, str]]]]:
    return lambda: _SERVERS.read(field)


_instruments: list[ObservableCounter] = []


def server_stats(client: Any) -> None:
    """Report ``client``'s server ``INFO stats`` (hits, misses, evictions) at each collection."""
    if isinstance(client, redis.asyncio.Redis):
        raise TypeError("server_stats needs a synchronous redis.Redis client (read at collection)")
    kwargs = client.connection_pool.connection_kwargs
    server = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    _SERVERS.add(client, server)
    if not _instruments:
        for metric, field, description in (
            (WATCHKIT_CACHE_REDIS_KEYSPACE_HITS, "keyspace_hits", "Redis key lookups that hit."),
            (
                WATCHKIT_CACHE_REDIS_KEYSPACE_MISSES,
                "keyspace_misses",
                "Redis key lookups that missed.",
            ),
            (WATCHKIT_CACHE_REDIS_EVICTED_KEYS, "evicted_keys", "Keys Redis evicted for memory."),
        ):
            instrument = ObservableCounter(metric, "{key}", description, _reader(field))
            instrument._activate()
            _instruments.append(instrument)
