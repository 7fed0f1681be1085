"""Security signals: brute-force detection on logins.

Example:
    >>> from watchkit.security import LoginMonitor
    >>> monitor = LoginMonitor(max_failures=5, window=600)
    >>> monitor.record(False, user="ana", source_ip="203.0.113.7")
    False
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from opentelemetry._logs import SeverityNumber

from watchkit._audit import audit
from watchkit._internal import guard, semconv
from watchkit._internal.state import get_logger
from watchkit._metrics import Counter, attributes_key, record

__all__ = ["LoginMonitor"]

_SCOPE = "watchkit.security"
_ATTEMPTS = Counter(
    semconv.SECURITY_LOGIN_ATTEMPTS,
    semconv.SECURITY_LOGIN_ATTEMPTS_UNIT,
    "Login attempts.",
    scope=_SCOPE,
)
_ALERTS = Counter(
    semconv.SECURITY_ALERTS, semconv.SECURITY_ALERTS_UNIT, "Security alerts raised.", scope=_SCOPE
)
# Attribute sets and their guard keys, built once: the outcome is one of two.
_OUTCOMES = {
    outcome: (
        {semconv.SECURITY_OUTCOME: outcome},
        attributes_key({semconv.SECURITY_OUTCOME: outcome}),
    )
    for outcome in ("success", "failure")
}
_BRUTE_FORCE = {semconv.SECURITY_ALERT_KIND: semconv.SECURITY_ALERT_KIND_BRUTE_FORCE}


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


class _Failures:
    """Failure times of one key (at most max_failures + 1) and when it may alert again."""

    __slots__ = ("quiet_until", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.quiet_until = float("-inf")


class LoginMonitor:
    """Counts login attempts and raises one alert per hammered IP or user and window.

    Each :meth:`record` call emits an ``audit.login`` audit record and counts
    ``watchkit.security.login.attempts`` {``outcome``}. When one source IP (or
    one user) has more than ``max_failures`` failures within ``window``
    seconds, it emits one ``security.brute_force_suspected`` log record
    (WARNING, with the IP or user, the count and the window) and counts
    ``watchkit.security.alerts`` {``kind``}: once per key per window, not once
    per failure. A successful login clears the *user's* failures (not the
    IP's: an attacker could interleave logins to an account of their own).

    Memory is bounded: at most ``max_keys`` IPs and ``max_keys`` users are
    tracked, least recently seen first out, and keys idle for a whole window are
    dropped as new ones arrive.

    Args:
        max_failures: failures tolerated within the window; the next one alerts.
        window: the sliding window in seconds.
        max_keys: most IPs (and, separately, users) remembered.
        clock: a monotonic clock in seconds (inject one in tests).

    Raises:
        ValueError: a limit is not a positive number.

    Example:
        >>> monitor = LoginMonitor(max_failures=2, window=60)
        >>> [monitor.record(False, source_ip="198.51.100.4") for _ in range(4)]
        [False, False, True, False]
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 600.0,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 1:
            raise ValueError(f"max_failures={max_failures!r} is not accepted; use an int >= 1")
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not window > 0:
            raise ValueError(f"window={window!r} is not accepted; use seconds > 0")
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ValueError(f"max_keys={max_keys!r} is not accepted; use an int >= 1")
        self.max_failures = max_failures
        self.window = float(window)
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._by_ip: OrderedDict[str, _Failures] = OrderedDict()
        self._by_user: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        """Keys (IPs plus users) currently tracked."""
        return len(self._by_ip) + len(self._by_user)

    def record(
        self, success: bool, *, user: str | None = None, source_ip: str | None = None
    ) -> bool:
        """Record one login attempt; True if it raised a brute-force alert.

        Never raises: a failure inside watchkit is reported to its internal logger.
        """
        try:
            # Ids and addresses may come as ints or ipaddress objects: key them as text.
            if user is not None:
                user = _as_text(user)
            if source_ip is not None:
                source_ip = _as_text(source_ip)
            outcome = "success" if success else "failure"
            details: dict[str, Any] = {}
            if source_ip is not None:
                details[semconv.CLIENT_ADDRESS] = source_ip
            audit("login", actor=user or "anonymous", outcome=outcome, **details)
            record(_ATTEMPTS, 1, *_OUTCOMES[outcome])
            alerts: list[tuple[str, str, int]] = []
            now = self._clock()
            with self._lock:
                if success:
                    if user is not None:
                        self._by_user.pop(user, None)
                else:
                    if source_ip is not None:
                        count = self._fail(self._by_ip, source_ip, now)
                        if count:
                            alerts.append(("source_ip", source_ip, count))
                    if user is not None:
                        count = self._fail(self._by_user, user, now)
                        if count:
                            alerts.append(("user", user, count))
            for kind, key, count in alerts:
                self._alert(kind, key, count)
            return bool(alerts)
        except Exception:
            guard.report("watchkit.security.LoginMonitor.record")
            return False

    def _fail(self, table: OrderedDict[str, _Failures], key: str, now: float) -> int:
        """Add a failure; the failure count if this one should alert, else 0."""
        entry = table.get(key)
        if entry is None:
            entry = table[key] = _Failures()
            self._evict(table, now)
        else:
            table.move_to_end(key)
        horizon = now - self.window
        times = entry.times
        while times and times[0] <= horizon:
            del times[0]
        times.append(now)
        if len(times) > self.max_failures + 1:
            del times[0]
        if len(times) > self.max_failures and now >= entry.quiet_until:
            entry.quiet_until = now + self.window
            return len(times)
        return 0

    def _evict(self, table: OrderedDict[str, _Failures], now: float) -> None:
        while len(table) > self.max_keys:
            table.popitem(last=False)
        # Also drop a couple of idle keys from the old end, so a quiet monitor shrinks.
        horizon = now - self.window
        for _ in range(2):
            if len(table) <= 1:
                return
            key, oldest = next(iter(table.items()))
            last = oldest.times[-1] if oldest.times else float("-inf")
            if last > horizon or now < oldest.quiet_until:
                return
            del table[key]

    def _alert(self, kind: str, key: str, count: int) -> None:
        record(_ALERTS, 1, _BRUTE_FORCE)
        who = semconv.CLIENT_ADDRESS if kind == "source_ip" else "user.name"
        window = int(self.window) if self.window.is_integer() else self.window
        get_logger(_SCOPE).emit(
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body=semconv.SECURITY_BRUTE_FORCE_EVENT,
            event_name=semconv.SECURITY_BRUTE_FORCE_EVENT,
            attributes={
                semconv.EVENT_NAME: semconv.SECURITY_BRUTE_FORCE_EVENT,
                semconv.SECURITY_KEY_KIND: kind,
                who: key,
                semconv.SECURITY_FAILURES: count,
                semconv.SECURITY_WINDOW: window,
            },
        )
