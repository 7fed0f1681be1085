"""Redis stores for the login monitor and the active-user counts, shared by every worker and host.

Login windows: one sorted set per hashed key (failure times in the server's
clock, milliseconds) and one "quiet" key that makes the alert fire once per
key and window across every process. Every operation is one call of one Lua
script (atomic, one round trip), loaded once and run with ``EVALSHA`` (redis-py
reloads it on ``NOSCRIPT``, after a server restart). The server's ``TIME`` is
the clock, so hosts with skewed clocks share one window. Every key expires
with its window.

Active users: one HyperLogLog per feature, period and bucket
(``...:day:2026-12-07``), expiring one period after the bucket ends.

Every failure (refused connection, timeout, script error) becomes
:class:`~watchkit._security.store.StoreUnavailable`; after one, calls skip
the server for a second rather than wait for its timeout again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from watchkit._internal.locks import RedisLock, lease_script
from watchkit._security.store import StoreErrors, StoreUnavailable, hash_text

__all__ = ["RedisActiveUsersStore", "RedisLoginStore", "client_from"]

_T = TypeVar("_T")

# Failures of each key: drop those at or before now - window ("within window"
# is strict), add this one, keep at most limit + 1, and set the quiet key when
# the count passes the limit (NX: one alert per key and window, whoever wins).
_LOGIN_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode = ARGV[1]
local window = tonumber(ARGV[2])
local out = {}
if mode == 'fail' then
  local limit = tonumber(ARGV[3])
  for i = 1, #KEYS, 2 do
    local z = KEYS[i]
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now - window)
    redis.call('ZADD', z, now, ARGV[4])
    local count = redis.call('ZCARD', z)
    if count > limit + 1 then
      redis.call('ZREMRANGEBYRANK', z, 0, count - limit - 2)
      count = limit + 1
    end
    redis.call('PEXPIRE', z, window)
    local alert = 0
    if count > limit and redis.call('SET', KEYS[i + 1], '1', 'PX', window, 'NX') then
      alert = 1
    end
    out[#out + 1] = count
    out[#out + 1] = alert
  end
elseif mode == 'count' then
  for i = 1, #KEYS do
    out[#out + 1] = redis.call('ZCOUNT', KEYS[i], now - window + 1, '+inf')
  end
elseif mode == 'clear' then
  redis.call('DEL', unpack(KEYS))
elseif mode == 'seen' then
  local h = KEYS[1]
  local cap = tonumber(ARGV[3])
  local known = 0
  local all = redis.call('HGETALL', h)
  for j = 2, #all, 2 do
    if now - tonumber(all[j]) <= window then known = 1 end
  end
  for i = 4, #ARGV do
    local last = redis.call('HGET', h, ARGV[i])
    if (not last) or (now - tonumber(last) > window) then
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
    redis.call('HSET', h, ARGV[i], now)
  end
  if redis.call('HLEN', h) > cap then
    all = redis.call('HGETALL', h)
    for j = 1, #all, 2 do
      if now - tonumber(all[j + 1]) > window then redis.call('HDEL', h, all[j]) end
    end
  end
  redis.call('PEXPIRE', h, window)
  out[#out + 1] = known
end
return out
"""

# Add the id to each period's HyperLogLog and (re)set its expiry.
_ADD_SCRIPT = """
for i = 1, #KEYS do
  redis.call('PFADD', KEYS[i], ARGV[1])
  redis.call('EXPIREAT', KEYS[i], ARGV[i + 1])
end
return 1
"""

# Only the holder of the reporter lease counts (atomic with the election).
_COLLECT_SCRIPT = lease_script(
    """
for i = 2, #KEYS do
  out[#out + 1] = redis.call('PFCOUNT', KEYS[i])
end
"""
)


def client_from(store: object, timeout: float) -> Any:
    """A synchronous redis-py client for ``store`` (a ``redis://`` URL or a client).

    A URL gets short socket timeouts (``timeout`` seconds, unless the URL sets
    its own) so a hung server costs a login that long, not the OS's TCP timeout.

    Raises:
        ValueError: ``store`` is an asyncio client or neither a URL nor a client.
    """
    if isinstance(store, str):
        return redis.Redis.from_url(
            store,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # No retries: a dead server must cost one timeout, not four with backoff.
            retry=Retry(NoBackoff(), 0),
        )
    if isinstance(store, redis.asyncio.Redis):
        raise ValueError(
            "store: an asyncio redis client is not accepted (the monitor calls it "
            "synchronously); pass a redis.Redis client or a 'redis://' URL"
        )
    if isinstance(store, redis.Redis):
        return store
    raise ValueError(
        f"store={store!r} is not accepted; use 'memory', a 'redis://' / 'rediss://' / "
        "'unix://' URL, or a redis.Redis client"
    )


class _RedisStore:
    def __init__(self, client: Any, errors: StoreErrors) -> None:
        self.client = client
        self.errors = errors

    def _run(self, call: Callable[[], _T]) -> _T:
        self.errors.check()
        try:
            return call()
        except (redis.RedisError, OSError) as error:
            self.errors.trip()
            raise StoreUnavailable(type(error).__name__) from None


class RedisLoginStore(_RedisStore):
    """Sliding windows and known devices in Redis, under ``watchkit:login:<name>:``."""

    shared = True

    def __init__(
        self,
        client: Any,
        errors: StoreErrors,
        *,
        name: str,
        window: float,
        limit: int,
        hash_key: bytes,
        device_cap: int = 64,
    ) -> None:
        super().__init__(client, errors)
        self.prefix = f"watchkit:login:{name}:"
        self.window_ms = max(1, round(window * 1000))
        self.limit = limit
        self.hash_key = hash_key
        self.device_cap = device_cap
        self.script = client.register_script(_LOGIN_SCRIPT)

    def _keys(self, kind: str, key: str) -> list[str]:
        hashed = hash_text(f"{kind}\0{key}", self.hash_key)
        return [f"{self.prefix}{kind}:{hashed}", f"{self.prefix}{kind}:{hashed}:quiet"]

    def fail(self, keys: Sequence[tuple[str, str]]) -> list[tuple[int, bool]]:
        names = [name for kind, key in keys for name in self._keys(kind, key)]
        member = secrets.token_hex(8)  # one entry per failure, whichever process adds it
        reply = self._run(lambda: self.script(names, ["fail", self.window_ms, self.limit, member]))
        return [(int(reply[i]), bool(reply[i + 1])) for i in range(0, len(reply), 2)]

    def clear(self, kind: str, key: str) -> None:
        names = self._keys(kind, key)
        self._run(lambda: self.script(names, ["clear", self.window_ms]))

    def counts(self, keys: Sequence[tuple[str, str]]) -> list[int]:
        names = [self._keys(kind, key)[0] for kind, key in keys]
        reply = self._run(lambda: self.script(names, ["count", self.window_ms]))
        return [int(n) for n in reply]

    def seen(self, user: str, fields: Sequence[str], period: float) -> tuple[list[bool], bool]:
        name = f"{self.prefix}devices:{hash_text(user, self.hash_key)}"
        hashed = [hash_text(field, self.hash_key) for field in fields]
        period_ms = max(1, round(period * 1000))
        reply = self._run(
            lambda: self.script([name], ["seen", period_ms, self.device_cap, *hashed])
        )
        return [bool(n) for n in reply[:-1]], bool(reply[-1])


class RedisActiveUsersStore(_RedisStore):
    """HyperLogLogs of hashed user ids under ``watchkit:users:<feature>:``."""

    shared = True

    def __init__(
        self, client: Any, errors: StoreErrors, *, feature: str, report_lease: float
    ) -> None:
        super().__init__(client, errors)
        self.prefix = f"watchkit:users:{feature}:"
        self.add_script = client.register_script(_ADD_SCRIPT)
        self.collect_script = client.register_script(_COLLECT_SCRIPT)
        self.reporter = RedisLock(client, self.prefix + "reporter", report_lease)

    def add(self, element: str, buckets: Sequence[tuple[str, int]]) -> None:
        """Add ``element`` to each ``(bucket name, expire-at unix time)``."""
        keys = [self.prefix + bucket for bucket, _ in buckets]
        args = [element, *(expire for _, expire in buckets)]
        self._run(lambda: self.add_script(keys, args))

    def count(self, bucket: str) -> int:
        """The estimated distinct count of ``bucket``."""
        return int(self._run(lambda: self.client.pfcount(self.prefix + bucket)))

    def collect(self, buckets: Sequence[str]) -> list[int] | None:
        """The counts of ``buckets`` if this process holds the reporter lease, else None."""
        keys = [self.prefix + bucket for bucket in buckets]
        reply = self._run(lambda: self.reporter.acquire_with(self.collect_script, keys))
        return None if reply is None else [int(n) for n in reply]
