"""Seaview Hotel: structured logs, audit records and brute-force detection.

Run: ``python examples/logging_demo.py`` (console output; set
OTEL_EXPORTER_OTLP_ENDPOINT to send everything to a collector instead).
"""

from __future__ import annotations

import logging

import structlog

import watchkit
from watchkit.security import LoginMonitor

watchkit.configure(service_name="seaview-hotel", log_format="console")
log = watchkit.get_logger("reservations")
monitor = LoginMonitor(max_failures=5, window=600)


def login(user: str, password: str, ip: str) -> bool:
    ok = password == "correct horse"
    monitor.record(ok, user=user, source_ip=ip)
    log.info("login.attempt", user=user, password=password, ok=ok)  # password is redacted
    return ok


def reserve(guest: str, nights: int, card_number: str) -> str:
    reservation_id = "R-1042"
    log.info(
        "reservation.created",
        reservation_id=reservation_id,
        guest=guest,
        nights=nights,
        card_number=card_number,
    )
    watchkit.audit(
        "reservation.create",
        actor=f"guest:{guest}",
        outcome="success",
        target=f"reservation:{reservation_id}",
        nights=nights,
    )
    return reservation_id


structlog.contextvars.bind_contextvars(request_id="req-7f3a9c")
for _ in range(6):  # someone hammering the login: the 6th failure raises an alert
    login("ana", "guess", "203.0.113.7")
login("ana", "correct horse", "198.51.100.20")
reserve("Ana", nights=3, card_number="4111 1111 1111 1111")
logging.getLogger("payments.gateway").warning(
    "slow answer from %s", "acquirer"
)  # stdlib, same format
try:
    raise TimeoutError("channel manager did not answer")
except TimeoutError:
    log.exception("availability.sync_failed")
structlog.contextvars.clear_contextvars()
watchkit.shutdown()
