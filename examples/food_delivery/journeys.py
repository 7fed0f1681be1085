"""The "place order -> track delivery" synthetic journey, every 5 minutes.

In the example it runs **in-process**: with ``FOOD_DELIVERY_SYNTHETIC_BASE_URL`` set
(``python -m examples.food_delivery`` sets it), the app's lifespan calls
``synthetic.start()``, and one process per host runs it at start-up and then every
5 minutes. Without that variable, run it from outside with the CLI::

    python -m watchkit synthetic run examples.food_delivery.journeys \\
        --base-url http://localhost:8000 --interval 300    # or --once (exit 1 on failure)
"""

from __future__ import annotations

from watchkit import synthetic


@synthetic.journey("place-order-track-delivery", interval=300)
async def place_order_track_delivery(j: synthetic.Journey) -> None:
    placed = await j.post(
        "place order",
        "/orders",
        json={"restaurant": "Pasta Place", "items": ["carbonara"], "total": 14.5},
        headers={"x-customer-id": "synthetic"},
        expect_status=201,
    )
    j.state["order_id"] = placed.json()["id"]
    # The delivery-tracking API's alert threshold: it must answer within 200 ms.
    await j.get(
        "track delivery",
        f"/orders/{j.state['order_id']}/tracking",
        headers={"x-customer-id": "synthetic"},
        expect_json={"status": "placed", "restaurant": "Pasta Place"},
        max_latency=0.2,
    )
    # Cancel the test order, so it counts neither as a sale nor as an abandoned checkout.
    await j.request("cancel order", "DELETE", f"/orders/{j.state['order_id']}")
