"""The one registry of what watchkit does in a child process after ``fork()``.

Pre-fork servers (gunicorn, uWSGI, Celery's prefork pool) fork after the
application imported and often configured watchkit. In the child only the
forking thread survives, so:

1. a lock another thread held at the fork stays held for ever, and the child's
   first use of it deadlocks the worker;
2. per-process state (in-flight counts, export health, an audit trail's open
   file) describes the parent, not the child;
3. the pipeline's Resource still names the parent (``process.pid``);
4. background threads (export workers, shippers, schedulers) are gone.

Every module registers its child-side work here, in one of these phases, and
never calls :func:`os.register_at_fork` itself. Hooks run in phase order
(:data:`LOCKS`, then :data:`STATE`, :data:`PIPELINE`, :data:`SERVICES`), and in
registration order within a phase, which is import order: a lower layer's hook
runs before a higher layer's. Fresh locks come first because every later hook
may need them. A hook that raises is logged and the others still run: a broken
hook must not leave the worker without its locks.

A fresh lock is not always enough: what the lock guards may have its own lock
underneath (a stream's buffer, which CPython does not renew after a fork), left
held by a thread of the parent that was writing at the moment of the fork.
:func:`hold_across_fork` makes the forking thread take such a lock before the
fork (waiting at most :data:`HOLD_TIMEOUT` for the thread inside it to leave),
so the child starts with the lock and what it guards untouched by anyone.

An import in progress on another thread is such a lock too (Python's per-module
import lock, see :mod:`watchkit._internal.imports`): the fork first waits for
it, and the child forgets an import that was still cut before anything else
runs. The forking thread waits at most :data:`HOLD_TIMEOUT` in all.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Final, Protocol

from watchkit._internal import imports

__all__ = [
    "HOLD_TIMEOUT",
    "LOCKS",
    "PIPELINE",
    "SERVICES",
    "STATE",
    "at_fork",
    "hold_across_fork",
    "hooks",
    "run_child_hooks",
]

LOCKS: Final = 0
"""Replace locks (and anything holding one) that another thread may have held."""
STATE: Final = 1
"""Reset per-process state that describes the parent."""
PIPELINE: Final = 2
"""Renew what the pipeline says about the process (resource, exporters)."""
SERVICES: Final = 3
"""Restart background work the child needs (it only restarts lazily, on use)."""

HOLD_TIMEOUT: Final = 0.5
"""Seconds a fork waits in all for held locks and imports (a writer stuck on a full
pipe must not stop it)."""

_PHASES: Final = (LOCKS, STATE, PIPELINE, SERVICES)
_hooks: dict[int, list[tuple[str, Callable[[], None]]]] = {phase: [] for phase in _PHASES}
_registry_lock = threading.Lock()
_logger = logging.getLogger("watchkit")


class _Lock(Protocol):
    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...


_held: list[tuple[str, Callable[[], _Lock]]] = []
_holding = threading.local()  # per forking thread: two threads may fork at once


def at_fork(phase: int, name: str, hook: Callable[[], None]) -> None:
    """Run ``hook()`` in every child forked from now on, in ``phase``.

    Args:
        phase: one of :data:`LOCKS`, :data:`STATE`, :data:`PIPELINE`, :data:`SERVICES`.
        name: shown in the log line if the hook raises, and by :func:`hooks`.
        hook: called with no arguments in the child, in the forking thread.
    """
    if phase not in _hooks:
        raise ValueError(f"at_fork: phase must be one of {_PHASES}, got {phase!r}")
    with _registry_lock:
        _hooks[phase].append((name, hook))


def hold_across_fork(name: str, lock: Callable[[], _Lock]) -> None:
    """Hold ``lock()`` while the process forks, so no other thread is inside it then.

    For a short lock around work whose own state a fork can break (a write to
    a stream). The forking thread waits at most :data:`HOLD_TIMEOUT` for it and
    forks anyway after that; the lock is released in the parent and in the
    child. Register a :data:`LOCKS` hook that renews the lock as well: it is
    the child's way out when the wait timed out.

    Args:
        name: for :func:`hooks` and debugging.
        lock: returns the lock to hold (looked up at each fork: it may be renewed).
    """
    with _registry_lock:
        _held.append((name, lock))


def _before_fork() -> None:
    taken: list[_Lock] = []
    _holding.locks = taken
    deadline = time.monotonic() + HOLD_TIMEOUT
    # Imports first: the importing thread may need one of the locks held below.
    imports.wait_for_imports(deadline)
    for _, get in list(_held):
        try:
            lock = get()
            if lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                taken.append(lock)
        except Exception:  # never stop a fork; the child renews the lock
            continue


def _release_held() -> None:
    # In the child, this thread (the only one left) is the one that took them.
    taken: list[_Lock] = getattr(_holding, "locks", [])
    _holding.locks = []
    for lock in reversed(taken):
        try:
            lock.release()
        except RuntimeError:
            continue


def _after_fork_in_child() -> None:
    imports.forget_cut_imports()  # before any hook imports something
    _release_held()
    run_child_hooks()


def hooks() -> list[tuple[int, str]]:
    """The registered hooks as ``(phase, name)`` in the order they run."""
    return [(phase, name) for phase in _PHASES for name, _ in _hooks[phase]]


def run_child_hooks() -> None:
    """Run every hook in order (what the child does right after ``fork()``)."""
    global _registry_lock
    # This very lock may have been held by a thread registering a hook.
    _registry_lock = threading.Lock()
    for phase in _PHASES:
        for name, hook in list(_hooks[phase]):
            try:
                hook()
            except Exception:  # one broken hook must not stop the others
                _logger.warning("watchkit: after-fork hook %s failed", name, exc_info=True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_release_held, after_in_child=_after_fork_in_child
    )
