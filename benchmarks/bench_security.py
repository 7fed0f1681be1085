"""Per-call cost of ``LoginMonitor.record`` (a failed login) and ``ActiveUsers.record``.

Memory rows: the bare code is a dict of deques (append, drop what left the
window, compare with the limit); ``LoginMonitor.record`` adds the audit record
(``audit.login``, numbered and hashed) and the attempts counter on top of its
window. Redis rows go to a private ``redis-server`` on loopback (the test
suite's fixture): the bare code is the same window as one ``MULTI`` pipeline
(``ZREMRANGEBYSCORE``, ``ZADD``, ``ZCARD``, ``PEXPIRE``), the peer is the
``limits`` library's moving window on its Redis storage (what Flask-Limiter
and SlowAPI use, also one Lua script per hit). Each failure is keyed by IP and
user, so ``LoginMonitor`` updates two windows per call in its one round trip.
Active users: ``PFADD`` of a new id next to ``ActiveUsers.record`` of a new id
and of a returning one (a set lookup, no round trip).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from typing import Any

from benchmarks._providers import Providers
from benchmarks.harness import Budget, Suite


def suites() -> list[Suite]:
    import redis
    from limits import RateLimitItemPerMinute, storage, strategies
    from tests.support.redis_server import RedisServer

    import watchkit
    from watchkit.security import LoginMonitor, active_users

    server = RedisServer()
    state: dict[str, Any] = {}
    item = RateLimitItemPerMinute(1000)
    window = 600.0
    limit = 1000  # never reached: every row does the same work on every call
    windows: dict[str, deque[float]] = {}
    ids = itertools.count()

    def start_memory() -> None:
        state["providers"] = Providers()
        state["providers"].install()
        state["memory"] = LoginMonitor(max_failures=limit, window=window, new_device_period=None)
        state["limits_memory"] = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def stop_memory() -> None:
        state["providers"].uninstall()

    def start() -> None:
        state["providers"] = Providers()
        state["providers"].install()
        server.start()
        url = server.url
        state["client"] = redis.Redis(host="127.0.0.1", port=server.port)
        state["redis"] = LoginMonitor(
            max_failures=limit, window=window, store=url, name="bench", new_device_period=None
        )
        state["limits_redis"] = strategies.MovingWindowRateLimiter(storage.storage_from_string(url))
        state["users"] = active_users("bench", store=url)
        state["users"].record("returning")

    def stop() -> None:
        state["client"].close()
        server.stop()
        state["providers"].uninstall()

    def bare_memory() -> object:
        now = time.monotonic()
        times = windows.get("203.0.113.7")
        if times is None:
            times = windows["203.0.113.7"] = deque()
        times.append(now)
        while times and times[0] <= now - window:
            times.popleft()
        return len(times) > limit

    def audit_only() -> object:
        watchkit.audit("login", actor="ana", outcome="failure", **{"client.address": "203.0.113.7"})
        return None

    def ours_memory() -> object:
        return state["memory"].record(False, user="ana", source_ip="203.0.113.7")

    def limits_memory() -> object:
        return state["limits_memory"].hit(item, "login", "203.0.113.7")

    def bare_redis() -> object:
        now = time.time() * 1000
        pipe = state["client"].pipeline()
        pipe.zremrangebyscore("bare:203.0.113.7", "-inf", now - window * 1000)
        pipe.zadd("bare:203.0.113.7", {str(next(ids)): now})
        pipe.zcard("bare:203.0.113.7")
        pipe.pexpire("bare:203.0.113.7", int(window * 1000))
        return pipe.execute()[2] > limit

    def ours_redis() -> object:
        return state["redis"].record(False, user="ana", source_ip="203.0.113.7")

    def limits_redis() -> object:
        return state["limits_redis"].hit(item, "login", "203.0.113.7")

    def is_blocked_redis() -> object:
        return state["redis"].is_blocked(source_ip="203.0.113.7", user="ana")

    def limits_test_redis() -> object:
        return state["limits_redis"].test(item, "login", "203.0.113.7")

    def bare_pfadd() -> object:
        return state["client"].pfadd("bare:users", f"user-{next(ids)}")

    def ours_new_user() -> None:
        state["users"].record(f"user-{next(ids)}")

    def ours_returning_user() -> None:
        state["users"].record("returning")

    return [
        Suite(
            "LoginMonitor.record (failed login): memory store",
            cases={
                "bare dict of deques": bare_memory,
                "limits moving window, MemoryStorage (peer)": limits_memory,
                "watchkit.audit('login') alone": audit_only,
                "LoginMonitor.record, memory (with audit record)": ours_memory,
            },
            budgets=[
                # The audit record is the point of record(); on top of it come the
                # attempts counter (one SDK add, ~8 us) and the two windows (~3 us).
                Budget(
                    "LoginMonitor.record, memory (with audit record)",
                    "watchkit.audit('login') alone",
                    1.6,
                )
            ],
            setup=start_memory,
            teardown=stop_memory,
            number=500,
            rounds=9,
            notes=[
                "LoginMonitor writes one audit record per attempt (numbered, hashed), "
                "which limits does not: most of its cost, shown alone in its own row."
            ],
        ),
        Suite(
            "LoginMonitor.record (failed login): Redis on loopback",
            cases={
                "bare redis-py MULTI window (1 key)": bare_redis,
                "limits moving window, RedisStorage (peer, 1 key)": limits_redis,
                "LoginMonitor.record, Redis (IP and user keys)": ours_redis,
                "limits moving window test(), RedisStorage": limits_test_redis,
                "LoginMonitor.is_blocked, Redis (IP and user)": is_blocked_redis,
                "bare redis-py PFADD": bare_pfadd,
                "ActiveUsers.record, Redis, new id": ours_new_user,
                "ActiveUsers.record, Redis, returning id": ours_returning_user,
            },
            budgets=[
                Budget(
                    "LoginMonitor.record, Redis (IP and user keys)",
                    "limits moving window, RedisStorage (peer, 1 key)",
                    3.5,
                ),
                Budget(
                    "LoginMonitor.is_blocked, Redis (IP and user)",
                    "limits moving window test(), RedisStorage",
                    1.5,
                ),
                Budget("ActiveUsers.record, Redis, new id", "bare redis-py PFADD", 2.0),
            ],
            setup=start,
            teardown=stop,
            number=300,
            rounds=9,
            notes=[
                "LoginMonitor.record updates two windows (IP and user) in one script call "
                "and writes the audit record (about 50 µs here) that limits does not."
            ],
        ),
    ]
