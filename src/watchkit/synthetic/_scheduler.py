"""The in-process scheduler: runs journeys on their interval in ONE process per host.

Pre-fork servers run N workers; N schedulers would probe N times. The
scheduler therefore runs only in the process that holds an exclusive
``flock`` on a lock file (default ``<tmp>/watchkit-synthetic-<name>.lock``).
The others retry every ``takeover`` seconds, so when the holder exits (its
lock is released by the kernel, even on SIGKILL) another process takes over.
This is one host only: across hosts run the ``python -m watchkit synthetic``
CLI as one deployment (a Kubernetes CronJob or a single-replica Deployment).

Idle cost: one thread sleeping on an event; it wakes when a run is due (and
every ``takeover`` seconds while it does not hold the lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from watchkit._internal import fork
from watchkit._internal.guard import report
from watchkit.synthetic._journey import JourneyDefinition, RunResult, journeys, run

__all__ = ["Scheduler", "start", "stop"]

_logger = logging.getLogger("watchkit.synthetic")


class FileLock:
    """A non-blocking exclusive ``flock`` held for the life of the process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
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

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def forget_after_fork(self) -> None:
        # A forked child shares the parent's open file description (and so its
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


class Scheduler:
    """Runs journeys on their interval in a daemon thread, when it holds the lock."""

    def __init__(
        self,
        selected: Iterable[JourneyDefinition] | None = None,
        *,
        base_url: str | None = None,
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
        self.journeys = chosen
        self.base_url = base_url
        self.lock = FileLock(lock_path if lock_path is not None else default_lock_path(name))
        self.takeover = takeover
        self.results: dict[str, RunResult] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether this process holds the lock and runs the journeys."""
        return self.lock._fd is not None and self._thread is not None and self._thread.is_alive()

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
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.lock.release()

    def _main(self) -> None:
        while not self._stop.is_set():
            try:
                held = self.lock.acquire()
            except OSError:
                report("synthetic scheduler lock")
                held = False
            if held:
                asyncio.run(self._loop())
                return
            self._stop.wait(self.takeover)

    async def _loop(self) -> None:
        due = dict.fromkeys((j.name for j in self.journeys), 0.0)
        while not self._stop.is_set():
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
            wait = max(0.01, min(due.values()) - time.monotonic())
            await asyncio.get_running_loop().run_in_executor(None, self._stop.wait, wait)

    def _after_fork_in_child(self) -> None:
        self.lock.forget_after_fork()
        self._stop = threading.Event()
        if self._thread is not None:
            self._thread = None
            self.start()  # compete for the lock like any other worker


_SCHEDULERS: list[Scheduler] = []


def start(
    *,
    base_url: str | None = None,
    lock_path: str | os.PathLike[str] | None = None,
    name: str = "default",
) -> Scheduler:
    """Run every declared journey with an ``interval`` in this process, if it wins the lock.

    Call it in every worker (or once before the fork): exactly one process of
    the host runs the journeys; if it exits, another takes over within 30 s.
    """
    scheduler = Scheduler(base_url=base_url, lock_path=lock_path, name=name).start()
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
