"""The never-break-the-host guard.

Every watchkit code path that runs inside a user's request (middleware,
decorator entry and exit, log processors, metric recording) catches its own
exceptions and hands them to :func:`report`. In production that logs the error
once per call site and carries on; in watchkit's own test suite (and in users'
suites that opt in) it re-raises, so bugs fail tests instead of hiding.

User exceptions are never routed here: they are recorded and re-raised
unchanged by the code that observes them.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from types import FrameType

from watchkit._internal import fork

__all__ = ["internal_logger", "invalid_argument", "raising", "report", "set_raise"]

internal_logger = logging.getLogger("watchkit")

_TRUE = frozenset({"1", "true", "yes", "on"})
_raise = os.environ.get("WATCHKIT_RAISE_INTERNAL_ERRORS", "").strip().lower() in _TRUE
_reported: set[str] = set()
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # A lock another thread held at fork() stays held for ever in the child.
    global _lock
    _lock = threading.Lock()


fork.at_fork(fork.LOCKS, "guard.lock", _after_fork_in_child)


def set_raise(enabled: bool) -> bool:
    """Make :func:`report` re-raise (tests) or swallow (production); return the old value."""
    global _raise
    old, _raise = _raise, enabled
    return old


def raising() -> bool:
    """Whether internal errors are re-raised."""
    return _raise


def report(where: str) -> None:
    """Handle the exception being handled by the caller's ``except`` block.

    Call it only from inside ``except Exception:``. ``where`` names the call
    site; each site is logged once per process so a broken hook cannot flood the
    application's logs.
    """
    if _raise:
        raise  # noqa: PLE0704 - re-raises the exception the caller is handling
    with _lock:
        first = where not in _reported
        _reported.add(where)
    if first:
        internal_logger.warning(
            "watchkit internal error in %s; telemetry for this call is incomplete "
            "(further errors here are not logged)",
            where,
            exc_info=True,
        )


_MAX_SITES = 1024


def _call_site() -> str:
    # The first frame outside watchkit: the application line that made the call.
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("watchkit"):
        frame = frame.f_back
    return "?" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


def invalid_argument(where: str, problem: str, consequence: str) -> None:
    """A call on the request path got a bad argument: the one policy for it.

    The call never raises in production: the caller degrades it (records what it
    can) or drops it, and this warns once per call site of the application
    (``where`` plus the file and line that called watchkit), naming the problem
    and what happened to the call. Under the test switch
    (``WATCHKIT_RAISE_INTERNAL_ERRORS``) it raises :class:`ValueError` instead, so
    a test catches the mistake at the line that made it.

    Args:
        where: the public call, e.g. ``"watchkit.event()"``.
        problem: what is wrong, naming the parameter and the accepted values.
        consequence: what watchkit did instead, e.g. ``"the event was dropped"``.
    """
    if _raise:
        raise ValueError(f"{where}: {problem}")
    key = f"{where} at {_call_site()}"
    with _lock:
        first = key not in _reported and len(_reported) < _MAX_SITES
        if first:
            _reported.add(key)
    if first:
        internal_logger.warning(
            "watchkit: %s: %s; %s (reported once per call site)", key, problem, consequence
        )
