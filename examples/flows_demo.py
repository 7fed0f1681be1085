"""Food delivery, instrumented with flows, business metrics and events.

Run it: ``python examples/flows_demo.py``. With no collector configured, watchkit
prints spans, log records and (at exit) metrics on the console, so you can see
what each line of instrumentation produces:

- ``checkout.place_order`` flows, one per order, each with a child
  ``payments.charge`` flow and a ``route.compute`` span from a worker thread;
- ``watchkit.flow.duration`` by flow and outcome (declined cards are handled
  failures, a missing restaurant is an expected error);
- ``orders.placed`` / ``payments.failed`` counters, a basket-value histogram,
  a couriers-online gauge, and ``watchkit.events`` for business events;
- ``delivery.track`` as an async generator flow that streams status updates.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import watchkit
import watchkit.context


class RestaurantClosed(Exception):
    """The restaurant does not take orders right now: a normal outcome, not an error."""


ORDERS = watchkit.counter("orders.placed", unit="{order}", description="Orders placed")
PAYMENTS_FAILED = watchkit.counter("payments.failed", unit="{payment}")
BASKET = watchkit.histogram("checkout.basket.value", unit="EUR", buckets=[10, 20, 40, 80])
COURIERS = {"north": 4, "south": 2}
watchkit.gauge(
    "delivery.couriers.online",
    unit="{courier}",
    callback=lambda: [(count, {"zone": zone}) for zone, count in COURIERS.items()],
)


@watchkit.traced("route.compute", record_args=("zone",))
def compute_route(zone: str) -> int:
    """Minutes to deliver; runs in a worker thread."""
    return random.randint(15, 40)


def charge(amount: float, rng: random.Random) -> bool:
    with watchkit.flow("payments.charge", provider="stripe") as payment:
        payment.set_attribute("payment.amount", amount)  # span only: fine per order
        if rng.random() < 0.25:
            payment.fail("card_declined")
            PAYMENTS_FAILED.add(1, {"error.type": "card_declined"})
            return False
        return True


@watchkit.flow("checkout.place_order", expected=(RestaurantClosed,), channel="app")
def place_order(order_id: str, zone: str, amount: float, rng: random.Random) -> int:
    if rng.random() < 0.1:
        raise RestaurantClosed(order_id)
    BASKET.record(amount, channel="app")
    if not charge(amount, rng):
        watchkit.event("checkout.abandoned", step="payment", order_id=order_id)
        return 0
    with watchkit.context.ContextExecutor(max_workers=1) as pool:
        minutes = pool.submit(compute_route, zone).result()
    ORDERS.add(1, zone=zone)
    watchkit.event("order.placed", order_id=order_id, eta_minutes=minutes)
    return minutes


@watchkit.flow("delivery.track")
async def track(order_id: str) -> AsyncIterator[str]:
    for status in ("preparing", "picked up", "delivered"):
        await asyncio.sleep(0.01)
        yield f"{order_id}: {status}"


async def follow(order_id: str) -> None:
    async for update in track(order_id):
        print("  ", update)


def main() -> None:
    watchkit.configure(service_name="food-delivery", exporter="console")
    rng = random.Random(7)
    placed = []
    for number in range(8):
        order_id = f"o-{number}"
        try:
            minutes = place_order(order_id, rng.choice(["north", "south"]), 12.5 + number * 6, rng)
        except RestaurantClosed:
            print(f"{order_id}: restaurant closed")
            continue
        print(f"{order_id}: " + (f"ETA {minutes} min" if minutes else "payment declined"))
        if minutes:
            placed.append(order_id)
    asyncio.run(follow(placed[0]))
    watchkit.shutdown()


if __name__ == "__main__":
    main()
