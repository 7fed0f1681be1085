"""Imports that a ``fork()`` cuts in half, and how the child recovers from them.

Python imports a module under a per-module lock, held by the importing thread
while the module's code runs. A thread of the parent that is inside an import
when another thread forks leaves that lock held in the child for ever, by a
thread that does not exist there, next to a half-run module marked as
initializing. The child's first import of that module then waits for ever.

This is not rare in a pre-fork server: libraries import lazily on first use,
and the first use is often on a background thread. ``requests`` imports
``netrc`` on a session's first request, so an export thread's first export
(a Celery worker's start-up log lines, exported while its prefork pool forks
the children) leaves every child unable to export again. CPython renews the
global import lock after a fork, not these.

:func:`wait_for_imports` (before the fork) lets such an import finish, for a
bounded time; :func:`forget_cut_imports` (first thing in the child) handles the
imports still cut: it drops their locks and half-run modules, so the child
imports them afresh. Both read CPython's private import bookkeeping
(``importlib._bootstrap``, the same in 3.10 to 3.13); if it ever changes shape,
they do nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

__all__ = ["forget_cut_imports", "imports_in_progress", "wait_for_imports"]

_POLL = 0.001


def _bootstrap() -> Any:
    return sys.modules.get("_frozen_importlib")


def imports_in_progress() -> list[str]:
    """Names of the modules that a thread other than this one is importing now."""
    bootstrap = _bootstrap()
    locks = getattr(bootstrap, "_module_locks", None)
    if not isinstance(locks, dict):
        return []
    me = threading.get_ident()
    names = []
    for name, ref in list(locks.items()):
        lock = ref()
        owner = getattr(lock, "owner", None)
        if owner is not None and owner != me:
            names.append(name)
    return names


def wait_for_imports(deadline: float) -> bool:
    """Wait until no other thread is inside an import, or until ``deadline`` (monotonic).

    Returns:
        True if none is; False if one still was at the deadline.
    """
    try:
        while imports_in_progress():
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)  # lets the importing thread run
    except Exception:  # never stop a fork
        return False
    return True


def forget_cut_imports() -> list[str]:
    """In a forked child: let the imports other threads had in progress start again.

    Only the forking thread lives in the child, so every module lock owned by
    another thread is owned by no one who will release it.

    Returns:
        The names of the modules whose import was cut.
    """
    try:
        bootstrap = _bootstrap()
        cut = imports_in_progress()
        locks: dict[str, Any] = bootstrap._module_locks
        for name in cut:
            locks.pop(name, None)  # the next import of it makes a new lock
            module = sys.modules.get(name)
            spec = getattr(module, "__spec__", None)
            if module is not None and getattr(spec, "_initializing", False):
                del sys.modules[name]  # half run: imported again, from the start
        # Who waited for whom: threads that are gone (the forking thread waits for none).
        blocking = getattr(bootstrap, "_blocking_on", None)
        if blocking is not None:
            blocking.clear()
    except Exception:  # a child that cannot do this is no worse off than without it
        return []
    return cut
