"""The one election mechanism (``_internal/locks.py``): lock files and Redis leases.

Real ``flock`` on a temporary file, a real private redis-server on loopback,
real ``fork()`` children. What the synthetic scheduler, the Redis INFO stats,
``watchkit.queue.redis_lease`` and the active-user reporter rely on is tested
here once.
"""

# ruff: noqa: F811 - pytest fixtures imported by name
from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_py

from tests.support.redis_server import RedisServer, redis_server  # noqa: F401
from watchkit._internal import fork, locks
from watchkit._internal.locks import FileLock, RedisLock, default_lock_path, lease_script

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")


def _in_child(check: object) -> bytes:
    """Run ``check()`` (returning bytes) in a forked child; what it returned."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, check())  # type: ignore[operator]
        except BaseException as error:
            os.write(write, f"error: {error!r}".encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 4096):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return b"".join(chunks)


# Lock files ----------------------------------------------------------------------


def test_file_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    """One holder at a time; release hands it over; the holder's pid is in the file."""
    path = tmp_path / "job.lock"
    first, second = FileLock(path), FileLock(path)
    assert first.lease is None and not first.held
    assert first.acquire() and first.held
    assert first.acquire()  # already held: still True
    assert first.renew()
    assert not second.acquire() and not second.held
    assert path.read_text() == str(os.getpid())
    first.release()
    assert not first.held and not first.renew()
    assert second.acquire()
    second.forget()  # a file lock has no lease: forgetting it releases it
    assert first.acquire()
    first.release()
    assert first.describe() == f"lock file {path}"


def test_file_lock_in_an_unwritable_place_raises_for_the_caller(tmp_path: Path) -> None:
    """acquire() raises OSError (the scheduler reports "cannot be reached"), holding nothing."""
    lock = FileLock(tmp_path / "missing-dir" / "job.lock")
    with pytest.raises(OSError):
        lock.acquire()
    assert not lock.held


def test_default_lock_path_is_sanitised() -> None:
    """A name with slashes or spaces cannot escape the temporary directory."""
    path = default_lock_path("../a b/c")
    assert path.name == "watchkit-synthetic-.._a_b_c.lock"
    assert default_lock_path("").name == "watchkit-synthetic-default.lock"


@needs_fork
def test_a_forked_child_does_not_inherit_a_held_file_lock(tmp_path: Path) -> None:
    """The child does not hold its parent's lock, cannot take it, and its exit releases nothing."""
    path = tmp_path / "job.lock"
    lock = FileLock(path)
    assert lock.acquire()

    def child() -> bytes:
        return b"%d%d" % (lock.held, lock.acquire())

    assert _in_child(child) == b"00"
    assert lock.held
    assert not FileLock(path).acquire()  # still the parent's after the child exited
    lock.release()


@needs_fork
def test_the_kernel_releases_a_file_lock_when_its_holder_dies(tmp_path: Path) -> None:
    """A child that takes the lock and exits without releasing it leaves it free."""
    path = tmp_path / "job.lock"

    def child() -> bytes:
        return b"1" if FileLock(path).acquire() else b"0"  # never released

    assert _in_child(child) == b"1"
    lock = FileLock(path)
    assert lock.acquire()
    lock.release()


# Redis leases --------------------------------------------------------------------


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis_py.Redis]:
    connection = redis_py.Redis(port=redis_server.port, socket_timeout=5)
    yield connection
    connection.close()


def _key(name: str) -> str:
    return f"watchkit:test-locks:{name}:{time.monotonic_ns()}"


def test_redis_lease_elects_one_holder_and_release_hands_over(client: redis_py.Redis) -> None:
    """One holder; renewing keeps it; release lets another take it at once."""
    key = _key("elect")
    first, second = RedisLock(client, key, 30), RedisLock(client, key, 30)
    assert first.token != second.token
    assert first.token.split(":")[1] == str(os.getpid())  # who holds it is readable
    before = time.monotonic()
    assert first.acquire() and first.held
    assert before + 29 < first.valid_until <= time.monotonic() + 30
    assert client.get(key) == first.token.encode()
    assert 29_000 < client.pttl(key) <= 30_000
    assert not second.acquire() and not second.held
    assert not second.renew()
    assert first.acquire()  # renewal by acquire
    assert first.renew()
    first.release()
    assert not first.held and client.get(key) is None
    assert second.acquire()
    assert (
        "Redis lock" in second.describe()
        and str(client.connection_pool.connection_kwargs["port"]) in second.describe()
    )
    second.release()


def test_a_lapsed_holder_can_neither_renew_nor_delete_its_successors_lease(
    client: redis_py.Redis,
) -> None:
    """After expiry another process takes over; the old holder's renew and release do nothing."""
    key = _key("lapse")
    old, new = RedisLock(client, key, 0.2), RedisLock(client, key, 30)
    assert old.acquire()
    time.sleep(0.3)
    assert client.get(key) is None  # expired on its own: a dead holder stops nobody
    assert new.acquire()
    assert not old.renew() and not old.held
    old.release()
    assert client.get(key) == new.token.encode()
    assert not old.acquire()
    new.release()


def test_acquire_takes_a_free_key_back_in_one_call(client: redis_py.Redis) -> None:
    """A holder whose key expired with nobody else waiting takes it again at once."""
    key = _key("retake")
    lock = RedisLock(client, key, 0.2)
    assert lock.acquire()
    time.sleep(0.3)
    assert lock.acquire() and client.get(key) == lock.token.encode()
    lock.forget()
    assert not lock.held and not lock.renew()  # forgotten: renew does not touch the key
    assert client.get(key) == lock.token.encode()
    lock.release()
    assert client.get(key) is None


def test_lease_script_runs_its_body_only_for_the_holder(client: redis_py.Redis) -> None:
    """The body reads only while this process holds the lease, in the same script."""
    key = _key("script")
    counter = _key("hll")
    client.pfadd(counter, "a", "b", "c")
    script = client.register_script(
        lease_script("out[#out + 1] = redis.call('PFCOUNT', KEYS[2])\nout[#out + 1] = ARGV[3]")
    )
    holder, other = RedisLock(client, key, 30), RedisLock(client, key, 30)
    assert holder.acquire_with(script, [counter], ["x"]) == [3, b"x"]
    assert holder.held
    assert other.acquire_with(script, [counter], ["x"]) is None
    assert not other.held
    holder.release()
    assert other.acquire_with(script, [counter], ["y"]) == [3, b"y"]
    other.release()
    client.delete(counter)


@needs_fork
def test_a_forked_child_does_not_inherit_a_held_redis_lease(client: redis_py.Redis) -> None:
    """The child has a new token, does not hold the lease, and cannot take it from its parent."""
    key = _key("fork")
    lock = RedisLock(client, key, 30)
    assert lock.acquire()
    parent_token = lock.token

    def child() -> bytes:
        connection = redis_py.Redis(port=client.connection_pool.connection_kwargs["port"])
        lock.client = connection  # never share a socket across fork()
        result = b"%d%d%d%d" % (
            lock.held,
            lock.token != parent_token,
            str(os.getpid()) in lock.token,
            lock.acquire(),
        )
        lock.release()  # not the child's: deletes nothing
        return result

    assert _in_child(child) == b"0110"
    assert lock.held and lock.token == parent_token
    assert client.get(key) == parent_token.encode()
    assert lock.renew()
    lock.release()


def test_one_fork_hook_for_every_lock_and_locks_are_held_weakly(tmp_path: Path) -> None:
    """The registry has one hook for every lock, in STATE; a dropped lock leaves the registry."""
    registered = {name: phase for phase, name in fork.hooks()}
    assert registered["locks.forget_parents_locks"] == fork.STATE
    assert not any("lease" in name or "stats_locks" in name for name in registered)
    lock = FileLock(tmp_path / "weak.lock")
    assert lock in locks.registered()
    count = len(locks.registered())
    del lock
    gc.collect()
    assert len(locks.registered()) == count - 1
