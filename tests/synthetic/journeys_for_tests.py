"""Journeys the CLI test imports by module path (``python -m watchkit synthetic run``)."""

from __future__ import annotations

from watchkit import synthetic


@synthetic.journey("cli-order", interval=60)
async def cli_order(j: synthetic.Journey) -> None:
    placed = await j.post("place order", "/orders", json={"dish": "pho"})
    j.state["order_id"] = placed.json()["id"]
    await j.get("track delivery", f"/orders/{j.state['order_id']}/fail")
