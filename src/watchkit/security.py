"""Security signals that hold behind many workers: brute force, unfamiliar logins, active users.

Example:
    >>> from watchkit.security import LoginMonitor
    >>> monitor = LoginMonitor(max_failures=5, window=600)
    >>> monitor.record(False, user="ana", source_ip="203.0.113.7")
    False

The counts live in a *store*: ``"memory"`` (one process) or Redis
(``"redis://host:6379/0"`` or a ``redis.Redis`` client), shared by every
worker and host. See docs/security-across-instances.md.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from opentelemetry._logs import SeverityNumber

from watchkit._audit import audit
from watchkit._internal import fork, guard, semconv
from watchkit._internal.state import get_logger
from watchkit._metrics import Attributes, Counter, attributes_key, record
from watchkit._security import active
from watchkit._security.client import client_of
from watchkit._security.memory import MemoryLoginStore
from watchkit._security.store import (
    StoreErrors,
    StoreUnavailable,
    hash_text,
    track_memory_store,
)

__all__ = ["ActiveUsers", "LoginMonitor", "active_users"]

_SCOPE: Final = "watchkit.security"
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
_UNFAMILIAR = {semconv.SECURITY_ALERT_KIND: semconv.SECURITY_ALERT_KIND_UNFAMILIAR_LOGIN}
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")
_MEMORY: Final = ("memory", "memory://")
_DAY: Final = 86_400.0


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _positive(name: str, value: object, kind: type = float) -> None:
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        accepted = "an int >= 1"
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        accepted = "seconds > 0"
    if not ok:
        raise ValueError(f"{name}={value!r} is not accepted; use {accepted}")


def _hash_key(hash_key: str | bytes | None) -> bytes:
    if hash_key is None:
        return b""
    if isinstance(hash_key, str):
        hash_key = hash_key.encode()
    if not isinstance(hash_key, bytes):
        raise ValueError(f"hash_key={hash_key!r} is not accepted; use str, bytes or None")
    # blake2b takes keys of at most 64 bytes: longer secrets are condensed first.
    return hash_key if len(hash_key) <= 64 else hashlib.sha256(hash_key).digest()


def _is_redis(store: object, parameter: str = "store") -> bool:
    """True for a Redis store, False for memory; ValueError for anything else."""
    if isinstance(store, str):
        if store in _MEMORY:
            return False
        if store.startswith(_REDIS_SCHEMES):
            return True
        raise ValueError(
            f"{parameter}={store!r} is not accepted; use 'memory', a 'redis://', 'rediss://' "
            "or 'unix://' URL, or a redis.Redis client"
        )
    return True  # a client: checked by the Redis store


def _redis_module() -> Any:
    try:
        from watchkit.integrations import _redis_store
    except ImportError as error:  # pragma: no cover - redis is installed in the test venv
        raise ImportError("a Redis store needs redis-py: pip install 'watchkit[redis]'") from error
    return _redis_store


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
    :meth:`is_blocked` reads the same counts, to refuse a login before
    checking the password.

    The store decides who shares the counts. ``"memory"`` counts in this
    process only (bounded: at most ``max_keys`` IPs and as many users, least
    recently seen first out); inside a pre-fork or multi-worker server it
    warns once at start-up, since every worker would then count alone. A
    Redis store (a URL or a ``redis.Redis`` client) is shared by every worker
    and host: one sorted set per hashed key (IPs and users never appear in
    Redis keys), updated by one atomic Lua script, expiring with the window.
    When Redis cannot be reached the login proceeds (fail open), the failure
    counts in ``watchkit.security.store.errors`` and one warning a minute is
    logged; with ``fail_closed=True`` :meth:`is_blocked` answers True instead
    (for admin logins).

    A successful login from a network prefix (``/24`` IPv4, ``/48`` IPv6) or a
    user agent not seen for that user within ``new_device_period`` seconds
    emits one ``security.unfamiliar_login`` log record.

    Args:
        max_failures: failures tolerated within the window; the next one alerts.
        window: the sliding window in seconds.
        store: ``"memory"``, a ``redis://``/``rediss://``/``unix://`` URL, or a
            synchronous ``redis.Redis`` client (set short socket timeouts on it).
        name: separates monitors sharing one Redis (``"login"``, ``"admin"``).
        fail_closed: what :meth:`is_blocked` answers when the store is unreachable.
        hash_key: a secret, the same on every host, keying the hashes stored
            in Redis (without one, IPv4 addresses could be recovered by brute force).
        timeout: socket timeout in seconds for a store given as a URL.
        new_device_period: seconds a user's network or user agent stays
            familiar; None turns unfamiliar-login events off.
        network_prefix: prefix lengths ``(IPv4, IPv6)`` that make one network.
        max_keys: most IPs (and, separately, users) the memory store remembers.
        clock: a monotonic clock in seconds for the memory store (tests). Redis
            uses its own clock, so all hosts share one.

    Raises:
        ValueError: a limit is not a positive number, or the store is not accepted.

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
        store: object = "memory",
        name: str = "login",
        fail_closed: bool = False,
        hash_key: str | bytes | None = None,
        timeout: float = 0.25,
        new_device_period: float | None = 30 * _DAY,
        network_prefix: tuple[int, int] = (24, 48),
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _positive("max_failures", max_failures, int)
        _positive("window", window)
        _positive("max_keys", max_keys, int)
        _positive("timeout", timeout)
        if new_device_period is not None:
            _positive("new_device_period", new_device_period)
        if not isinstance(name, str) or not name or not name.isprintable():
            raise ValueError(f"name={name!r} is not accepted; use a non-empty printable string")
        if (
            not isinstance(network_prefix, tuple)
            or len(network_prefix) != 2
            or not 0 <= network_prefix[0] <= 32
            or not 0 <= network_prefix[1] <= 128
        ):
            raise ValueError(
                f"network_prefix={network_prefix!r} is not accepted; use (IPv4 bits 0-32, "
                "IPv6 bits 0-128), e.g. (24, 48)"
            )
        self.max_failures = max_failures
        self.window = float(window)
        self.max_keys = max_keys
        self.name = name
        self.fail_closed = bool(fail_closed)
        self.new_device_period = None if new_device_period is None else float(new_device_period)
        self.network_prefix = network_prefix
        self._clock = clock
        self._store: Any
        if _is_redis(store):
            module = _redis_module()
            client = module.client_from(store, timeout)
            self._errors = StoreErrors(f"the Redis store of LoginMonitor {name!r}")
            self._store = module.RedisLoginStore(
                client,
                self._errors,
                name=name,
                window=self.window,
                limit=max_failures,
                hash_key=_hash_key(hash_key),
            )
        else:
            _hash_key(hash_key)
            self._errors = StoreErrors(f"the store of LoginMonitor {name!r}")
            self._store = MemoryLoginStore(self.window, max_failures, max_keys, clock)
            track_memory_store(self._store, f"LoginMonitor {name!r}")
        # increase() over a series whose first sample is 1 is 0: without the
        # zeros, the generated BruteForceSuspected rule misses the first alert.
        _ATTEMPTS.start_at_zero(*(attributes for attributes, _ in _OUTCOMES.values()))
        _ALERTS.start_at_zero(
            _BRUTE_FORCE, *(() if self.new_device_period is None else (_UNFAMILIAR,))
        )
        self._when_down = (
            "is_blocked() answers True (fail_closed)"
            if self.fail_closed
            else "logins proceed unchecked (fail open)"
        )

    @property
    def shared(self) -> bool:
        """Whether the counts are shared across processes (a Redis store)."""
        return bool(self._store.shared)

    def __len__(self) -> int:
        """Keys (IPs plus users) tracked in memory (0 for a Redis store)."""
        return len(self._store) if isinstance(self._store, MemoryLoginStore) else 0

    def record(
        self,
        success: bool,
        *,
        user: str | None = None,
        source_ip: str | None = None,
        user_agent: str | None = None,
        request: object = None,
    ) -> bool:
        """Record one login attempt; True if it raised a brute-force alert.

        Args:
            success: whether the credentials were accepted.
            user: the account tried.
            source_ip: the client's address (or give ``request``).
            user_agent: the client's ``User-Agent`` (or give ``request``).
            request: a WSGI environ, ASGI scope, or a Django, Flask or Starlette
                request: the client address (through ``trusted_proxies``) and the
                user agent are read from it where not given.

        Never raises: a failure inside watchkit is reported to its internal logger,
        and an unreachable store is counted and warned about (the login proceeds).
        """
        try:
            # Ids and addresses may come as ints or ipaddress objects: key them as text.
            if request is not None:
                address, agent = client_of(request)
                source_ip = source_ip if source_ip is not None else address
                user_agent = user_agent if user_agent is not None else agent
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
            if success:
                if user is not None:
                    self._succeeded(user, source_ip, user_agent)
                return False
            keys = self._keys(source_ip, user)
            if not keys:
                return False
            try:
                results = self._store.fail(keys)
            except StoreUnavailable as error:
                self._errors.failed("record", error.error_type, self._when_down)
                return False
            alerted = False
            for (kind, key), (count, alert) in zip(keys, results, strict=True):
                if alert:
                    alerted = True
                    self._alert(kind, key, count)
            return alerted
        except Exception:
            guard.report("watchkit.security.LoginMonitor.record")
            return False

    def is_blocked(
        self, *, source_ip: str | None = None, user: str | None = None, request: object = None
    ) -> bool:
        """Whether the IP or the user has more than ``max_failures`` failures within the window.

        Reads the counts :meth:`record` keeps (nothing is recorded). True from the
        failure that raised the alert until enough failures leave the window.
        When the store is unreachable: False, or True with ``fail_closed=True``.

        Example:
            >>> monitor = LoginMonitor(max_failures=1, window=60)
            >>> monitor.is_blocked(source_ip="192.0.2.8")
            False
            >>> for _ in range(2):
            ...     _ = monitor.record(False, source_ip="192.0.2.8")
            >>> monitor.is_blocked(source_ip="192.0.2.8")
            True
        """
        try:
            if request is not None and source_ip is None:
                source_ip = client_of(request)[0]
            keys = self._keys(
                None if source_ip is None else _as_text(source_ip),
                None if user is None else _as_text(user),
            )
            if not keys:
                return False
            try:
                counts = self._store.counts(keys)
            except StoreUnavailable as error:
                self._errors.failed("is_blocked", error.error_type, self._when_down)
                return self.fail_closed
            return any(count > self.max_failures for count in counts)
        except Exception:
            guard.report("watchkit.security.LoginMonitor.is_blocked")
            return self.fail_closed

    @staticmethod
    def _keys(source_ip: str | None, user: str | None) -> list[tuple[str, str]]:
        keys = []
        if source_ip is not None:
            keys.append(("source_ip", source_ip))
        if user is not None:
            keys.append(("user", user))
        return keys

    def _succeeded(self, user: str, source_ip: str | None, user_agent: str | None) -> None:
        try:
            self._store.clear("user", user)
        except StoreUnavailable as error:
            self._errors.failed("record", error.error_type, self._when_down)
        if self.new_device_period is None:
            return
        network = self._network(source_ip)
        fields = []
        if network is not None:
            fields.append("net:" + network)
        if user_agent:
            fields.append("ua:" + user_agent)
        if not fields:
            return
        try:
            new, known = self._store.seen(user, fields, self.new_device_period)
        except StoreUnavailable as error:
            self._errors.failed("new_device", error.error_type, "unfamiliar logins go unnoticed")
            return
        if not any(new):
            return
        flags = dict(zip(fields, new, strict=True))
        self._unfamiliar(
            user,
            source_ip,
            network,
            user_agent,
            new_network=network is not None and flags["net:" + network],
            new_agent=bool(user_agent) and flags["ua:" + str(user_agent)],
            known=known,
        )

    def _network(self, source_ip: str | None) -> str | None:
        if source_ip is None:
            return None
        try:
            address = ipaddress.ip_address(source_ip)
        except ValueError:
            return None
        bits = self.network_prefix[0] if address.version == 4 else self.network_prefix[1]
        return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))

    def _unfamiliar(
        self,
        user: str,
        source_ip: str | None,
        network: str | None,
        user_agent: str | None,
        *,
        new_network: bool,
        new_agent: bool,
        known: bool,
    ) -> None:
        # A user with no history yet (first login, or none within the period) is
        # recorded but not alerted on: there is nothing for the login to differ from.
        if known:
            record(_ALERTS, 1, _UNFAMILIAR)
        attributes: dict[str, Any] = {
            semconv.EVENT_NAME: semconv.SECURITY_UNFAMILIAR_LOGIN_EVENT,
            semconv.USER_NAME: user,
            semconv.SECURITY_NEW_NETWORK: new_network,
            semconv.SECURITY_NEW_USER_AGENT: new_agent,
            semconv.SECURITY_FIRST_SEEN: not known,
            semconv.SECURITY_PERIOD: _seconds(self.new_device_period or 0.0),
        }
        if source_ip is not None:
            attributes[semconv.CLIENT_ADDRESS] = source_ip
        if network is not None:
            attributes[semconv.SECURITY_NETWORK_PREFIX] = network
        if user_agent:
            attributes[semconv.USER_AGENT_ORIGINAL] = user_agent
        severity = SeverityNumber.WARN if known else SeverityNumber.INFO
        get_logger(_SCOPE).emit(
            severity_number=severity,
            severity_text="WARN" if known else "INFO",
            body=semconv.SECURITY_UNFAMILIAR_LOGIN_EVENT,
            event_name=semconv.SECURITY_UNFAMILIAR_LOGIN_EVENT,
            attributes=attributes,
        )

    def _alert(self, kind: str, key: str, count: int) -> None:
        record(_ALERTS, 1, _BRUTE_FORCE)
        who = semconv.CLIENT_ADDRESS if kind == "source_ip" else semconv.USER_NAME
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
                semconv.SECURITY_WINDOW: _seconds(self.window),
            },
        )


def _seconds(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


class ActiveUsers:
    """Distinct users seen per hour, day or week, reported as ``watchkit.users.active``.

    Create with :func:`active_users`.
    """

    __module__ = "watchkit.security"

    def __init__(
        self,
        feature: str,
        *,
        store: object,
        periods: tuple[str, ...],
        hash_key: bytes,
        max_users: int,
        report_lease: float,
        timeout: float,
    ) -> None:
        self.feature = feature
        self.periods = periods
        self.report_lease = report_lease
        self._hash_key = hash_key
        self._config = (store, periods, hash_key, max_users, report_lease, timeout)
        self._attributes: dict[str, Attributes] = {
            period: {semconv.USERS_PERIOD: period, semconv.USERS_FEATURE: feature}
            for period in periods
        }
        self._redis: Any = None
        self._memory: active.MemoryDistinct | None = None
        self._errors = StoreErrors(f"the Redis store of active_users({feature!r})")
        if _is_redis(store):
            module = _redis_module()
            self._redis = module.RedisActiveUsersStore(
                module.client_from(store, timeout),
                self._errors,
                feature=feature,
                report_lease=report_lease,
            )
        else:
            self._memory = active.MemoryDistinct(f"active_users({feature!r})", max_users)
            track_memory_store(self._memory, f"active_users({feature!r})")
        # Ids already added in the current buckets: adding one again changes no
        # count, so a returning user costs a set lookup instead of a round trip.
        # Replaced whole, never locked: a race costs one redundant PFADD at most.
        self._sent: tuple[tuple[str, ...], set[str]] = ((), set())
        active.register(self._observations)

    @property
    def shared(self) -> bool:
        """Whether the counts are shared across processes (a Redis store)."""
        return self._redis is not None

    def record(self, user_id: object) -> None:
        """Count ``user_id`` (any value; its ``str()`` is hashed) as seen now.

        Never raises; an unreachable store is counted and warned about once a minute.

        Example:
            >>> from watchkit.security import active_users
            >>> seen = active_users("docs-search")
            >>> seen.record("user-42"); seen.record("user-42"); seen.record(7)
            >>> seen.count("day")
            2
        """
        try:
            now = time.time()
            buckets = [active.bucket(period, now) for period in self.periods]
            text = _as_text(user_id)
            if self._memory is not None:
                element = active.short_hash(text, self._hash_key)
                self._memory.add(
                    element,
                    [(p, b[0]) for p, b in zip(self.periods, buckets, strict=True)],
                )
                return
            hashed = hash_text(text, self._hash_key)
            names = tuple(name for name, _ in buckets)
            sent = self._sent
            if sent[0] != names or len(sent[1]) >= 10_000:
                sent = self._sent = (names, set())
            elif hashed in sent[1]:
                return
            try:
                self._redis.add(hashed, buckets)
            except StoreUnavailable as error:
                # The server may come back empty (restarted): send every id again.
                self._sent = ((), set())
                self._errors.failed(
                    "active_users.record", error.error_type, "this user is not counted"
                )
                return
            sent[1].add(hashed)
        except Exception:
            guard.report("watchkit.security.ActiveUsers.record")

    def count(self, period: str = "day") -> int | None:
        """Distinct users of the current ``period`` so far; None if the store is unreachable.

        Raises:
            ValueError: ``period`` is not one this object counts.
        """
        if period not in self.periods:
            raise ValueError(f"period={period!r} is not counted here; use one of {self.periods}")
        name = active.bucket(period, time.time())[0]
        if self._memory is not None:
            return self._memory.count(period, name)
        try:
            return int(self._redis.count(name))
        except StoreUnavailable as error:
            self._errors.failed("active_users.count", error.error_type, "no count")
            return None

    def _observations(self) -> list[tuple[float, Attributes]]:
        now = time.time()
        names = [active.bucket(period, now)[0] for period in self.periods]
        if self._memory is not None:
            counts: Sequence[int] = [
                self._memory.count(period, name)
                for period, name in zip(self.periods, names, strict=True)
            ]
        else:
            try:
                reported = self._redis.collect(names)
            except StoreUnavailable as error:
                self._errors.failed("active_users.collect", error.error_type, "no value reported")
                return []
            if reported is None:  # another process reports these counts
                return []
            counts = reported
        return [
            (float(count), self._attributes[period])
            for period, count in zip(self.periods, counts, strict=True)
        ]


_ACTIVE: dict[str, ActiveUsers] = {}
_ACTIVE_LOCK = threading.Lock()


def _fresh_lock() -> None:
    global _ACTIVE_LOCK
    _ACTIVE_LOCK = threading.Lock()


fork.at_fork(fork.LOCKS, "security.active_users.registry", _fresh_lock)


def active_users(
    feature: str = "app",
    *,
    store: object = "memory",
    periods: Sequence[str] = ("day",),
    hash_key: str | bytes | None = None,
    max_users: int = 100_000,
    report_lease: float = 150.0,
    timeout: float = 0.25,
) -> ActiveUsers:
    """Distinct users of ``feature`` per period, as the gauge ``watchkit.users.active``.

    With a Redis store (a URL or a ``redis.Redis`` client) every worker and host
    adds hashed ids to one HyperLogLog per period and bucket (UTC hour, day,
    ISO week); the count is an estimate with a standard error of 0.81 %. One
    process reports the gauge: the one holding a lease in Redis, renewed at
    each collection, taken over by another process ``report_lease`` seconds
    after the holder stops. With ``"memory"`` the count is exact, per process,
    and capped at ``max_users`` ids per period (a lower bound beyond).

    Defining the same feature again with the same arguments returns the same object.

    Args:
        feature: what is counted (``"app"``, ``"search"``): the ``feature`` attribute.
        store: ``"memory"``, a ``redis://`` URL or a ``redis.Redis`` client.
        periods: any of ``"hour"``, ``"day"``, ``"week"``.
        hash_key: a secret keying the hashes of user ids (same on every host).
        max_users: ids kept per period by the memory store.
        report_lease: seconds without collection after which another process reports.
        timeout: socket timeout in seconds for a store given as a URL.

    Raises:
        ValueError: an argument is not accepted, or ``feature`` was defined differently.

    Example:
        >>> import watchkit
        >>> visitors = watchkit.active_users("docs-app", periods=("hour", "day"))
        >>> visitors.record("user-1")
        >>> visitors.count("hour")
        1
    """
    if not isinstance(feature, str) or not feature or not feature.isprintable():
        raise ValueError(f"feature={feature!r} is not accepted; use a non-empty printable string")
    if isinstance(periods, str):
        periods = (periods,)
    periods = tuple(periods)
    bad = [p for p in periods if p not in active.PERIODS]
    if not periods or bad or len(set(periods)) != len(periods):
        raise ValueError(
            f"periods={periods!r} is not accepted; use distinct values of {tuple(active.PERIODS)}"
        )
    _positive("max_users", max_users, int)
    _positive("report_lease", report_lease)
    _positive("timeout", timeout)
    key = _hash_key(hash_key)
    _is_redis(store)
    with _ACTIVE_LOCK:
        existing = _ACTIVE.get(feature)
        config = (store, periods, key, max_users, float(report_lease), float(timeout))
        if existing is not None:
            if existing._config != config:
                raise ValueError(
                    f"active_users({feature!r}) is already defined with other arguments"
                )
            return existing
        created = ActiveUsers(
            feature,
            store=store,
            periods=periods,
            hash_key=key,
            max_users=max_users,
            report_lease=float(report_lease),
            timeout=float(timeout),
        )
        _ACTIVE[feature] = created
        return created
