"""The one mechanism that elects the one process (on a host, or across hosts) doing a job.

Every election in watchkit goes through this module: the synthetic scheduler
(a lock file or a Redis lease), the Redis ``INFO stats`` reader (a lock file
per server and host), queue depth reporting (``watchkit.queue.redis_lease``)
and the active-user counts' reporter (a Redis lease checked in the same
script as the counts). Two kinds, one interface (``acquire``/``renew``/
``release``/``forget``, ``held``, ``lease``, ``describe``):

* :class:`FileLock`: an exclusive ``flock`` on a file. One host; the kernel
  releases it when the holder exits, even on SIGKILL, so it needs no lease.
* :class:`RedisLock`: a lease on a Redis key every host reaches, held by a
  random token of this process. :meth:`RedisLock.acquire` is one Lua script:
  it renews the key (``PEXPIRE``) if it holds our token and takes it
  (``SET key token PX lease``) if it is free. :meth:`RedisLock.renew`
  (compare-and-``PEXPIRE``) and :meth:`RedisLock.release` (compare-and-``DEL``)
  act only while the key still holds our token, so a process whose lease
  lapsed can never extend or delete its successor's. A holder that dies stops
  renewing, and the key expires ``lease`` seconds after its last renewal.
  When something must be read only by the holder, atomically with the
  election, :func:`lease_script` builds one script that does both and
  :meth:`RedisLock.acquire_with` runs it.

After ``fork()`` a child never holds what its parent held (one hook, here,
through the fork registry): a :class:`FileLock` closes its inherited
descriptor without unlocking the parent's lock, a :class:`RedisLock` forgets
the lease and draws a new token. The child competes like any other process.

redis-py is not imported here: :class:`RedisLock` takes the application's
client (anything with redis-py's ``eval``); callers check it is synchronous.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import socket
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from watchkit._internal import fork

__all__ = ["FileLock", "RedisLock", "default_lock_path", "lease_script", "registered"]

# KEYS[1] the lease key, ARGV[1] the holder's token, ARGV[2] the lease in ms.
_TAKE_OR_RENEW: Final = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  return {0}
end
local out = {1}
"""
_RENEW: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def lease_script(body: str = "") -> str:
    """A Lua script that takes or renews a lease and, only while holding it, runs ``body``.

    The script takes the lease key as ``KEYS[1]``, the token as ``ARGV[1]``
    and the lease in milliseconds as ``ARGV[2]`` (:meth:`RedisLock.acquire_with`
    passes them first); ``body`` sees the rest of ``KEYS`` and ``ARGV`` and
    appends its results to the table ``out``. The script returns ``{0}`` when
    another process holds the lease, else ``{1, ...out}``.
    """
    return f"{_TAKE_OR_RENEW}{body}\nreturn out\n"


_ACQUIRE: Final = lease_script()

# Weakly: a lock nobody uses any more (a removed depth source's lease) goes away.
_LOCKS: weakref.WeakSet[FileLock | RedisLock] = weakref.WeakSet()


def registered() -> list[FileLock | RedisLock]:
    """Every lock of this process that is still in use."""
    return list(_LOCKS)


def _after_fork_in_child() -> None:
    for lock in list(_LOCKS):
        lock.forget_after_fork()


# STATE: the parent's hold is per-process state; services that compete for a
# lock (the synthetic scheduler) restart later, in SERVICES.
fork.at_fork(fork.STATE, "locks.forget_parents_locks", _after_fork_in_child)


class FileLock:
    """A non-blocking exclusive ``flock`` held for the life of the process."""

    lease: float | None = None
    """No lease: the kernel releases the lock when the holder exits."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        _LOCKS.add(self)

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
    """A lease on a Redis key, held by a random token of this process and renewed by its holder.

    Args:
        client: a synchronous redis-py client (``redis.Redis``) with a
            ``socket_timeout`` of a second or so: a hung Redis would hold the
            caller for as long.
        key: the Redis key.
        lease: seconds the key lives without renewal (the longest a dead
            holder keeps the others waiting).
    """

    def __init__(self, client: Any, key: str, lease: float) -> None:
        self.client = client
        self.key = key
        self.lease: float | None = lease
        self.lease_ms = max(1, round(lease * 1000))
        self.token = _new_token()
        self._held = False
        self.valid_until = float("-inf")
        """``time.monotonic()`` until which the lease is certainly ours."""
        _LOCKS.add(self)

    @property
    def held(self) -> bool:
        """Whether this process believes it holds the lease."""
        return self._held

    def describe(self) -> str:
        """Where the lock lives, for log lines (no password)."""
        kwargs: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            kwargs = self.client.connection_pool.connection_kwargs
        host, port = kwargs.get("host"), kwargs.get("port")
        where = f" at {host}:{port}" if host and port else ""
        return f"Redis lock {self.key!r}{where}"

    def acquire(self) -> bool:
        """Take the lease if it is free, renew it if it is ours: True if this process holds it."""
        return self.acquire_with(self._eval) is not None

    def acquire_with(
        self,
        script: Callable[[list[str], list[Any]], Any],
        keys: Sequence[str] = (),
        args: Sequence[Any] = (),
    ) -> list[Any] | None:
        """Run a :func:`lease_script`: its body's results if this process holds the lease, or None.

        Args:
            script: called as ``script(keys, args)`` (a redis-py registered
                script, which runs it with ``EVALSHA``); the lease's key,
                token and duration come first.
            keys: the body's keys (``KEYS[2]`` on).
            args: the body's arguments (``ARGV[3]`` on).
        """
        sent = time.monotonic()
        reply = script([self.key, *keys], [self.token, self.lease_ms, *args])
        self._held = bool(reply) and bool(int(reply[0]))
        if not self._held:
            return None
        self.valid_until = sent + self.lease_ms / 1000.0
        return list(reply[1:])

    def renew(self) -> bool:
        """Extend the lease if the key still holds our token; False (and forget it) if not."""
        if not self._held:
            return False
        sent = time.monotonic()
        if self.client.eval(_RENEW, 1, self.key, self.token, self.lease_ms):
            self.valid_until = sent + self.lease_ms / 1000.0
            return True
        self._held = False
        return False

    def forget(self) -> None:
        """Stop believing we hold the lease (it lapsed unrenewed); the key expires by itself."""
        self._held = False

    def release(self) -> None:
        """Delete the key if it still holds our token (another process takes over at once)."""
        self._held = False
        self.client.eval(_RELEASE, 1, self.key, self.token)

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's lease (and token) are the parent's, never the child's."""
        self._held = False
        self.token = _new_token()

    def _eval(self, keys: list[str], args: list[Any]) -> Any:
        return self.client.eval(_ACQUIRE, len(keys), *keys, *args)


def _new_token() -> str:
    # Who holds a lease is readable in the key (host and pid); the random part
    # tells apart two leases of one process and a pid reused later.
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
