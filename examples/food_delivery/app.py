"""A small food-delivery API, instrumented with watchkit: place, track and pay for orders.

Run it from the repository root::

    uvicorn examples.food_delivery.app:app

then, in another terminal::

    curl -X POST localhost:8000/orders -H 'content-type: application/json' \\
         -d '{"restaurant": "Pasta Place", "items": ["carbonara"], "total": 14.5}'
    curl localhost:8000/orders/1
    curl -X POST 'localhost:8000/orders/1/payment?card_token=tok_visa'
    curl -X POST 'localhost:8000/orders/1/payment?card_token=tok_declined'

With no OTLP endpoint configured, watchkit prints spans, log lines and a metrics summary
to the console. Set ``OTEL_EXPORTER_OTLP_ENDPOINT`` to send the same telemetry to an
OpenTelemetry collector instead. Each request shows one span named after its route
(``POST /orders/{order_id}/payment``), log lines carry ``request_id``, ``http.route``,
``trace_id`` and ``span_id``, and the ``token`` query value is recorded as ``[REDACTED]``.
"""

from __future__ import annotations

import itertools
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import watchkit
from watchkit import health as probes
from watchkit.integrations import health as health_endpoints

watchkit.configure(service_name="food-delivery")
log = watchkit.get_logger("food_delivery")

app = FastAPI(title="Food delivery")
watchkit.instrument_fastapi(app, capture_request_headers=["x-tenant"])

_ids = itertools.count(1)
ORDERS: dict[int, dict[str, Any]] = {}


class NewOrder(BaseModel):
    restaurant: str
    items: list[str]
    total: float


class PaymentDeclinedError(Exception):
    """The payment provider declined the card (a 502 for the client)."""


@app.post("/orders", status_code=201)
async def place_order(order: NewOrder) -> dict[str, Any]:
    order_id = next(_ids)
    ORDERS[order_id] = {"id": order_id, "status": "placed", **order.model_dump()}
    log.info("order.placed", order_id=order_id, restaurant=order.restaurant, total=order.total)
    return ORDERS[order_id]


@app.get("/orders/{order_id}")
async def track_order(order_id: int) -> dict[str, Any]:
    order = ORDERS.get(order_id)
    if order is None:
        log.warning("order.not_found", order_id=order_id)
        raise HTTPException(status_code=404, detail="no such order")
    return order


@app.post("/orders/{order_id}/payment")
async def pay(order_id: int, card_token: str) -> dict[str, Any]:
    order = ORDERS.get(order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="no such order")
    if card_token == "tok_declined":
        # An unhandled exception: recorded on the span (error.type, stack trace), 500.
        raise PaymentDeclinedError(f"card declined for order {order_id}")
    order["status"] = "paid"
    log.info("order.paid", order_id=order_id)
    return order


@app.get("/health")
async def health() -> dict[str, str]:
    """Excluded by default: no span, no metrics for probes."""
    return {"status": "ok"}


# Probes: /livez checks the process only, /readyz also the order store (cached
# 2 s, so kubelets and load balancers cannot hammer it), /healthz everything.
@probes.check("order-store", component_type="datastore", ttl=2.0)
def order_store() -> bool:
    return isinstance(ORDERS, dict)


probes.add("disk", probes.disk("/"), kind="liveness", critical=False)
app.include_router(health_endpoints.fastapi_router())
