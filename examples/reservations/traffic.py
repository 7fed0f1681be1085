"""Realistic traffic for the reservations app, failures included, bounded in time and count.

    python -m examples.reservations.traffic --base-url http://127.0.0.1:8000 --duration 20

Guests look up availability (mostly the next two weeks, some further out, so the Redis
cache both hits and fills up until it evicts), book (some cards declined, some slow, some
failing at the provider: 502s), read and cancel reservations, and the back office runs the
slow occupancy report. One address guesses the front-desk password until the brute-force
alert fires. Only loopback URLs are accepted.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import random
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

HOTELS = ("seaview", "harbour", "old-town")
ROOM_TYPES = ("single", "double", "suite")
CARDS = (["tok_visa"] * 80 + ["tok_declined"] * 8 + ["tok_slow"] * 4
         + ["tok_provider_down"] * 8)  # fmt: skip
ATTACKERS = ("203.0.113.66", "203.0.113.99")


class Traffic:
    """A few threads of guests, sharing what they booked; counts answers by status."""

    def __init__(self, base_url: str, *, seed: int = 13) -> None:
        host = urlsplit(base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"base_url must be a loopback URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.booked: list[int] = []
        self.statuses: collections.Counter[str] = collections.Counter()
        self.sent = 0
        self.stopping = threading.Event()

    def _request(self, session: requests.Session, method: str, path: str, guest: str,
                 **kwargs: object) -> requests.Response | None:  # fmt: skip
        headers = {"X-Forwarded-For": guest, "User-Agent": "reservations-traffic/1.0"}
        try:
            answer = session.request(method, self.base_url + path, headers=headers, timeout=10,
                                     **kwargs)  # type: ignore[arg-type]  # fmt: skip
        except requests.RequestException as error:
            with self.lock:
                self.statuses[type(error).__name__] += 1
            return None
        with self.lock:
            self.statuses[str(answer.status_code)] += 1
        return answer

    def _night(self, rng: random.Random) -> str:
        days = rng.randint(0, 13) if rng.random() < 0.7 else rng.randint(14, 365)
        return (dt.date.today() + dt.timedelta(days=days)).isoformat()

    def look(self, session: requests.Session, rng: random.Random, guest: str) -> None:
        hotel = rng.choice(HOTELS)
        self._request(session, "GET", f"/hotels/{hotel}/availability", guest,
                      params={"date": self._night(rng)})  # fmt: skip

    def book(self, session: requests.Session, rng: random.Random, guest: str) -> None:
        domain = "bounce.example" if rng.random() < 0.05 else "example.com"
        order = {
            "hotel": rng.choice(HOTELS), "room_type": rng.choice(ROOM_TYPES),
            "check_in": self._night(rng), "nights": rng.randint(1, 5),
            "email": f"guest{rng.randint(1, 10_000)}@{domain}", "card_token": rng.choice(CARDS),
        }  # fmt: skip
        answer = self._request(session, "POST", "/reservations", guest, json=order)
        if answer is not None and answer.status_code == 201:
            with self.lock:
                self.booked.append(answer.json()["id"])

    def read(self, session: requests.Session, rng: random.Random, guest: str) -> None:
        with self.lock:
            known = self.booked[-50:]
        reservation = rng.choice(known) if known and rng.random() < 0.9 else 999_999
        self._request(session, "GET", f"/reservations/{reservation}", guest)

    def cancel(self, session: requests.Session, rng: random.Random, guest: str) -> None:
        with self.lock:
            if not self.booked:
                return
            reservation = self.booked.pop(rng.randrange(len(self.booked)))
        reason = rng.choice(("guest_request", "guest_request", "no_show", "overbooking"))
        self._request(session, "POST", f"/reservations/{reservation}/cancel", guest,
                      json={"reason": reason})  # fmt: skip

    def report(self, session: requests.Session, rng: random.Random, guest: str) -> None:
        self._request(session, "GET", "/reports/occupancy", guest)

    def staff(self, session: requests.Session, rng: random.Random, guest: str) -> None:
        password = "correct horse battery staple" if rng.random() < 0.9 else "Tr0ub4dor&3"
        self._request(session, "POST", "/staff/login", guest,
                      json={"user": "frontdesk", "password": password})  # fmt: skip

    def attack(self, session: requests.Session, attacker: str, attempts: int = 8) -> None:
        """One address guessing staff passwords: more than 5 failures in 10 minutes."""
        for n in range(attempts):
            user = ("admin", "manager", "root", "reception")[n % 4]  # spraying accounts
            self._request(session, "POST", "/staff/login", attacker,
                          json={"user": user, "password": f"guess-{n}"})  # fmt: skip

    def _guest(self, number: int, deadline: float, max_requests: int) -> None:
        rng = random.Random(self.random.random() + number)
        actions: list[tuple[float, Callable[[requests.Session, random.Random, str], None]]] = [
            (0.46, self.look), (0.24, self.book), (0.12, self.read), (0.08, self.cancel),
            (0.04, self.report), (0.06, self.staff),
        ]  # fmt: skip
        with requests.Session() as session:
            while time.monotonic() < deadline and not self.stopping.is_set():
                with self.lock:
                    if self.sent >= max_requests:
                        return
                    self.sent += 1
                guest = f"198.51.100.{rng.randint(1, 254)}"
                pick, total = rng.random(), 0.0
                for weight, action in actions:
                    total += weight
                    if pick < total:
                        action(session, rng, guest)
                        break
                time.sleep(rng.uniform(0.005, 0.03))

    def run(self, duration: float, *, concurrency: int = 4, max_requests: int = 20_000) -> None:
        """Drive the app for ``duration`` seconds (at most ``max_requests`` guest actions)."""
        started = time.monotonic()
        deadline = started + duration
        guests = [
            threading.Thread(target=self._guest, args=(n, deadline, max_requests), daemon=True)
            for n in range(concurrency)
        ]
        for thread in guests:
            thread.start()
        # Two attacks: early, and later (half way, at most 30 s in). Prometheus takes a
        # counter's first value as its start, so an alert counter born at 1 shows no increase
        # until the second attack, which a scrape in between sees.
        try:
            with requests.Session() as session:
                for attacker, at in zip(
                    ATTACKERS, (min(2.0, duration / 4), min(30.0, duration / 2)), strict=True
                ):
                    time.sleep(max(0.0, started + at - time.monotonic()))
                    self.attack(session, attacker)
            for thread in guests:
                thread.join(duration + 15)
        finally:  # Ctrl-C: the guests finish their current request and go home
            self.stopping.set()
            for thread in guests:
                thread.join(15)

    def summary(self) -> str:
        total = sum(self.statuses.values())
        errors = sum(n for status, n in self.statuses.items() if not status.startswith(("2", "4")))
        by_status = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        share = errors / total if total else 0.0
        return f"{total} requests ({by_status}); {share:.1%} server errors"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Drive traffic at the reservations app.")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds (default 20)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-requests", type=int, default=20_000)
    args = parser.parse_args(argv)
    traffic = Traffic(args.base_url)
    traffic.run(args.duration, concurrency=args.concurrency, max_requests=args.max_requests)
    print(traffic.summary())


if __name__ == "__main__":
    main()
