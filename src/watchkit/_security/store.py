"""What every login and active-user store shares: hashing, the error policy, pre-fork warnings.

A shared store (Redis) that is down must cost the host one warning a minute
and a counter, never an exception or a long wait: :class:`StoreErrors` counts
each failed operation in ``watchkit.security.store.errors`` {``operation``,
``error.type``} and opens a short circuit so the next calls skip the store
instead of waiting for its timeout again.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import weakref
from typing import Final

from watchkit._internal import fork, semconv
from watchkit._internal.guard import internal_logger
from watchkit._metrics import Counter, record

__all__ = [
    "StoreErrors",
    "StoreUnavailable",
    "hash_text",
    "prefork_server",
    "track_memory_store",
]

_SCOPE: Final = "watchkit.security"
_ERRORS = Counter(
    semconv.SECURITY_STORE_ERRORS,
    semconv.SECURITY_STORE_ERRORS_UNIT,
    "Operations on a shared login or active-user store that failed (the store was skipped).",
    scope=_SCOPE,
)
WARNING_INTERVAL: Final = 60.0
"""Seconds between two warnings about a failing store, per process."""


class StoreUnavailable(Exception):
    """A shared store could not answer; ``error_type`` names why (``ConnectionError``)."""

    def __init__(self, error_type: str) -> None:
        super().__init__(error_type)
        self.error_type = error_type


def hash_text(text: str, key: bytes) -> str:
    """A keyed 128-bit hash of ``text`` as hex: what a store keeps instead of an IP or a user.

    Without a key, an IPv4 address can be found again by hashing all 2**32 of
    them: pass the same secret ``hash_key`` on every host to prevent that.
    """
    return hashlib.blake2b(
        text.encode("utf-8", "surrogatepass"), key=key, digest_size=16
    ).hexdigest()


class StoreErrors:
    """Counts a store's failures, warns at most once a minute, and skips a dead store briefly.

    Args:
        what: names the store in the warning (``"LoginMonitor 'login' (Redis)"``).
        retry_after: seconds during which calls after a failure skip the store
            (they fail at once, counted as ``StoreUnavailable``).
    """

    _lock = threading.Lock()
    _last_warning = float("-inf")  # one warning a minute per process, for every store

    def __init__(self, what: str, retry_after: float = 1.0) -> None:
        self.what = what
        self.retry_after = retry_after
        self.down_until = float("-inf")

    def check(self) -> None:
        """Raise :class:`StoreUnavailable` while the circuit is open after a failure."""
        if time.monotonic() < self.down_until:
            raise StoreUnavailable("StoreUnavailable")

    def trip(self) -> None:
        """The store just failed: skip it for ``retry_after`` seconds."""
        self.down_until = time.monotonic() + self.retry_after

    def failed(self, operation: str, error_type: str, consequence: str) -> None:
        """Count one failed ``operation`` and warn if no warning was given this minute."""
        attributes = {semconv.SECURITY_STORE_OPERATION: operation, semconv.ERROR_TYPE: error_type}
        record(_ERRORS, 1, attributes)
        now = time.monotonic()
        with StoreErrors._lock:
            if now - StoreErrors._last_warning < WARNING_INTERVAL:
                return
            StoreErrors._last_warning = now
        internal_logger.warning(
            "watchkit: %s is unreachable (%s during %s); %s. Counted in %s; "
            "this warning is repeated at most once a minute.",
            self.what,
            error_type,
            operation,
            consequence,
            semconv.SECURITY_STORE_ERRORS,
        )


def _fresh_lock() -> None:
    StoreErrors._lock = threading.Lock()


fork.at_fork(fork.LOCKS, "security.store_errors.lock", _fresh_lock)


def prefork_server() -> str | None:
    """The pre-fork or multi-worker server this process runs in, if one can be told."""
    if "gunicorn.arbiter" in sys.modules or os.environ.get("SERVER_SOFTWARE", "").startswith(
        "gunicorn"
    ):
        return "gunicorn"
    if "uwsgi" in sys.modules:  # only importable inside uWSGI
        return "uWSGI"
    if "celery.concurrency.prefork" in sys.modules:
        return "Celery's prefork pool"
    # uvicorn --workers N and hypercorn --workers N start workers with multiprocessing.
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is not None and multiprocessing.parent_process() is not None:
        for server in ("uvicorn", "hypercorn"):
            if server in sys.modules:
                return f"a {server} worker process"
    workers = os.environ.get("WEB_CONCURRENCY", "")
    if workers.isdigit() and int(workers) > 1:
        return f"a server with WEB_CONCURRENCY={workers}"
    return None


# In-memory stores alive in this process (and what they are), to tell a child
# forked after their creation.
_memory_stores: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()
_warned = False


def _warn(what: str, where: str) -> None:
    global _warned
    if _warned:
        return
    _warned = True
    internal_logger.warning(
        "watchkit: %s keeps its counts in memory, but this process runs in %s: each "
        "worker counts alone (an attacker gets one allowance per worker and host; "
        "distinct users are counted per worker). Pass store='redis://...' (or a redis "
        "client) so every worker shares one count.",
        what,
        where,
    )


def track_memory_store(store: object, what: str) -> None:
    """Warn once now if this process is a pre-fork/multi-worker server, or later at a fork."""
    _memory_stores[store] = what
    server = prefork_server()
    if server is not None:
        _warn(what, server)


def _after_fork_in_child() -> None:
    if not _warned:
        for what in list(_memory_stores.values())[:1]:
            _warn(what, "a child forked after it was created")


fork.at_fork(fork.STATE, "security.memory_store_warning", _after_fork_in_child)
