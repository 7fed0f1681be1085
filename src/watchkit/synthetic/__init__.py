"""Synthetic checks: scripted journeys through your service's critical flows.

::

    from watchkit import synthetic

    @synthetic.journey("order-and-track", interval=300)
    async def order_and_track(j: synthetic.Journey) -> None:
        order = await j.post("place order", "/orders", json={"dish": "pho"})
        j.state["order_id"] = order.json()["id"]
        await j.get("track delivery", f"/orders/{j.state['order_id']}",
                    expect_json={"status": "cooking"}, max_latency=0.2)

Run them with ``python -m watchkit synthetic run myapp.journeys --base-url
https://shop.example --interval 300`` (or ``--once``: exit status 1 when a
journey fails), from code with ``await synthetic.run("order-and-track")``, or
in-process with :func:`start` (one process runs them: per host with the default
lock file, across hosts with ``lock=redis.Redis(...)``).
httpx is needed (``pip install httpx``).
"""

from __future__ import annotations

from watchkit.synthetic._context import is_synthetic
from watchkit.synthetic._journey import (
    Journey,
    JourneyDefinition,
    Result,
    RunResult,
    StepFailed,
    StepResult,
    journey,
    journeys,
    run,
    user_agent,
)
from watchkit.synthetic._scheduler import Scheduler, start, stop

__all__ = [
    "Journey",
    "JourneyDefinition",
    "Result",
    "RunResult",
    "Scheduler",
    "StepFailed",
    "StepResult",
    "is_synthetic",
    "journey",
    "journeys",
    "run",
    "start",
    "stop",
    "user_agent",
]

for _cls in (Journey, JourneyDefinition, RunResult, Scheduler, StepFailed, StepResult):
    _cls.__module__ = __name__
