"""Per-operation cost of ``watchkit.cache`` next to bare redis-py and a bare dict lookup.

Redis rows send ``GET`` to a private ``redis-server`` on loopback (the test
suite's fixture) over one connection; the instrumented client records one
counter and one histogram point per command. The in-process rows compare a
``watchkit.cache.lookup`` block around a dict lookup with the bare lookup.
No contrib instrumentation records cache hits, so the budget is against the
bare client: at most 30 % more per Redis ``GET``.
"""

from __future__ import annotations

from typing import Any

from benchmarks._providers import Providers
from benchmarks.harness import Budget, Suite


def suites() -> list[Suite]:
    import redis
    from tests.support.redis_server import RedisServer

    import watchkit.cache

    providers = Providers()
    server = RedisServer()
    clients: dict[str, Any] = {}
    prices = {"sku-1": 10}

    def start() -> None:
        providers.install()
        server.start()
        clients["bare"] = redis.Redis(host="127.0.0.1", port=server.port)
        clients["ours"] = watchkit.cache.instrument_redis(
            redis.Redis(host="127.0.0.1", port=server.port), name="bench"
        )
        clients["bare"].set("k", "v")

    def stop() -> None:
        for client in clients.values():
            client.close()
        server.stop()
        providers.uninstall()

    def bare_get() -> object:
        return clients["bare"].get("k")

    def our_get() -> object:
        return clients["ours"].get("k")

    def bare_dict() -> object:
        return prices.get("sku-1")

    def our_dict() -> object:
        with watchkit.cache.lookup("prices") as c:
            value = prices.get("sku-1")
            if value is None:
                c.miss()
            else:
                c.hit()
        return value

    return [
        Suite(
            "Cache: per-operation cost",
            cases={
                "bare redis-py GET": bare_get,
                "watchkit.cache.instrument_redis GET": our_get,
                "bare dict lookup": bare_dict,
                "watchkit.cache.lookup around a dict lookup": our_dict,
            },
            budgets=[Budget("watchkit.cache.instrument_redis GET", "bare redis-py GET", 1.3)],
            setup=start,
            teardown=stop,
            number=500,
            rounds=11,
        )
    ]
