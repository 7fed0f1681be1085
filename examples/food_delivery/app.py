"""A small food-delivery API, instrumented with watchkit: place, track and pay for orders.

Run it from the repository root, with the stand-in payment provider beside it::

    uvicorn examples.food_delivery.payments:app --port 8001 &
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

What the service depends on is recorded too:

- the database (SQLite; ``FOOD_DELIVERY_DB``, default in memory) through
  :func:`watchkit.db.instrument_connection`: a span ``INSERT orders`` per query and
  ``db.client.operation.duration``;
- the menu cache (:func:`watchkit.cache.memoize`): ``watchkit.cache.operations`` with
  ``cache.name="menus"`` and ``cache.result`` hit or miss;
- the payment provider (``FOOD_DELIVERY_PAYMENTS_URL``, default ``http://127.0.0.1:8001``),
  called with httpx and declared as the dependency ``payments``:
  ``http.client.request.duration`` with ``service.peer.name="payments"``, and no trace
  headers sent to it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import watchkit
import watchkit.cache
import watchkit.db
import watchkit.http_client
from watchkit import health as probes
from watchkit.integrations import health as health_endpoints

DB_PATH = os.environ.get("FOOD_DELIVERY_DB", ":memory:")
PAYMENTS_URL = os.environ.get("FOOD_DELIVERY_PAYMENTS_URL", "http://127.0.0.1:8001")

watchkit.configure(service_name="food-delivery")
# The payment provider is an external dependency: measured, never sent our trace headers.
watchkit.http_client.instrument(dependencies={"payments": [urlsplit(PAYMENTS_URL).hostname or ""]})
log = watchkit.get_logger("food_delivery")

app = FastAPI(title="Food delivery")
watchkit.instrument_fastapi(app, capture_request_headers=["x-tenant"])

db = watchkit.db.instrument_connection(
    sqlite3.connect(DB_PATH, check_same_thread=False), namespace="food_delivery"
)
db_lock = threading.Lock()  # one connection, shared by the worker's threads
with db_lock:
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS orders (
            id INTEGER PRIMARY KEY AUTOINCREMENT, restaurant TEXT NOT NULL,
            items TEXT NOT NULL, total REAL NOT NULL, status TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS menu_items (restaurant TEXT NOT NULL, item TEXT NOT NULL);
        """
    )
    if not db.execute("SELECT COUNT(*) FROM menu_items").fetchone()[0]:
        db.executemany(
            "INSERT INTO menu_items (restaurant, item) VALUES (?, ?)",
            [("Pasta Place", "carbonara"), ("Pasta Place", "lasagne"), ("Sushi Bar", "maki")],
        )
    db.commit()


class NewOrder(BaseModel):
    restaurant: str
    items: list[str]
    total: float


class PaymentDeclinedError(Exception):
    """The payment provider declined the card (a 500 for the client)."""


@watchkit.cache.memoize("menus", maxsize=256, ttl=60)
def restaurant_menu(restaurant: str) -> frozenset[str]:
    """A restaurant's dishes: read from the database on a miss, then cached for a minute."""
    with db_lock:
        rows = db.execute(
            "SELECT item FROM menu_items WHERE restaurant = ?", (restaurant,)
        ).fetchall()
    return frozenset(row[0] for row in rows)


def _load(order_id: int) -> dict[str, Any] | None:
    with db_lock:
        row = db.execute(
            "SELECT id, restaurant, items, total, status FROM orders WHERE id = ?", (order_id,)
        ).fetchone()
    if row is None:
        return None
    return {"id": row[0], "restaurant": row[1], "items": json.loads(row[2]),
            "total": row[3], "status": row[4]}  # fmt: skip


@app.post("/orders", status_code=201)
async def place_order(order: NewOrder) -> dict[str, Any]:
    menu = restaurant_menu(order.restaurant)
    unknown = [item for item in order.items if menu and item not in menu]
    if unknown:
        raise HTTPException(status_code=422, detail=f"not on the menu: {', '.join(unknown)}")
    with db_lock:
        cursor = db.execute(
            "INSERT INTO orders (restaurant, items, total, status) VALUES (?, ?, ?, 'placed')",
            (order.restaurant, json.dumps(order.items), order.total),
        )
        db.commit()
    order_id = int(cursor.lastrowid or 0)
    log.info("order.placed", order_id=order_id, restaurant=order.restaurant, total=order.total)
    return {"id": order_id, "status": "placed", **order.model_dump()}


@app.get("/orders/{order_id}")
async def track_order(order_id: int) -> dict[str, Any]:
    order = _load(order_id)
    if order is None:
        log.warning("order.not_found", order_id=order_id)
        raise HTTPException(status_code=404, detail="no such order")
    return order


@app.post("/orders/{order_id}/payment")
async def pay(order_id: int, card_token: str) -> dict[str, Any]:
    order = _load(order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="no such order")
    async with httpx.AsyncClient(base_url=PAYMENTS_URL, timeout=5.0) as provider:
        charge = await provider.post(
            "/v1/charges",
            json={"order_id": order_id, "amount": order["total"], "card_token": card_token},
        )
    if charge.status_code == 402:
        # An unhandled exception: recorded on the span (error.type, stack trace), 500.
        raise PaymentDeclinedError(f"card declined for order {order_id}")
    charge.raise_for_status()
    with db_lock:
        db.execute("UPDATE orders SET status = 'paid' WHERE id = ?", (order_id,))
        db.commit()
    log.info("order.paid", order_id=order_id)
    order["status"] = "paid"
    return order


@app.get("/health")
async def health() -> dict[str, str]:
    """Excluded by default: no span, no metrics for probes."""
    return {"status": "ok"}


# Probes: /livez checks the process only, /readyz also the order store (cached
# 2 s, so kubelets and load balancers cannot hammer it), /healthz everything.
@probes.check("order-store", component_type="datastore", ttl=2.0)
def order_store() -> bool:
    with db_lock:
        return db.execute("SELECT 1").fetchone() == (1,)


probes.add("disk", probes.disk("/"), kind="liveness", critical=False)
app.include_router(health_endpoints.fastapi_router())
