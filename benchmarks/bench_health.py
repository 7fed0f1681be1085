"""Health probes next to fastapi-health, and the idle cost of the synthetic scheduler.

Every row answers a GET in-process through the ASGI interface (no socket), so
the rows compare the probe machinery, not the network. fastapi-health builds
one FastAPI route from its conditions and runs them on every request; its
conditions here are trivial functions, so it does strictly less than a real
check would. watchkit's /readyz rows run three checks declared with
``ttl=60``: after the first probe they are served from the cache, which is
the configuration the docs recommend for dependency checks. Check telemetry
(status gauge, duration histogram) records into the shared providers.

Measured on the shared, loaded 2-core machine (three full runs): /livez
through the FastAPI router with one uncached sync check 0.96-1.13x
fastapi-health (it was 1.75x when the router wrapped each probe in a FastAPI
handler with Request and Response objects; its routes now hand the request to
the ASGI probe directly); the sync check still runs on a worker thread, so that
a hung check never blocks the event loop. /readyz with three cached checks:
router 0.56-0.67x. Idle scheduler: 0.97-1.01x.

The scheduler rows time a CPU-bound loop while a started scheduler holds its
lock (a lock file, or a Redis lease it renews every second) and waits for a
journey due in 300 s, next to the same loop with no scheduler.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._providers import Providers
from benchmarks.bench_http import asgi_case
from benchmarks.harness import Budget, Suite


def _checks(registry: Any) -> None:
    registry.add("event-loop", lambda: None, kind="liveness")
    for name in ("postgres", "redis", "payments-api"):
        registry.add(name, lambda: True, ttl=60.0)


def _apps() -> dict[str, Any]:
    from fastapi import FastAPI
    from fastapi_health import health as fastapi_health

    from watchkit import health
    from watchkit.integrations import health as adapters

    def peer(conditions: int) -> Any:
        app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

        def postgres() -> bool:
            return True

        def redis() -> bool:
            return True

        def payments_api() -> bool:
            return True

        checks = [postgres, redis, payments_api]
        app.add_api_route("/livez", fastapi_health(checks[:1]))
        app.add_api_route("/readyz", fastapi_health(checks[:conditions]))
        return app

    registry = health.HealthRegistry()
    _checks(registry)
    router_app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
    router_app.include_router(adapters.fastapi_router(registry=registry))
    plain = health.asgi_app(registry=registry)
    bare = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @bare.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "pass"}

    return {
        "bare": bare,
        "peer": peer(1),
        "peer3": peer(3),
        "router": router_app,
        "plain": plain,
    }


def suites() -> list[Suite]:
    providers = Providers()
    apps: dict[str, Any] = {}
    live: dict[str, Any] = {}
    ready: dict[str, Any] = {}

    def setup() -> None:
        providers.install()
        apps.update(_apps())
        live.update(
            {
                "FastAPI route returning a constant (bare)": asgi_case(apps["bare"], "/livez"),
                "fastapi-health /livez (1 condition)": asgi_case(apps["peer"], "/livez"),
                "watchkit fastapi_router /livez (1 check)": asgi_case(apps["router"], "/livez"),
                "watchkit health.asgi_app /livez (1 check)": asgi_case(apps["plain"], "/livez"),
            }
        )
        ready.update(
            {
                "fastapi-health /readyz (3 conditions)": asgi_case(apps["peer3"], "/readyz"),
                "watchkit fastapi_router /readyz (3 cached checks + 1)": asgi_case(
                    apps["router"], "/readyz"
                ),
                "watchkit health.asgi_app /readyz (3 cached checks + 1)": asgi_case(
                    apps["plain"], "/readyz"
                ),
            }
        )

    return [
        Suite(
            "Health: /livez probe (ASGI, in-process)",
            cases=live,
            budgets=[
                Budget(
                    "watchkit fastapi_router /livez (1 check)",
                    "fastapi-health /livez (1 condition)",
                    1.5,
                )
            ],
            setup=setup,
            number=500,
            rounds=7,
        ),
        Suite(
            "Health: /readyz probe with three cached checks (ASGI, in-process)",
            cases=ready,
            budgets=[
                Budget(
                    "watchkit fastapi_router /readyz (3 cached checks + 1)",
                    "fastapi-health /readyz (3 conditions)",
                    1.5,
                )
            ],
            teardown=providers.uninstall,
            number=500,
            rounds=7,
        ),
        _scheduler_suite(),
    ]


def _work() -> int:
    return sum(i * i for i in range(2000))


def _scheduler_suite() -> Suite:
    """The idle cost of a started scheduler: the same loop with and without one.

    Each case brings the scheduler to its state (stopped, or started,
    holding its lock and past its first run) before its clock starts, so
    rounds alternate between the conditions and the start-up never counts. The Redis row holds a
    lease on a private redis-server with ``takeover=3``: it renews every
    second, ten times as often as the default, so the renewals show.
    """
    import redis
    from tests.support.redis_server import RedisServer

    from watchkit import synthetic

    state: dict[str, Any] = {}

    async def idle_journey(j: synthetic.Journey) -> None:
        return None

    def setup() -> None:
        synthetic.journey("bench-idle", interval=300)(idle_journey)
        definition = synthetic.journeys()["bench-idle"]
        lock = Path(tempfile.mkdtemp(prefix="watchkit-bench-")) / "synthetic.lock"
        state["server"] = server = RedisServer().start()
        state["client"] = client = redis.Redis(port=server.port, socket_timeout=1)
        state["file"] = synthetic.Scheduler([definition], lock_path=lock, name="bench-file")
        state["redis"] = synthetic.Scheduler(
            [definition], lock=client, name="bench-redis", takeover=3.0
        )

    def teardown() -> None:
        for key in ("file", "redis"):
            state[key].stop()
        state["client"].close()
        state["server"].close()

    def only(running: str | None) -> None:
        for key in ("file", "redis"):
            scheduler = state[key]
            if key == running and not scheduler.running:
                # Started, holding the lock, and past the first run (due at
                # once): what is timed is the wait for the next one.
                scheduler.results.clear()
                scheduler.start()
                deadline = time.monotonic() + 10
                while "bench-idle" not in scheduler.results and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.05)
            elif key != running and scheduler.running:
                scheduler.stop()

    def timed_loop(running: str | None) -> Any:
        def timed(number: int) -> float:
            only(running)
            gc.collect()  # the start-up's garbage must not be collected on the clock
            return Suite._time(_work, number)  # as a plain case: gc off while timed

        timed.timed = True  # type: ignore[attr-defined]
        return timed

    return Suite(
        "Synthetic scheduler: idle cost to a serving process (CPU-bound loop)",
        cases={
            "loop, no scheduler": timed_loop(None),
            "loop, lock-file scheduler holding and idle": timed_loop("file"),
            "loop, Redis-lock scheduler holding and idle (renews every 1 s)": timed_loop("redis"),
        },
        budgets=[
            Budget("loop, lock-file scheduler holding and idle", "loop, no scheduler", 1.05),
            Budget(
                "loop, Redis-lock scheduler holding and idle (renews every 1 s)",
                "loop, no scheduler",
                1.05,
            ),
        ],
        setup=setup,
        teardown=teardown,
        number=300,
        rounds=9,
    )
