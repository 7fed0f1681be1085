"""Drive the bookings service like a busy Monday morning, failures included.

    python -m examples.bookings.traffic --base-url http://127.0.0.1:8000 --duration 20

Learners (each from its own address, sent as ``X-Forwarded-For`` the way a load balancer
would) sign in, now and then with a wrong password, look at a day or a whole week of
free lessons (the week view is slow: over 200 ms), book one, pay with a card that is
mostly accepted (declined, provider error and provider timeout mixed in: 5xx answers
of a few per cent), check the booking and sign out. One address guesses passwords for
``learner01`` until the brute-force limit (more than 5 in 10 minutes) blocks it.

Bounded in time (``--duration``) and count (``--max-requests``); loopback only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import random
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import httpx
from examples.bookings.seed import LEARNERS, PASSWORD, learner

# Each learner's card, by learner number, so even a short run under load meets each
# outcome in its first round: learners 2, 12 and 22 are declined, 4 and 24 meet a provider
# error, 6 a provider timeout; the others, among them the learners whose e-mail bounces
# (3, 9, 15, 21) or whose phone fails (7, 14, 21), are approved and get their messages.
CARDS = ["tok_visa", "tok_declined", "tok_visa", "tok_error", "tok_visa", "tok_slow"] + [
    "tok_visa", "tok_visa", "tok_visa", "tok_visa", "tok_visa", "tok_declined"
] + ["tok_visa"] * 8  # fmt: skip


def card_for(number: int) -> str:
    """The card demo learner ``number`` pays with."""
    return CARDS[(number - 1) % len(CARDS)]


class Traffic:
    """Counts answers by status; stops at the deadline or after ``max_requests``."""

    def __init__(self, base_url: str, duration: float, max_requests: int) -> None:
        host = urlsplit(base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"--base-url must be a loopback address, not {host!r}")
        self.base_url, self.max_requests = base_url.rstrip("/"), max_requests
        self.deadline = time.monotonic() + duration
        self.statuses: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.learners_in_turn = itertools.cycle(range(1, LEARNERS + 1))

    def next_learner(self) -> int:
        with self.lock:
            return next(self.learners_in_turn)

    def stop(self) -> None:
        """End the run: each thread stops after its request in flight."""
        with self.lock:
            self.deadline = 0.0

    def running(self) -> bool:
        with self.lock:
            return time.monotonic() < self.deadline and self.statuses.total() < self.max_requests

    def call(
        self, client: httpx.Client, method: str, path: str, **kwargs: object
    ) -> httpx.Response:
        try:
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError:
            response = httpx.Response(599)
        with self.lock:
            self.statuses[response.status_code] += 1
        return response

    def client(self, address: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, timeout=10.0, headers={"X-Forwarded-For": address}
        )

    def learner_session(self, rng: random.Random, number: int) -> None:
        name, _ = learner(number)
        with self.client(f"198.51.100.{number}") as client:
            if rng.random() < 0.1:  # a typo first
                self.call(client, "POST", "/login", json={"username": name, "password": "oops"})
            if (
                self.call(
                    client, "POST", "/login", json={"username": name, "password": PASSWORD}
                ).status_code
                != 200
            ):
                return
            day = dt.date.today() + dt.timedelta(days=rng.randint(1, 13))
            days = 7 if rng.random() < 0.15 else 1
            free = self.call(
                client, "GET", "/calendar/availability",
                params={"date": day.isoformat(), "days": days},
            )  # fmt: skip
            slots = [s for day_slots in free.json().get("days", {}).values() for s in day_slots] \
                if free.status_code == 200 else []  # fmt: skip
            if slots:
                phone = "+99912345" if number % 7 == 0 else f"+4479000{number:05d}"
                booked = self.call(
                    client, "POST", "/bookings",
                    json={"slot_id": rng.choice(slots)["slot_id"], "phone": phone},
                )  # fmt: skip
                if booked.status_code == 201:
                    booking_id = booked.json()["booking_id"]
                    self.call(client, "POST", f"/bookings/{booking_id}/payment",
                              json={"card_token": card_for(number)})  # fmt: skip
                    self.call(client, "GET", f"/bookings/{booking_id}")
            self.call(client, "POST", "/logout")
            if rng.random() < 0.05:  # a second tab signing out again
                self.call(client, "POST", "/logout")

    def learners(self, seed: int) -> None:
        rng = random.Random(seed)
        while self.running():
            self.learner_session(rng, self.next_learner())

    def guesser(self) -> None:
        """One address trying passwords: the 6th failure within 10 minutes alerts, then 429."""
        with self.client("203.0.113.66") as client:
            for attempt in range(8):
                if not self.running():
                    return
                guess = {"username": "learner01", "password": f"guess-{attempt}"}
                self.call(client, "POST", "/login", json=guess)
                time.sleep(0.2)


def run(
    base_url: str, duration: float, max_requests: int = 5000, concurrency: int = 4
) -> Counter[int]:
    """Send the traffic; return how many answers of each HTTP status came back (599: none)."""
    traffic = Traffic(base_url, duration, max_requests)
    threads = [
        threading.Thread(target=traffic.learners, args=(seed,)) for seed in range(concurrency)
    ]
    threads.append(threading.Thread(target=traffic.guesser))
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        traffic.stop()
        for thread in threads:
            thread.join()
        raise
    return traffic.statuses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Traffic for the bookings example")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds (default 20)")
    parser.add_argument("--max-requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=4, help="learners at once")
    args = parser.parse_args(argv)
    statuses = run(args.base_url, args.duration, args.max_requests, args.concurrency)
    total = statuses.total()
    errors = sum(n for status, n in statuses.items() if status >= 500)
    print(f"traffic: {total} requests, {dict(sorted(statuses.items()))}, "
          f"5xx {errors / max(total, 1):.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
