"""The "place order -> track delivery" journey, every 5 minutes.

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
        expect_status=201,
    )
    j.state["order_id"] = placed.json()["id"]
    # The seed's alert threshold: tracking must answer within 200 ms.
    await j.get(
        "track delivery",
        f"/orders/{j.state['order_id']}",
        expect_json={"status": "placed", "restaurant": "Pasta Place"},
        max_latency=0.2,
    )
