"""Locks that elect the one process (on a host, or across hosts) doing a job once per deployment.

Two kinds, one interface (``acquire``/``renew``/``release``, ``lease``):

* :class:`FileLock`: an exclusive ``flock`` on a file. One host; the kernel
  releases it when the holder exits, even on SIGKILL, so it needs no lease.
* :class:`RedisLock`: a key set with ``SET key token NX PX lease`` on a Redis
  every host reaches. The holder renews it (a Lua compare-and-``PEXPIRE``) and
  releases it (a Lua compare-and-``DEL``) only while the key still holds its
  own random token, so a process whose lease expired can never extend or
  delete its successor's. A holder that dies stops renewing, and the key
  expires after ``lease`` seconds.

redis-py is not imported here: :class:`RedisLock` takes the application's
client (anything with redis-py's ``set`` and ``eval``).
"""

from __future__ import annotations

import contextlib
import fcntl
import inspect
import os
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["FileLock", "RedisLock", "default_lock_path"]

# KEYS[1] the lock key, ARGV[1] the holder's token, ARGV[2] the lease in ms.
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


class FileLock:
    """A non-blocking exclusive ``flock`` held for the life of the process."""

    lease: float | None = None
    """No lease: the kernel releases the lock when the holder exits."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._fd is not None

    def describe(self) -> str:
        """Where the lock lives, for log lines."""
        return f"lock file {self.path}"

    def acquire(self) -> bool:
        """Take the lock if it is free; True if this process holds it."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def renew(self) -> bool:
        """Always kept while held (nothing expires)."""
        return self._fd is not None

    def forget(self) -> None:
        """Give the lock up locally (used when a lease lapses; a file lock has none)."""
        self.release()

    def release(self) -> None:
        """Release the lock."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's descriptor without releasing its lock."""
        # The child shares the parent's open file description (and so its
        # flock); closing the child's copy releases nothing, and the child must
        # acquire its own to become the runner.
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def default_lock_path(name: str) -> Path:
    """``<tmp>/watchkit-synthetic-<name>.lock`` (name sanitised for a file name)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "default"
    return Path(tempfile.gettempdir()) / f"watchkit-synthetic-{safe}.lock"


class RedisLock:
    """A lease on a Redis key, held by a random token and renewed by its holder.

    Args:
        client: a synchronous redis-py client (``redis.Redis``); give it a
            ``socket_timeout`` of a second or so, since every call is made
            from the scheduler's thread and a hung Redis would hold it.
        key: the Redis key.
        lease: seconds the key lives without renewal (the longest a dead
            holder keeps the others waiting).

    Raises:
        ValueError: ``client`` is not a synchronous redis client.
    """

    def __init__(self, client: Any, key: str, lease: float) -> None:
        for method in ("set", "eval"):
            function = getattr(client, method, None)
            if not callable(function):
                raise ValueError(
                    f"lock={client!r} is invalid: use a redis.Redis client (for a lock across "
                    "hosts), a lock file path, or None (the default lock file)"
                )
            # redis.asyncio's commands are plain functions returning awaitables.
            if inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
                getattr(client, "execute_command", None)
            ):
                raise ValueError(
                    f"lock={client!r} is invalid: use a synchronous redis.Redis client; the "
                    "scheduler calls it from its own thread (redis.asyncio clients are refused)"
                )
        self.client = client
        self.key = key
        self.lease: float | None = lease
        self._lease_ms = max(1, round(lease * 1000))
        self._token: str | None = None
        self.valid_until = float("-inf")
        """``time.monotonic()`` until which the lease is certainly ours."""

    @property
    def held(self) -> bool:
        """Whether this process believes it holds the lease."""
        return self._token is not None

    def describe(self) -> str:
        """Where the lock lives, for log lines (no password)."""
        kwargs: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            kwargs = self.client.connection_pool.connection_kwargs
        host, port = kwargs.get("host"), kwargs.get("port")
        where = f" at {host}:{port}" if host and port else ""
        return f"Redis lock {self.key!r}{where}"

    def acquire(self) -> bool:
        """``SET key token NX PX lease``: True if this process holds the lease (new or renewed)."""
        if self._token is not None:
            return self.renew()
        token = secrets.token_hex(16)
        sent = time.monotonic()
        if self.client.set(self.key, token, nx=True, px=self._lease_ms):
            self._token, self.valid_until = token, sent + self._lease_ms / 1000.0
            return True
        return False

    def renew(self) -> bool:
        """Extend the lease if the key still holds our token; False (and forget it) if not."""
        token = self._token
        if token is None:
            return False
        sent = time.monotonic()
        if self.client.eval(_RENEW, 1, self.key, token, self._lease_ms):
            self.valid_until = sent + self._lease_ms / 1000.0
            return True
        self._token = None
        return False

    def forget(self) -> None:
        """Stop believing we hold the lease (it lapsed unrenewed); the key expires by itself."""
        self._token = None

    def release(self) -> None:
        """Delete the key if it still holds our token."""
        token, self._token = self._token, None
        if token is not None:
            self.client.eval(_RELEASE, 1, self.key, token)

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's token is the parent's, never the child's."""
        self._token = None
