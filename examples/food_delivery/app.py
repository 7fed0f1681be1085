"""A small food-delivery API, instrumented with watchkit: order, pay, confirm, track, refund.

Run everything with one command from the repository root (servers, traffic, console output)::

    make example NAME=food_delivery        # or: python -m examples.food_delivery

or by hand, with the stand-in payment provider beside it::

    uvicorn examples.food_delivery.payments:app --port 8001 &
    uvicorn examples.food_delivery.app:app

then, in another terminal::

    curl -X POST localhost:8000/orders -H 'content-type: application/json' \\
         -H 'x-customer-id: cu-7' \\
         -d '{"restaurant": "Pasta Place", "items": ["carbonara"], "total": 14.5}'
    curl -X POST 'localhost:8000/orders/1/payment?card_token=tok_visa'
    curl -X POST localhost:8000/orders/1/confirmation -H 'content-type: application/json' \\
         -d '{"accepted": true, "prep_minutes": 12}'
    curl localhost:8000/orders/1/tracking -H 'x-customer-id: cu-7'
    curl localhost:8000/orders/1/map -H 'x-customer-id: cu-7'
    curl -X POST localhost:8000/orders/1/refund -H 'x-agent-id: ag-2' \\
         -H 'content-type: application/json' -d '{"reason": "cold food"}'
    curl -X POST localhost:8000/couriers/login -H 'content-type: application/json' \\
         -d '{"courier": "c-1", "password": "wrong"}'

With no OTLP endpoint configured, watchkit prints spans, log lines and a metrics summary
to the console (stderr). Set ``OTEL_EXPORTER_OTLP_ENDPOINT`` to send the same telemetry to
an OpenTelemetry collector instead. The README maps each part of this file to what it shows.

Who is calling stands in for your authentication: ``x-customer-id`` (a customer),
``x-agent-id`` (a support agent). Behind a load balancer, set ``WATCHKIT_TRUSTED_PROXIES``
so the courier-login monitor counts the client's address, not the balancer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import watchkit
import watchkit.cache
import watchkit.db
import watchkit.http_client
from watchkit import health as probes
from watchkit import synthetic
from watchkit.integrations import health as health_endpoints
from watchkit.security import LoginMonitor

DB_PATH = os.environ.get("FOOD_DELIVERY_DB", ":memory:")
PAYMENTS_URL = os.environ.get("FOOD_DELIVERY_PAYMENTS_URL", "http://127.0.0.1:8001")
# Baskets placed but not paid within this many seconds count as abandoned checkouts.
ABANDON_AFTER = float(os.environ.get("FOOD_DELIVERY_ABANDON_AFTER", "900"))
# Where the in-process synthetic journey reaches this service (unset: no journey here;
# run it with `python -m watchkit synthetic run` instead, see journeys.py).
SYNTHETIC_BASE_URL = os.environ.get("FOOD_DELIVERY_SYNTHETIC_BASE_URL")
# The lock file electing the one process per host that runs it (default: in the temp dir).
SYNTHETIC_LOCK = os.environ.get("FOOD_DELIVERY_SYNTHETIC_LOCK")

watchkit.configure(service_name="food-delivery")
# The payment provider is an external dependency: measured, never sent our trace headers.
watchkit.http_client.instrument(dependencies={"payments": [urlsplit(PAYMENTS_URL).hostname or ""]})
log = watchkit.get_logger("food_delivery")

# Business metrics. No order, customer or restaurant ids as attributes: those belong on
# spans and logs; metric attributes stay a handful of values.
ORDERS = watchkit.counter("orders.placed", unit="{order}", description="Orders placed")
FAILED_PAYMENTS = watchkit.counter(
    "payments.failed", unit="{payment}", description="Payments that failed, by reason"
)
BASKET_VALUE = watchkit.histogram(
    "orders.basket.value",
    unit="EUR",
    description="Value of the placed baskets",
    buckets=[5, 10, 15, 20, 30, 50, 75, 100, 150],
)
ABANDONED = watchkit.counter(
    "checkout.abandoned", unit="{basket}", description="Baskets not paid in time"
)
# Daily active customers: distinct ids per UTC day, reported as `watchkit.users.active`.
CUSTOMERS = watchkit.active_users("food-delivery", periods=("day",))
# More than 5 failed courier logins from one address (or for one courier) within 10 min:
# a `security.brute_force_suspected` record and `watchkit.security.alerts`; then 429.
COURIER_LOGINS = LoginMonitor(max_failures=5, window=600, name="courier-login")
# Stand-in for the courier accounts (a real service keeps password hashes).
COURIER_PASSWORDS = {f"c-{n}": f"courier-pass-{n}" for n in range(1, 9)}

db = watchkit.db.instrument_connection(
    sqlite3.connect(DB_PATH, check_same_thread=False), namespace="food_delivery"
)
db_lock = threading.Lock()  # one connection, shared by the worker's threads
with db_lock:
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS orders (
            id INTEGER PRIMARY KEY AUTOINCREMENT, restaurant TEXT NOT NULL,
            items TEXT NOT NULL, total REAL NOT NULL, status TEXT NOT NULL,
            customer TEXT NOT NULL DEFAULT 'guest', created_at REAL NOT NULL DEFAULT 0,
            charge_id TEXT, courier TEXT, ready_at REAL
        );
        CREATE TABLE IF NOT EXISTS menu_items (restaurant TEXT NOT NULL, item TEXT NOT NULL);
        """
    )
    if not db.execute("SELECT COUNT(*) FROM menu_items").fetchone()[0]:
        db.executemany(
            "INSERT INTO menu_items (restaurant, item) VALUES (?, ?)",
            [("Pasta Place", "carbonara"), ("Pasta Place", "lasagne"), ("Sushi Bar", "maki"),
             ("Sushi Bar", "nigiri"), ("Curry House", "korma"), ("Curry House", "dal")],
        )  # fmt: skip
    db.commit()


class NewOrder(BaseModel):
    restaurant: str
    items: list[str]
    total: float


class Confirmation(BaseModel):
    accepted: bool
    prep_minutes: int = 15


class Refund(BaseModel):
    reason: str


class CourierLogin(BaseModel):
    courier: str
    password: str


@watchkit.cache.memoize("menus", maxsize=256, ttl=60)
def restaurant_menu(restaurant: str) -> frozenset[str]:
    """A restaurant's dishes: read from the database on a miss, then cached for a minute."""
    with db_lock:
        rows = db.execute(
            "SELECT item FROM menu_items WHERE restaurant = ?", (restaurant,)
        ).fetchall()
    return frozenset(row[0] for row in rows)


_COLUMNS = ("id", "restaurant", "items", "total", "status", "customer", "created_at",
            "charge_id", "courier", "ready_at")  # fmt: skip


def _load(order_id: int) -> dict[str, Any] | None:
    with db_lock:
        row = db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM orders WHERE id = ?", (order_id,)
        ).fetchone()
    if row is None:
        return None
    order = dict(zip(_COLUMNS, row, strict=True))
    order["items"] = json.loads(order["items"])
    return order


def _public(order: dict[str, Any]) -> dict[str, Any]:
    return {k: order[k] for k in ("id", "restaurant", "items", "total", "status")}


def _order_or_404(order_id: int) -> dict[str, Any]:
    order = _load(order_id)
    if order is None:
        log.warning("order.not_found", order_id=order_id)
        raise HTTPException(status_code=404, detail="no such order")
    return order


def _set(order_id: int, **columns: Any) -> None:
    assignments = ", ".join(f"{name} = ?" for name in columns)
    with db_lock:
        db.execute(f"UPDATE orders SET {assignments} WHERE id = ?", (*columns.values(), order_id))
        db.commit()


def abandon_stale_baskets(now: float | None = None) -> int:
    """Mark orders placed but unpaid for ``ABANDON_AFTER`` seconds abandoned; count them.

    One UPDATE moves each basket out of ``placed`` once, so several workers sweeping
    the same database never count a basket twice.
    """
    cutoff = (time.time() if now is None else now) - ABANDON_AFTER
    with db_lock:
        moved = db.execute(
            "UPDATE orders SET status = 'abandoned' WHERE status = 'placed' AND created_at < ?",
            (cutoff,),
        ).rowcount
        db.commit()
    if moved:
        ABANDONED.add(moved)
        log.info("checkout.abandoned", baskets=moved, after_seconds=ABANDON_AFTER)
    return moved


async def _sweep_abandoned_baskets() -> None:
    every = max(1.0, min(ABANDON_AFTER / 2, 60.0))
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(abandon_stale_baskets)


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    sweeper = asyncio.create_task(_sweep_abandoned_baskets())
    if SYNTHETIC_BASE_URL:
        # "Place an order, then track it" every 5 minutes (journeys.py), from one
        # process per host: the scheduler's lock file elects it among the workers.
        from examples.food_delivery import journeys  # noqa: F401  (declares the journey)

        synthetic.start(base_url=SYNTHETIC_BASE_URL, lock_path=SYNTHETIC_LOCK)
    try:
        yield
    finally:
        sweeper.cancel()
        synthetic.stop()


app = FastAPI(title="Food delivery", lifespan=lifespan)
watchkit.instrument_fastapi(app, capture_request_headers=["x-tenant"])

CustomerId = Annotated[str, Header(alias="x-customer-id")]
AgentId = Annotated[str | None, Header(alias="x-agent-id")]


@app.post("/orders", status_code=201)
async def place_order(order: NewOrder, customer: CustomerId = "guest") -> dict[str, Any]:
    menu = restaurant_menu(order.restaurant)
    unknown = [item for item in order.items if menu and item not in menu]
    if unknown:  # the customer's mistake: not a failed order
        raise HTTPException(status_code=422, detail=f"not on the menu: {', '.join(unknown)}")
    # The flow the `orders` SLO of ops.yaml measures (watchkit.flow.duration{flow.name}).
    async with watchkit.flow("place_order") as flow:
        with db_lock:
            cursor = db.execute(
                "INSERT INTO orders (restaurant, items, total, status, customer, created_at)"
                " VALUES (?, ?, ?, 'placed', ?, ?)",
                (order.restaurant, json.dumps(order.items), order.total, customer, time.time()),
            )
            db.commit()
        order_id = int(cursor.lastrowid or 0)
        flow.set_attribute("order.id", order_id)
    ORDERS.add(1)
    BASKET_VALUE.record(order.total)
    CUSTOMERS.record(customer)
    log.info("order.placed", order_id=order_id, restaurant=order.restaurant, total=order.total)
    return {"id": order_id, "status": "placed", **order.model_dump()}


@app.get("/orders/{order_id}")
async def get_order(order_id: int) -> dict[str, Any]:
    return _public(_order_or_404(order_id))


@app.delete("/orders/{order_id}")
async def cancel_order(order_id: int) -> dict[str, Any]:
    """Cancel an unpaid basket (the synthetic journey cleans up after itself this way)."""
    order = _order_or_404(order_id)
    if order["status"] != "placed":
        raise HTTPException(status_code=409, detail=f"order is {order['status']}")
    _set(order_id, status="cancelled")
    return {**_public(order), "status": "cancelled"}


@app.post("/orders/{order_id}/payment")
async def pay(order_id: int, card_token: str) -> dict[str, Any]:
    order = _order_or_404(order_id)
    if order["status"] != "placed":
        raise HTTPException(status_code=409, detail=f"order is {order['status']}")
    failure = None
    async with watchkit.flow("payment") as flow:
        try:
            async with httpx.AsyncClient(base_url=PAYMENTS_URL, timeout=5.0) as provider:
                charge = await provider.post(
                    "/v1/charges",
                    json={"order_id": order_id, "amount": order["total"],
                          "card_token": card_token},
                )  # fmt: skip
        except httpx.TransportError:
            charge = None
        if charge is not None and charge.status_code == 402:
            failure = "declined"
        elif charge is None or charge.status_code >= 400:
            failure = "provider_error"
        if failure is not None:
            flow.fail(failure)
    if failure is not None:
        FAILED_PAYMENTS.add(1, reason=failure)
        if failure == "declined":
            log.info("payment.declined", order_id=order_id)
            raise HTTPException(status_code=402, detail="card declined")
        # The provider is down or broken: our 502; its status is on the dependency metric.
        log.error("payment.provider_error", order_id=order_id)
        raise HTTPException(status_code=502, detail="payment provider unavailable")
    assert charge is not None
    _set(order_id, status="paid", charge_id=charge.json()["id"])
    log.info("order.paid", order_id=order_id)
    return {**_public(order), "status": "paid"}


@app.post("/orders/{order_id}/confirmation")
async def restaurant_confirmation(order_id: int, confirmation: Confirmation) -> dict[str, Any]:
    """The restaurant accepts a paid order (a courier is assigned) or rejects it (refunded)."""
    order = _order_or_404(order_id)
    if order["status"] != "paid":
        raise HTTPException(status_code=409, detail=f"order is {order['status']}")
    async with watchkit.flow("restaurant_confirmation") as flow:
        # On the span, not the metric: there are thousands of restaurants.
        flow.set_attribute("restaurant", order["restaurant"])
        if not confirmation.accepted:
            await _refund(order, actor="restaurant", reason="rejected by the restaurant")
            return {**_public(order), "status": "refunded"}
        courier = f"c-{order_id % len(COURIER_PASSWORDS) + 1}"
        ready_at = time.time() + 60 * confirmation.prep_minutes
        _set(order_id, status="confirmed", courier=courier, ready_at=ready_at)
    log.info("order.confirmed", order_id=order_id, courier=courier)
    return {**_public(order), "status": "confirmed", "courier": courier}


async def plan_route(order: dict[str, Any]) -> list[list[float]]:
    """Stand-in for a routing engine: a full route costs it 250-350 ms."""
    await asyncio.sleep(random.uniform(0.25, 0.35))
    start, end = (45.4642, 9.1900), (45.4781, 9.2270)
    return [[start[0] + (end[0] - start[0]) * i / 10, start[1] + (end[1] - start[1]) * i / 10]
            for i in range(11)]  # fmt: skip


def _position(order: dict[str, Any]) -> dict[str, Any]:
    eta = 0.0 if order["ready_at"] is None else max(0.0, order["ready_at"] - time.time()) / 60
    return {"courier": order["courier"], "eta_minutes": round(eta + 10, 1),
            "position": {"lat": 45.4642, "lon": 9.1900}}  # fmt: skip


@app.get("/orders/{order_id}/tracking")
async def track_delivery(
    order_id: int, customer: CustomerId = "guest", route: str | None = None
) -> dict[str, Any]:
    """The delivery-tracking API: 200 ms warning, 300 ms critical (ops.yaml, TrackingLatency)."""
    order = _order_or_404(order_id)
    CUSTOMERS.record(customer)
    tracking = {**_public(order), **_position(order)}
    if route == "full":
        tracking["route"] = await plan_route(order)
    return tracking


@app.get("/orders/{order_id}/map")
async def open_tracking_map(
    order_id: int, customer: CustomerId = "guest", agent: AgentId = None
) -> dict[str, Any]:
    """The live map shows where a courier is: every opening is audited, refusals too."""
    order = _order_or_404(order_id)
    actor = f"agent:{agent}" if agent else f"customer:{customer}"
    allowed = agent is not None or customer == order["customer"]
    watchkit.audit(
        "tracking_map.open",
        actor=actor,
        outcome="success" if allowed else "denied",
        target=f"order:{order_id}",
        courier=order["courier"] or "unassigned",
    )
    if not allowed:
        raise HTTPException(status_code=403, detail="not your order")
    CUSTOMERS.record(customer)
    return {"order_id": order_id, "map": f"/maps/live/{order_id}", **_position(order)}


async def _refund(order: dict[str, Any], *, actor: str, reason: str) -> None:
    target = f"order:{order['id']}"
    try:
        async with httpx.AsyncClient(base_url=PAYMENTS_URL, timeout=5.0) as provider:
            refund: httpx.Response | None = await provider.post(
                "/v1/refunds", json={"charge_id": order["charge_id"], "amount": order["total"]}
            )
    except httpx.TransportError:
        refund = None
    if refund is None or refund.status_code >= 400:
        watchkit.audit("order.refund", actor=actor, outcome="failure", target=target,
                       amount=order["total"], reason=reason)  # fmt: skip
        raise HTTPException(status_code=502, detail="payment provider unavailable")
    _set(order["id"], status="refunded")
    watchkit.audit("order.refund", actor=actor, outcome="success", target=target,
                   amount=order["total"], reason=reason)  # fmt: skip


@app.post("/orders/{order_id}/refund")
async def refund_order(order_id: int, refund: Refund, agent: AgentId = None) -> dict[str, Any]:
    """A support agent refunds a paid order; every attempt is on the audit trail."""
    order = _order_or_404(order_id)
    actor = f"agent:{agent}" if agent else "anonymous"
    if agent is None or order["status"] not in ("paid", "confirmed"):
        watchkit.audit("order.refund", actor=actor, outcome="denied", target=f"order:{order_id}",
                       reason=refund.reason, status=order["status"])  # fmt: skip
        raise HTTPException(status_code=403 if agent is None else 409, detail="not refundable")
    await _refund(order, actor=actor, reason=refund.reason)
    return {**_public(order), "status": "refunded"}


@app.post("/couriers/login", response_model=None)
async def courier_login(credentials: CourierLogin, request: Request) -> Any:
    """Courier sign-in, guarded against password guessing (429 once an address is blocked)."""
    if COURIER_LOGINS.is_blocked(request=request):
        return JSONResponse({"detail": "too many failed logins, try later"}, status_code=429,
                            headers={"retry-after": "600"})  # fmt: skip
    expected = COURIER_PASSWORDS.get(credentials.courier, "")
    ok = bool(expected) and hmac.compare_digest(expected, credentials.password)
    COURIER_LOGINS.record(ok, user=credentials.courier, request=request)
    if not ok:
        raise HTTPException(status_code=401, detail="wrong courier or password")
    return {"courier": credentials.courier, "token": f"session-{random.getrandbits(64):016x}"}


@app.get("/health")
async def health() -> dict[str, str]:
    """Excluded by default: no span, no metrics for probes."""
    return {"status": "ok"}


# Probes: /livez checks the process only, /readyz also the order store (cached
# 2 s, so kubelets and load balancers cannot hammer it), /healthz everything.
@probes.check("order-store", component_type="datastore", ttl=2.0)
def order_store() -> bool:
    with db_lock:
        row = db.execute("SELECT 1").fetchone()
    return bool(row == (1,))


probes.add("disk", probes.disk("/"), kind="liveness", critical=False)
app.include_router(health_endpoints.fastapi_router())
