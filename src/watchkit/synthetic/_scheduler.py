"""The in-process scheduler: runs journeys on their interval in ONE process of a deployment.

Pre-fork servers run N workers, deployments N replicas; N schedulers would
probe N times. The scheduler therefore runs journeys only in the process that
holds a lock; the others retry and take over when the holder is gone:

* by default an exclusive ``flock`` on a lock file (default
  ``<tmp>/watchkit-synthetic-<name>.lock``): one process per **host**; the
  kernel releases it when the holder exits, even on SIGKILL, and a waiting
  process takes over within ``takeover`` seconds;
* with ``lock=redis.Redis(...)`` a lease on the key
  ``watchkit:synthetic:<name>`` (a ``RedisLock`` of ``_internal/locks.py``,
  renewed every ``takeover / 3`` seconds): one process across **all hosts**
  that reach that Redis. A holder that dies stops renewing; the key expires
  ``takeover`` seconds after its last renewal, and a waiting process
  (retrying every ``takeover / 3`` s) takes over.

When the lock cannot be reached (Redis down, lock file not writable) journeys
are **skipped** in processes that do not hold it, with one warning a minute and
a line when it answers again: running without the lock would probe from every
process at once, multiplying synthetic load exactly while something is wrong,
and a gap in ``watchkit.synthetic.runs`` is what absent-data alerts catch. A
holder that can no longer renew keeps running until its lease (which nobody
else can take) runs out, then stops. No exception reaches the host.

Idle cost: one thread sleeping; it wakes when a run is due, and for a Redis
lock every ``takeover / 3`` seconds for one Redis command.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from watchkit._internal import fork
from watchkit._internal.errors import exception_type
from watchkit._internal.guard import report
from watchkit._internal.locks import FileLock, RedisLock, default_lock_path
from watchkit.synthetic._journey import JourneyDefinition, RunResult, journeys, run

__all__ = ["Scheduler", "start", "stop"]

_logger = logging.getLogger("watchkit.synthetic")
_REDIS_URL_PREFIXES = ("redis://", "rediss://", "unix://")

WARN_EVERY = 60.0
"""Seconds between two warnings that the lock cannot be reached."""


def _lock_for(lock: Any, lock_path: Any, name: str, takeover: float) -> FileLock | RedisLock:
    if lock is not None and lock_path is not None:
        raise ValueError(
            f"lock_path={lock_path!r} is invalid together with lock=: give one of them "
            "(lock= takes a path or a redis.Redis client)"
        )
    if lock is None:
        lock = lock_path
    if lock is None:
        return FileLock(default_lock_path(name))
    if isinstance(lock, str) and lock.startswith(_REDIS_URL_PREFIXES):
        raise ValueError(
            "lock is invalid: a Redis URL is not accepted, pass a client: "
            "lock=redis.Redis.from_url(url, socket_timeout=1)"
        )
    if isinstance(lock, (str, os.PathLike)):
        return FileLock(lock)
    _check_redis_client(lock)
    return RedisLock(lock, f"watchkit:synthetic:{name}", takeover)


def _check_redis_client(client: Any) -> None:
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


class Scheduler:
    """Runs journeys on their interval in a daemon thread, while it holds the lock.

    Args:
        selected: the journeys (default: every declared journey); each needs
            an ``interval``.
        base_url: the base of relative step URLs.
        lock: None (a lock file in the temporary directory: one process per
            host), a lock file path, or a synchronous ``redis.Redis`` client
            (one process across hosts; give it ``socket_timeout=1`` and
            ``retry=Retry(NoBackoff(), 0)``: the scheduler's thread makes the
            calls and retries them itself).
        lock_path: the lock file path (same as ``lock=`` with a path).
        name: tells independent schedulers apart (lock file name, Redis key).
        takeover: seconds: how often a waiting process retries a lock file;
            for a Redis lock, the lease (a dead holder's key expires this long
            after its last renewal), renewed and retried every third of it.

    Raises:
        ValueError: a journey has no interval, or an argument is invalid.
    """

    def __init__(
        self,
        selected: Iterable[JourneyDefinition] | None = None,
        *,
        base_url: str | None = None,
        lock: Any = None,
        lock_path: str | os.PathLike[str] | None = None,
        name: str = "default",
        takeover: float = 30.0,
    ) -> None:
        chosen = list(journeys().values()) if selected is None else list(selected)
        for definition in chosen:
            if definition.interval is None:
                raise ValueError(
                    f"journey {definition.name!r} has no interval: declare it with "
                    "@synthetic.journey(..., interval=seconds) to schedule it"
                )
        if (
            isinstance(takeover, bool)
            or not isinstance(takeover, (int, float))
            or not 0 < takeover < float("inf")
        ):
            raise ValueError(f"takeover={takeover!r} is invalid: use a positive number of seconds")
        if not isinstance(name, str) or not name:
            raise ValueError(f"name={name!r} is invalid: use a non-empty string")
        self.journeys = chosen
        self.base_url = base_url
        self.name = name
        self.takeover = float(takeover)
        self.lock = _lock_for(lock, lock_path, name, self.takeover)
        self.results: dict[str, RunResult] = {}
        self._retry = self.takeover if self.lock.lease is None else self.takeover / 3
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._active = False
        self._notify: Callable[[], None] | None = None
        self._warned_at = float("-inf")
        self._unreachable = False

    @property
    def running(self) -> bool:
        """Whether this process holds the lock and runs the journeys."""
        return self._active and self._thread is not None and self._thread.is_alive()

    def start(self) -> Scheduler:
        """Start the thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._main, name="watchkit-synthetic", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and release the lock."""
        self._stop.set()
        notify = self._notify
        if notify is not None:
            with contextlib.suppress(RuntimeError):  # its loop has just closed
                notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self.lock.lease is None:
            # A file lock cannot block; a Redis lease is released by the
            # scheduler's thread on its way out, so a hung Redis never holds
            # the caller beyond ``timeout`` (the key then expires by itself).
            self.lock.release()

    # The lock ------------------------------------------------------------------
    def _lock_unreachable(self, error: BaseException) -> None:
        now = time.monotonic()
        self._unreachable = True
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            _logger.warning(
                "watchkit: synthetic scheduler %r cannot reach its %s (%s); journeys are "
                "skipped in this process until it answers (without the lock every process "
                "would run them); next warning in %g s at the earliest",
                self.name,
                self.lock.describe(),
                exception_type(error),
                WARN_EVERY,
            )

    def _lock_reachable(self) -> None:
        if self._unreachable:
            self._unreachable = False
            _logger.info(
                "watchkit: synthetic scheduler %r reaches its %s again",
                self.name,
                self.lock.describe(),
            )

    def _acquire(self) -> bool:
        try:
            held = self.lock.acquire()
        except Exception as error:
            self._lock_unreachable(error)
            return False
        self._lock_reachable()
        return held

    # The thread ----------------------------------------------------------------
    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                if self._acquire():
                    self._active = True
                    try:
                        asyncio.run(self._hold())
                    except Exception:
                        report("synthetic scheduler")
                    finally:
                        self._active = False
                    if self._stop.is_set():
                        return
                self._stop.wait(self._retry)
        finally:
            if self.lock.held and self.lock.lease is not None:
                # Stopped while holding: hand over now rather than at expiry.
                try:
                    self.lock.release()
                except Exception as error:
                    self._lock_unreachable(error)

    async def _hold(self) -> None:
        """Run the journeys until stopped or the lock is lost."""
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()

        def notify() -> None:
            loop.call_soon_threadsafe(stopped.set)

        self._notify = notify
        if self._stop.is_set():
            return
        tasks = [asyncio.ensure_future(stopped.wait()), asyncio.ensure_future(self._loop())]
        if isinstance(self.lock, RedisLock):
            tasks.append(asyncio.ensure_future(self._keep_lease(self.lock)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._notify = None
            pending = set(tasks)
            while pending:
                # Repeated: before Python 3.12 asyncio.wait_for (in a journey run)
                # can swallow a cancellation that lands as its inner task ends.
                for task in pending:
                    task.cancel()
                _, pending = await asyncio.wait(pending, timeout=0.1)
        for task in tasks:  # a task that failed (a bug) goes to the guard in _main
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error

    async def _keep_lease(self, lock: RedisLock) -> None:
        """Renew the lease every third of it; return when it is lost or lapsed."""
        every = self.takeover / 3
        while True:
            remaining = lock.valid_until - time.monotonic()
            if remaining <= 0:
                lock.forget()
                _logger.warning(
                    "watchkit: synthetic scheduler %r stops running journeys: its %s "
                    "could not be renewed before it expired",
                    self.name,
                    lock.describe(),
                )
                return
            await asyncio.sleep(min(every, remaining))
            try:
                # Bounded by the lease: a Redis that hangs (a client without
                # socket_timeout) cannot keep this process running past it.
                budget = max(0.001, lock.valid_until - time.monotonic())
                kept = await asyncio.wait_for(_in_thread(lock.renew), budget)
            except Exception as error:  # asyncio.TimeoutError included
                self._lock_unreachable(error)
                continue
            self._lock_reachable()
            if not kept:
                _logger.warning(
                    "watchkit: synthetic scheduler %r stops running journeys: its %s "
                    "is no longer this process's (it expired, or another process holds it)",
                    self.name,
                    lock.describe(),
                )
                return

    async def _loop(self) -> None:
        due = dict.fromkeys((j.name for j in self.journeys), 0.0)
        while True:
            now = time.monotonic()
            for definition in self.journeys:
                if now >= due[definition.name]:
                    due[definition.name] = now + (definition.interval or 0.0)
                    try:
                        result = await run(definition, base_url=self.base_url)
                    except Exception:
                        report("synthetic scheduled run")
                        continue
                    self.results[definition.name] = result
                    if not result.ok:
                        _logger.warning("watchkit: synthetic journey %s", result)
            await asyncio.sleep(max(0.01, min(due.values(), default=60.0) - time.monotonic()))

    def _after_fork_in_child(self) -> None:
        # The lock already forgot the parent's hold (locks.py's fork hook runs first).
        self._stop = threading.Event()
        self._notify = None
        self._active = False
        if self._thread is not None:
            self._thread = None
            self.start()  # compete for the lock like any other worker


async def _in_thread(function: Callable[[], bool]) -> bool:
    """``function()`` in a daemon thread: unlike the loop's executor, a call that
    hangs is never waited for when the loop closes."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bool] = loop.create_future()

    def settle(result: bool | None, error: BaseException | None) -> None:
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(bool(result))

    def call() -> None:
        try:
            result, error = function(), None
        except Exception as failure:
            result, error = None, failure
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=call, name="watchkit-synthetic-lock", daemon=True).start()
    return await future


_SCHEDULERS: list[Scheduler] = []


def start(
    *,
    base_url: str | None = None,
    lock: Any = None,
    lock_path: str | os.PathLike[str] | None = None,
    name: str = "default",
    takeover: float = 30.0,
) -> Scheduler:
    """Run every declared journey with an ``interval`` in this process, if it wins the lock.

    Call it in every worker (or once before the fork): exactly one process runs
    the journeys (one per host with the default lock file, one across hosts
    with ``lock=redis.Redis(...)``); if it exits, another takes over. See
    :class:`Scheduler` for the arguments.
    """
    scheduler = Scheduler(
        base_url=base_url, lock=lock, lock_path=lock_path, name=name, takeover=takeover
    ).start()
    _SCHEDULERS.append(scheduler)
    return scheduler


def stop() -> None:
    """Stop every scheduler :func:`start` created."""
    while _SCHEDULERS:
        _SCHEDULERS.pop().stop()


def _after_fork_in_child() -> None:
    for scheduler in list(_SCHEDULERS):
        scheduler._after_fork_in_child()


fork.at_fork(fork.SERVICES, "synthetic.schedulers", _after_fork_in_child)
