"""Typing contract of the decorators, checked by mypy (``tests/typing`` is in mypy's files).

Every ``assert_type`` must hold and every ``# type: ignore[...]`` must be needed
(mypy runs with ``warn_unused_ignores`` under ``strict``): together they prove
that the decorators keep parameter and return types. The functions also run
under pytest, so the examples are real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from typing_extensions import assert_type

import watchkit
import watchkit.context


@watchkit.traced
def fee(distance_km: float, *, express: bool = False) -> float:
    return 2.0 + distance_km + (3.0 if express else 0.0)


@watchkit.traced("payments.charge", attributes={"payment.provider": "stripe"})
async def charge(order_id: str, amount_cents: int) -> bool:
    return amount_cents > 0


@watchkit.flow("delivery.updates")
def updates(order_id: str) -> Iterator[str]:
    yield order_id


@watchkit.flow("delivery.live")
async def live(order_id: str) -> AsyncIterator[str]:
    yield order_id


class Checkout:
    @watchkit.flow("checkout.place_order", channel="app")
    def place(self, order_id: str) -> int:
        return len(order_id)

    @classmethod
    @watchkit.traced
    def create(cls, currency: str) -> Checkout:
        return cls()


def test_sync_types_are_kept() -> None:
    assert_type(fee(3.0), float)
    assert_type(fee(3.0, express=True), float)
    assert_type(Checkout().place("o-1"), int)
    assert_type(Checkout.create("EUR"), Checkout)
    assert_type(list(updates("o-1")), list[str])


def test_async_types_are_kept() -> None:
    async def main() -> None:
        assert_type(await charge("o-1", 100), bool)
        assert_type([item async for item in live("o-1")], list[str])

    asyncio.run(main())


def test_flow_objects_and_runs_are_typed() -> None:
    flow = watchkit.flow("payments.refund", expected=(KeyError,), provider="stripe")
    assert_type(flow, watchkit.Flow)
    with flow as run:
        assert_type(run, watchkit.FlowRun)
        run.set_attribute("refund.id", "r-1")
        run.fail("duplicate")


def test_metric_types() -> None:
    orders = watchkit.counter("typing.orders")
    assert_type(orders, watchkit.Counter)
    orders.add(1, {"channel": "app"}, method="card")
    assert_type(watchkit.histogram("typing.basket", unit="EUR"), watchkit.Histogram)
    assert_type(watchkit.up_down_counter("typing.carts"), watchkit.UpDownCounter)
    assert_type(watchkit.gauge("typing.depth", callback=lambda: 3), watchkit.ObservableGauge)
    assert_type(watchkit.gauge("typing.couriers"), watchkit.Gauge)
    watchkit.gauge("typing.couriers").set(12, zone="north")


def test_context_wrap_keeps_the_signature() -> None:
    wrapped = watchkit.context.wrap(fee)
    assert_type(wrapped(1.0, express=True), float)


def _misuse_is_rejected_by_mypy() -> None:
    """Never called: each line is a type error that mypy must report (ignores must be used)."""
    fee("far")  # type: ignore[arg-type]
    fee(1.0, slow=True)  # type: ignore[call-arg]
    Checkout().place(1)  # type: ignore[arg-type]
    charge("o-1", "100")  # type: ignore[arg-type, unused-coroutine]
    watchkit.flow("x").__enter__().fail(3)  # type: ignore[arg-type]
    watchkit.counter("typing.orders").add(1, {"channel": object()})  # type: ignore[dict-item]
    watchkit.context.wrap(fee)("x")  # type: ignore[arg-type]
    # An observable gauge reports what its callback returns: nothing can set it.
    watchkit.gauge("typing.depth", callback=lambda: 3).set(4)  # type: ignore[attr-defined]
