"""Realistic load for the food-delivery example, failures included, only to loopback.

    python -m examples.food_delivery.traffic --base-url http://127.0.0.1:8000 --duration 20

Customers place orders (some with a dish the restaurant does not have: 422), pay (some
cards declined: 402; during a short provider outage in the middle of the run most
charges fail: 502, the 5xx share crosses 1 % and 3 %), restaurants confirm or reject
(rejections are refunded), customers track their delivery (a quarter ask for the full
route, 250-350 ms: the tracking p95 crosses 200 and 300 ms) and open the live map (now
and then somebody else's order: 403, audited as denied); support agents refund some
orders; some baskets are never paid (abandoned checkouts). Couriers sign in, and one
address guesses passwords: after 5 failures it gets 429.

The script plays the load balancer: each customer and courier comes from its own
documentation address in ``X-Forwarded-For`` (the example's app trusts 127.0.0.1 as a
proxy). It stops after ``--duration`` seconds or ``--max-requests`` requests.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

MENU = {
    "Pasta Place": ["carbonara", "lasagne"],
    "Sushi Bar": ["maki", "nigiri"],
    "Curry House": ["korma", "dal"],
}
ATTACKER = "203.0.113.66"
_LOOPBACK_NAMES = ("localhost",)


def check_loopback(base_url: str) -> str:
    """``base_url`` without a trailing slash, if it points at this machine; else ValueError."""
    host = urlsplit(base_url).hostname or ""
    try:
        loopback = host in _LOOPBACK_NAMES or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"base_url={base_url!r} is not accepted: the traffic script only drives a service "
            "on this machine; use http://127.0.0.1:PORT or http://localhost:PORT"
        )
    return base_url.rstrip("/")


class Traffic:
    """One run: the shared client, the budget and what happened."""

    def __init__(
        self, client: httpx.AsyncClient, duration: float, max_requests: int, rng: random.Random
    ) -> None:
        self.client = client
        self.started = time.monotonic()
        self.deadline = self.started + duration
        self.duration = duration
        self.max_requests = max_requests
        self.rng = rng
        self.sent = 0
        self.unreachable = 0  # transport errors in a row
        self.outcomes: Counter[str] = Counter()

    @property
    def more(self) -> bool:
        return time.monotonic() < self.deadline and self.sent < self.max_requests

    def provider_outage(self) -> bool:
        """The payment provider has a bad few seconds in the middle of the run."""
        elapsed = (time.monotonic() - self.started) / self.duration
        return 0.4 <= elapsed < 0.55

    async def call(
        self, label: str, method: str, url: str, **options: Any
    ) -> httpx.Response | None:
        if not self.more:
            return None
        self.sent += 1
        try:
            response = await self.client.request(method, url, **options)
        except httpx.HTTPError as error:
            self.outcomes[f"{label} {type(error).__name__}"] += 1
            self.unreachable += isinstance(error, httpx.TransportError)
            if self.unreachable >= 10:  # the service is gone: stop rather than hammer
                self.deadline = 0.0
            return None
        self.unreachable = 0
        self.outcomes[f"{label} {response.status_code}"] += 1
        await asyncio.sleep(self.rng.uniform(0.02, 0.12))
        return response


async def customer(t: Traffic, number: int) -> None:
    """One customer's sessions, one after the other, until the budget is spent.

    The first session of customers 1 to 4 takes one failure path for sure (a declined
    card, an abandoned basket, the provider failing, a refund and a refused map), so
    even a short run shows every signal; the rest is left to chance.
    """
    rng = t.rng
    who = {"x-customer-id": f"cu-{number}", "x-forwarded-for": f"198.51.100.{number}"}
    first = True
    while t.more:
        script = number if first else 0
        first = False
        restaurant = rng.choice(list(MENU))
        items = rng.sample(MENU[restaurant], rng.randint(1, 2))
        if rng.random() < 0.05:
            items.append("pizza")  # not on this menu: 422
        total = round(rng.uniform(8, 90), 2)
        placed = await t.call(
            "place order",
            "POST",
            "/orders",
            headers=who,
            json={"restaurant": restaurant, "items": items, "total": total},
        )
        if placed is None or placed.status_code != 201:
            continue
        order = placed.json()["id"]
        await t.call("track", "GET", f"/orders/{order}/tracking", headers=who)
        if script == 2 or (not script and rng.random() < 0.15):
            continue  # abandoned: never paid
        if script == 3 or (t.provider_outage() and rng.random() < 0.7):
            card = "tok_unavailable"
        elif script == 1 or (not script and rng.random() < 0.1):
            card = "tok_declined"
        else:
            card = "tok_visa"
        paid = await t.call(
            "pay", "POST", f"/orders/{order}/payment", params={"card_token": card}, headers=who
        )
        if paid is None or paid.status_code != 200:
            continue
        accepted = script == 4 or rng.random() < 0.92
        confirmed = await t.call(
            "restaurant confirmation",
            "POST",
            f"/orders/{order}/confirmation",
            json={"accepted": accepted, "prep_minutes": rng.randint(5, 25)},
        )
        if confirmed is None or not accepted:
            continue
        for _ in range(rng.randint(1, 3)):
            full = script == 4 or rng.random() < 0.25
            await t.call(
                "track" + (" full route" if full else ""),
                "GET",
                f"/orders/{order}/tracking",
                headers=who,
                params={"route": "full"} if full else None,
            )
        if script == 4 or rng.random() < 0.5:
            await t.call("open map", "GET", f"/orders/{order}/map", headers=who)
        if script == 4 or rng.random() < 0.05:  # somebody else's order
            stranger = {"x-customer-id": f"cu-{number + 1000}"}
            await t.call("open map (not theirs)", "GET", f"/orders/{order}/map", headers=stranger)
        if script == 4 or rng.random() < 0.1:
            agent = {"x-agent-id": f"ag-{rng.randint(1, 3)}"}
            await t.call(
                "refund",
                "POST",
                f"/orders/{order}/refund",
                headers=agent,
                json={"reason": rng.choice(["cold food", "late", "missing item"])},
            )


async def couriers(t: Traffic) -> None:
    """Couriers signing in from their own addresses, now and then mistyping once."""
    rng = t.rng
    while t.more:
        n = rng.randint(1, 8)
        where = {"x-forwarded-for": f"198.51.100.{200 + n}"}
        password = f"courier-pass-{n}" if rng.random() < 0.9 else "typo"
        await t.call(
            "courier login",
            "POST",
            "/couriers/login",
            headers=where,
            json={"courier": f"c-{n}", "password": password},
        )
        await asyncio.sleep(rng.uniform(0.3, 1.0))


async def attacker(t: Traffic) -> None:
    """One address guessing courier passwords: the 6th failure alerts, then 429s."""
    await asyncio.sleep(min(2.0, t.duration / 5))
    for attempt in range(10):
        await t.call(
            "courier login (guessing)",
            "POST",
            "/couriers/login",
            headers={"x-forwarded-for": ATTACKER},
            json={"courier": f"c-{attempt % 3 + 1}", "password": f"guess-{attempt}"},
        )


async def run(
    base_url: str,
    duration: float = 20.0,
    *,
    max_requests: int = 5000,
    customers: int = 4,
    seed: int | None = None,
) -> Counter[str]:
    """Drive the service at ``base_url`` for ``duration`` seconds; what each call answered."""
    base_url = check_loopback(base_url)
    if duration <= 0 or max_requests < 1 or customers < 1:
        raise ValueError("duration must be > 0 seconds, max_requests and customers >= 1")
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as client:
        t = Traffic(client, duration, max_requests, random.Random(seed))
        await asyncio.gather(
            *(customer(t, n) for n in range(1, customers + 1)), couriers(t), attacker(t)
        )
    return t.outcomes


def report(outcomes: Counter[str]) -> str:
    """The outcomes as lines: ``   12  pay 402``."""
    lines = [f"{count:6d}  {label}" for label, count in sorted(outcomes.items())]
    total = sum(outcomes.values())
    errors = sum(n for label, n in outcomes.items() if label.rsplit(" ", 1)[-1].startswith("5"))
    lines.append(f"{total:6d}  requests, {errors} answered 5xx ({errors / max(total, 1):.1%})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m examples.food_delivery.traffic", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds (default 20)")
    parser.add_argument("--max-requests", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=4, help="concurrent customers")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        outcomes = asyncio.run(
            run(
                args.base_url,
                args.duration,
                max_requests=args.max_requests,
                customers=args.customers,
                seed=args.seed,
            )
        )
    except ValueError as error:
        parser.error(str(error))
    print(report(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
