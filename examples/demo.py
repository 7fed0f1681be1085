"""watchkit demo: a small food-delivery backend, instrumented, printing to the console.

Run it with ``make demo`` (or ``python examples/demo.py`` with watchkit installed). No
backend is needed: with no OTLP endpoint configured, watchkit prints span trees, log lines
and a metrics summary to the terminal. Set ``OTEL_EXPORTER_OTLP_ENDPOINT`` to send the same
telemetry to an OpenTelemetry collector instead.
"""

from __future__ import annotations

import asyncio
import random

import watchkit
from watchkit.security import LoginMonitor

log = watchkit.get_logger("demo.orders")

orders_placed = watchkit.counter(
    "delivery.orders.placed", unit="{order}", description="Orders accepted for delivery"
)
payments_failed = watchkit.counter(
    "delivery.payments.failed", unit="{payment}", description="Card payments that failed"
)
basket_value = watchkit.histogram("delivery.order.value", unit="EUR", buckets=[5, 10, 20, 50, 100])


class CardDeclinedError(Exception):
    """The payment provider declined the card."""


@watchkit.traced(record_args=("restaurant",))
async def confirm_with_restaurant(restaurant: str) -> None:
    await asyncio.sleep(random.uniform(0.005, 0.02))


async def charge_card(order_id: int, amount: float) -> bool:
    with watchkit.flow("payments.charge", provider="acme-pay") as charge:
        await asyncio.sleep(random.uniform(0.01, 0.03))
        if order_id % 4 == 0:
            charge.fail("card_declined")
            payments_failed.add(1, reason="card_declined")
            return False
        return True


@watchkit.flow("checkout.place_order", channel="app")
async def place_order(order_id: int, restaurant: str, amount: float) -> None:
    log.info("order.received", order_id=order_id, restaurant=restaurant, amount=amount)
    await confirm_with_restaurant(restaurant)
    if not await charge_card(order_id, amount):
        log.warning("order.payment_declined", order_id=order_id)
        raise CardDeclinedError(f"order {order_id}: card declined")
    orders_placed.add(1, {"payment.method": "card"})
    basket_value.record(amount, channel="app")
    watchkit.event("order.placed", restaurant=restaurant)
    log.info("order.placed", order_id=order_id, card_number="4111 1111 1111 1111")


async def main() -> None:
    watchkit.configure(service_name="food-delivery-demo", environment="demo")
    random.seed(7)
    for order_id in range(1, 6):
        try:
            await place_order(order_id, "pizzeria-napoli", round(random.uniform(8, 60), 2))
        except CardDeclinedError:
            log.exception("order.failed", order_id=order_id)

    watchkit.audit(
        "order.refund",
        actor="support:ana",
        outcome="success",
        target="order:3",
        amount=12.5,
        password="hunter2",
    )

    monitor = LoginMonitor(max_failures=5, window=600)
    for _ in range(6):  # the sixth failure within ten minutes raises the alarm, once
        monitor.record(False, user="courier-17", source_ip="203.0.113.9")
    monitor.record(True, user="courier-18", source_ip="198.51.100.4")

    watchkit.shutdown()  # flushes: prints the remaining spans and the metrics summary


if __name__ == "__main__":
    asyncio.run(main())
