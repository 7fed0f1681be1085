"""Per-operation cost of watchkit's Django database and cache hooks.

Database: one parameterised ``SELECT`` through a Django cursor on SQLite in
memory, three aliases of the same settings: no instrumentation, the contrib
dbapi instrumentation wrapping the driver connection (how contrib covers
Django's queries), and watchkit's execute wrapper. The budget is the one of
``bench_db``: watchkit's overhead at most half of contrib's, missed for the same
reason (the SDK's span and histogram point alone cost more than half of contrib's
overhead; see ``bench_db``'s docstring). Measured: 0.75, 0.73, 0.76 (0.71 to
0.80 before the per-query trimming of ``watchkit.db``; Django's own
execute-wrapper machinery adds to watchkit's row, not contrib's).

Cache: ``cache.get`` of Django's ``RedisCache`` against a private
``redis-server`` on loopback, bare and recorded (one counter and one histogram
point); the budget is ``bench_cache``'s: at most 30 % more per ``GET``.
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks._providers import Providers
from benchmarks.harness import Budget, Suite

QUERY = "SELECT id, city FROM orders WHERE id = %s"
ALIASES = ("bare", "contrib", "watchkit")


def suites() -> list[Suite]:
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "database"
    import django
    from django.conf import settings
    from tests.support.redis_server import RedisServer

    server = RedisServer()
    memory = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    redis_cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{server.port}/0",
    }
    settings.configure(
        DATABASES={"default": memory, **{alias: dict(memory) for alias in ALIASES}},
        CACHES={"default": redis_cache, "bare": redis_cache, "watchkit": redis_cache},
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()
    from django.core.cache import caches
    from django.db import connections
    from opentelemetry.instrumentation import dbapi

    from watchkit.integrations import _django_cache, _django_db
    from watchkit.integrations.django import instrument_caches, instrument_databases

    providers = Providers()
    cursors: dict[str, Any] = {}
    backends: dict[str, Any] = {}

    def start() -> None:
        providers.install()
        server.start()
        instrument_databases()
        for alias in ALIASES:
            connection = connections[alias]
            connection.ensure_connection()
            if alias == "contrib":
                connection.connection = dbapi.instrument_connection(
                    "bench", connection.connection, "sqlite",
                    tracer_provider=providers.tracer_provider,
                    meter_provider=providers.meter_provider,
                )  # fmt: skip
            if alias != "watchkit":
                connection.execute_wrappers.remove(_django_db._wrapper)
            cursor = connection.cursor()
            cursor.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, city TEXT)")
            cursor.execute("INSERT INTO orders VALUES (1, 'Lyon')")
            cursors[alias] = cursor
        backends["bare"] = caches["bare"]  # created before the hook
        instrument_caches(["watchkit"])
        backends["watchkit"] = caches["watchkit"]
        backends["bare"].set("menu", ["carbonara"])

    def stop() -> None:
        _django_cache.uninstall()
        _django_db.uninstall()
        connections.close_all()
        server.stop()
        providers.uninstall()

    def query(alias: str) -> Any:
        def one() -> object:
            cursor = cursors[alias]
            cursor.execute(QUERY, (1,))
            return cursor.fetchone()

        return one

    def get(alias: str) -> Any:
        return lambda: backends[alias].get("menu")

    database = Suite(
        "Django: per-query cost, SQLite in memory through a Django cursor",
        cases={
            "bare Django cursor": query("bare"),
            "contrib dbapi around Django's driver connection": query("contrib"),
            "watchkit Django execute wrapper": query("watchkit"),
        },
        budgets=[
            Budget(
                "watchkit Django execute wrapper",
                "contrib dbapi around Django's driver connection",
                0.5,
                overhead_of="bare Django cursor",
            )
        ],
        setup=start,
        number=1000,
        rounds=11,
    )
    cache = Suite(
        "Django: per-operation cost, RedisCache get",
        cases={
            "bare Django RedisCache get": get("bare"),
            "watchkit Django cache hook get": get("watchkit"),
        },
        budgets=[Budget("watchkit Django cache hook get", "bare Django RedisCache get", 1.3)],
        teardown=stop,
        number=500,
        rounds=11,
    )
    return [database, cache]
