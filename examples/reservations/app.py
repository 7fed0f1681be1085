"""A hotel reservation service (Flask), instrumented with watchkit.

Book a room, cancel it, look up availability, and a slow occupancy report::

    python -m examples.reservations            # everything, with traffic (see __main__.py)

or by hand, with a redis-server and the stand-in payment provider running::

    RESERVATIONS_REDIS_URL=redis://127.0.0.1:6379/0 \\
    RESERVATIONS_PAYMENTS_URL=http://127.0.0.1:8001 \\
        flask --app examples.reservations.app run --port 8000

What each requirement of the service's design maps to:

- reservations created and cancelled: the counters ``reservations.created`` and
  ``reservations.cancelled``, and the flow ``reservation.create`` around the booking
  (span, ``watchkit.flow.duration``, ``watchkit.flow.active``);
- payments processed: ``reservations.payments`` by ``payment.outcome``; the provider is the
  dependency ``payments`` (``http.client.request.duration`` with ``service.peer.name``);
- room availability cached in Redis: ``watchkit.cache.operations`` (``cache.name`` =
  ``availability``, hit or miss) and the server's ``evicted_keys``;
- background jobs: confirmation e-mails go through a Redis list to ``worker.py``
  (``watchkit.queue``; the job runs in the trace of the request that booked);
- database query performance: every query through SQLAlchemy is a span and a point of
  ``db.client.operation.duration``; the occupancy report is slow on purpose and logs
  ``watchkit.db.slow_query``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import redis
import requests
import sqlalchemy as sa
from flask import Flask, jsonify, request

import watchkit
import watchkit.cache
import watchkit.db
import watchkit.http_client
import watchkit.queue
from watchkit import health as probes
from watchkit.integrations import health as health_endpoints
from watchkit.security import LoginMonitor

DATABASE_URL = os.environ.get(
    "RESERVATIONS_DATABASE_URL",
    f"sqlite:///{Path(tempfile.gettempdir()) / 'watchkit-reservations.sqlite3'}",
)
REDIS_URL = os.environ.get("RESERVATIONS_REDIS_URL", "redis://127.0.0.1:6379/0")
PAYMENTS_URL = os.environ.get("RESERVATIONS_PAYMENTS_URL", "http://127.0.0.1:8001")
QUEUE = "confirmations"  # the Redis list the worker reads
AVAILABILITY_TTL = 300  # seconds; cache entries expire, so the eviction policy may drop them
HOTELS = ("seaview", "harbour", "old-town")
ROOM_TYPES = {"single": 89.0, "double": 129.0, "suite": 249.0}
ROOMS_PER_TYPE = 12

watchkit.configure(
    service_name="reservations",
    # The traffic script stands for a load balancer on loopback: trust its
    # X-Forwarded-For, so each guest has an address and the attacker one of its own.
    trusted_proxies=["127.0.0.1/32"],
)
# The payment provider is an external dependency: measured, never sent our trace headers.
watchkit.http_client.instrument(dependencies={"payments": [urlsplit(PAYMENTS_URL).hostname or ""]})
log = watchkit.get_logger("reservations")

CREATED = watchkit.counter(
    "reservations.created", unit="{reservation}", description="Reservations confirmed"
)
CANCELLED = watchkit.counter(
    "reservations.cancelled", unit="{reservation}", description="Reservations cancelled"
)
PAYMENTS = watchkit.counter(
    "reservations.payments", unit="{payment}", description="Payments by outcome"
)

# --- the database ---------------------------------------------------------------------------
engine = watchkit.db.instrument_sqlalchemy(
    sa.create_engine(
        DATABASE_URL,
        # SQLite: wait for the worker's writes instead of failing with "database is locked".
        connect_args={"timeout": 15} if DATABASE_URL.startswith("sqlite") else {},
    ),
    # The logical name: the default for SQLite is the file's path, a different series per
    # deployment directory.
    namespace="reservations",
    pool_name="reservations-db",
    slow_query_threshold=0.1,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    id INTEGER PRIMARY KEY, hotel TEXT NOT NULL, room_type TEXT NOT NULL, rate REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY, room_id INTEGER NOT NULL REFERENCES rooms (id),
    guest_email TEXT NOT NULL, check_in TEXT NOT NULL, check_out TEXT NOT NULL,
    nights INTEGER NOT NULL, status TEXT NOT NULL, payment_id TEXT,
    confirmation_sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS reservations_room_night ON reservations (room_id, check_in);
"""


def create_schema() -> None:
    """Create the tables and the rooms (idempotent, safe to run from several processes)."""
    rooms = [
        {"id": h * 100 + t * ROOMS_PER_TYPE + n + 1, "hotel": hotel, "room_type": kind,
         "rate": rate}
        for h, hotel in enumerate(HOTELS)
        for t, (kind, rate) in enumerate(ROOM_TYPES.items())
        for n in range(ROOMS_PER_TYPE)
    ]  # fmt: skip
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            # Readers no longer wait for the worker's writes (and writers not for readers).
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    with engine.begin() as conn:
        for statement in filter(str.strip, SCHEMA.split(";")):
            conn.execute(sa.text(statement))
        conn.execute(
            sa.text(
                "INSERT INTO rooms (id, hotel, room_type, rate) "
                "VALUES (:id, :hotel, :room_type, :rate) ON CONFLICT (id) DO NOTHING"
            ),
            rooms,
        )


create_schema()

# --- the cache and the queue (one Redis; see __main__.py for its eviction policy) -----------
availability_cache = watchkit.cache.instrument_redis(
    redis.Redis.from_url(REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5),
    name="availability",
)
# Hits, misses and evicted keys of the whole server, from INFO stats (one process reports).
watchkit.cache.redis_server_stats(redis.Redis.from_url(REDIS_URL, socket_timeout=2))
jobs = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
watchkit.queue.redis_depth(REDIS_URL, [QUEUE])  # every process may call it: one reports

# More than 5 failed front-desk logins from one address within 10 minutes is an alert.
logins = LoginMonitor(max_failures=5, window=600)
STAFF = {"frontdesk": "correct horse battery staple"}  # a demo account, known to traffic.py

app = Flask(__name__)
watchkit.instrument_flask(app)


class PaymentProviderError(Exception):
    """The payment provider failed (5xx or unreachable): a 502 for the client."""


class NoRoomError(Exception):
    """No room of that type is free for those nights."""


# The critical flow: its error outcomes are the "errors" SLO of ops/ops.yaml. No free room
# is an answer (409), not a failure of the service.
CREATE_RESERVATION = watchkit.flow("reservation.create", expected=(NoRoomError,))


@app.errorhandler(PaymentProviderError)
def provider_failed(error: PaymentProviderError) -> Any:
    return jsonify(error="payment provider unavailable"), 502  # a 5xx: counted as an error


@app.errorhandler(NoRoomError)
def no_room(error: NoRoomError) -> Any:
    return jsonify(error=str(error)), 409


def _nights(check_in: dt.date, nights: int) -> list[str]:
    return [(check_in + dt.timedelta(days=n)).isoformat() for n in range(nights)]


def _free_rooms(conn: sa.Connection, hotel: str, night: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.text(
            "SELECT r.id, r.room_type, r.rate FROM rooms r WHERE r.hotel = :hotel "
            "AND NOT EXISTS (SELECT 1 FROM reservations v WHERE v.room_id = r.id "
            "AND v.status = 'confirmed' AND v.check_in <= :night AND v.check_out > :night) "
            "ORDER BY r.id"
        ),
        {"hotel": hotel, "night": night},
    ).all()
    # What a booking page shows per room; it makes each cache entry a few kilobytes.
    return [{"room": row.id, "type": row.room_type, "rate": row.rate,
             "description": f"{row.room_type.title()} room, {hotel} " + "sea view " * 40}
            for row in rows]  # fmt: skip


def _availability_key(hotel: str, night: str) -> str:
    return f"availability:{hotel}:{night}"


def availability(hotel: str, night: str) -> list[dict[str, Any]]:
    """Free rooms of one hotel for one night: from Redis, else from the database."""
    key = _availability_key(hotel, night)
    try:
        # A hit or a miss of cache "availability". (redis-py types its sync and asyncio
        # replies as one union: the cast tells the type checker which client this is.)
        cached = cast("bytes | None", availability_cache.get(key))
    except redis.RedisError:
        cached = None  # the cache is an optimisation: without Redis, ask the database
    if cached is not None:
        return json.loads(cached)  # type: ignore[no-any-return]
    with engine.connect() as conn:
        rooms = _free_rooms(conn, hotel, night)
    with contextlib.suppress(redis.RedisError):
        availability_cache.set(key, json.dumps(rooms), ex=AVAILABILITY_TTL)
    return rooms


def _forget_availability(hotel: str, nights: list[str]) -> None:
    try:
        availability_cache.delete(*(_availability_key(hotel, night) for night in nights))
    except redis.RedisError:
        log.warning("availability.invalidate_failed", hotel=hotel)


def enqueue(job: str, reservation_id: int, email: str) -> None:
    """Hand a job to the worker: a PRODUCER span, trace context in the message headers."""
    headers: dict[str, str] = {}
    with watchkit.queue.send(QUEUE, headers, system="redis"):
        body = {"job": job, "reservation_id": reservation_id, "email": email, "attempt": 1}
        jobs.lpush(QUEUE, json.dumps({"headers": headers, "body": body}))


def charge(reservation_id: int, amount: float, card_token: str) -> str | None:
    """Charge the card at the provider: the payment id, or None if the card was declined."""
    try:
        answer = requests.post(
            f"{PAYMENTS_URL}/v1/charges",
            json={"reference": f"R-{reservation_id}", "amount": amount, "card": card_token},
            timeout=2.0,
        )
    except requests.RequestException as error:
        PAYMENTS.add(1, {"payment.outcome": "error"})
        raise PaymentProviderError(type(error).__name__) from error
    if answer.status_code == 402:
        PAYMENTS.add(1, {"payment.outcome": "declined"})
        return None
    if answer.status_code >= 400:
        PAYMENTS.add(1, {"payment.outcome": "error"})
        raise PaymentProviderError(f"provider answered {answer.status_code}")
    PAYMENTS.add(1, {"payment.outcome": "approved"})
    return str(answer.json()["id"])


@app.get("/hotels/<hotel>/availability")
def get_availability(hotel: str) -> Any:
    if hotel not in HOTELS:
        return jsonify(error="no such hotel"), 404
    night = request.args.get("date", dt.date.today().isoformat())
    rooms = availability(hotel, night)
    return jsonify(hotel=hotel, date=night, free=len(rooms), rooms=rooms[:5])


@app.post("/reservations")
def create_reservation() -> Any:
    order = request.get_json(force=True)
    try:
        hotel, room_type, email = order["hotel"], order["room_type"], str(order["email"])
        check_in, nights = dt.date.fromisoformat(order["check_in"]), int(order["nights"])
        card_token = str(order["card_token"])
    except (KeyError, TypeError, ValueError):
        return jsonify(error="expected hotel, room_type, check_in, nights, email, card_token"), 422
    if hotel not in HOTELS or room_type not in ROOM_TYPES or not 1 <= nights <= 14:
        return jsonify(error="unknown hotel or room type, or 1-14 nights"), 422
    dates = _nights(check_in, nights)
    with CREATE_RESERVATION as flow:
        flow.set_attribute("reservation.nights", nights)  # span only: per-run values
        free: set[int] | None = None
        for night in dates:  # one cache lookup per night
            rooms = {room["room"] for room in availability(hotel, night)
                     if room["type"] == room_type}  # fmt: skip
            free = rooms if free is None else free & rooms
        if not free:
            raise NoRoomError(f"no {room_type} free at {hotel} for {nights} nights")
        # (A real system holds the room here, e.g. a unique row per room and night, so two
        # guests cannot book it at once; the example keeps to what it measures.)
        room = {"room": min(free), "rate": ROOM_TYPES[room_type]}
        with engine.begin() as conn:
            reservation_id = conn.execute(
                sa.text(
                    "INSERT INTO reservations (room_id, guest_email, check_in, check_out, "
                    "nights, status) VALUES (:room, :email, :check_in, :check_out, :nights, "
                    "'pending') RETURNING id"
                ),
                {"room": room["room"], "email": email, "check_in": dates[0],
                 "check_out": (check_in + dt.timedelta(days=nights)).isoformat(),
                 "nights": nights},
            ).scalar_one()  # fmt: skip
        flow.set_attribute("reservation.id", reservation_id)
        payment_id = charge(reservation_id, room["rate"] * nights, card_token)
        status = "confirmed" if payment_id else "payment_declined"
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE reservations SET status = :status, payment_id = :payment "
                        "WHERE id = :id"),
                {"status": status, "payment": payment_id, "id": reservation_id},
            )  # fmt: skip
        if payment_id is None:
            # A declined card is the guest's problem, not an error of the service.
            log.info("reservation.payment_declined", reservation_id=reservation_id)
            return jsonify(id=reservation_id, status=status), 402
        CREATED.add(1, {"hotel": hotel, "room.type": room_type})
        _forget_availability(hotel, dates)
        enqueue("send_confirmation", reservation_id, email)
    log.info("reservation.created", reservation_id=reservation_id, hotel=hotel, nights=nights)
    return jsonify(id=reservation_id, status=status, room=room["room"]), 201


@app.get("/reservations/<int:reservation_id>")
def get_reservation(reservation_id: int) -> Any:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT id, room_id, check_in, nights, status, confirmation_sent "
                    "FROM reservations WHERE id = :id"),
            {"id": reservation_id},
        ).one_or_none()  # fmt: skip
    if row is None:
        return jsonify(error="no such reservation"), 404
    return jsonify(dict(row._mapping))


@app.post("/reservations/<int:reservation_id>/cancel")
def cancel_reservation(reservation_id: int) -> Any:
    reason = (request.get_json(silent=True) or {}).get("reason", "guest_request")
    if reason not in ("guest_request", "no_show", "overbooking"):
        reason = "other"  # a metric attribute: keep its values to a known few
    with engine.begin() as conn:
        row = conn.execute(
            sa.text("SELECT r.hotel, v.check_in, v.nights, v.guest_email FROM reservations v "
                    "JOIN rooms r ON r.id = v.room_id WHERE v.id = :id AND v.status = 'confirmed'"),
            {"id": reservation_id},
        ).one_or_none()  # fmt: skip
        if row is None:
            return jsonify(error="no confirmed reservation with that id"), 404
        conn.execute(
            sa.text("UPDATE reservations SET status = 'cancelled' WHERE id = :id"),
            {"id": reservation_id},
        )
    CANCELLED.add(1, {"cancellation.reason": reason})
    watchkit.audit("reservation.cancel", actor="guest", outcome="success",
                   target=f"reservation:{reservation_id}", reason=reason)  # fmt: skip
    _forget_availability(row.hotel, _nights(dt.date.fromisoformat(row.check_in), row.nights))
    enqueue("send_cancellation", reservation_id, row.guest_email)
    return jsonify(id=reservation_id, status="cancelled")


@app.get("/reports/occupancy")
def occupancy_report() -> Any:
    """Nights sold per hotel over a year, computed the slow way: no index can help it.

    The calendar is generated row by row and joined against every reservation, which
    takes well over the 100 ms slow-query threshold: each call logs
    ``watchkit.db.slow_query`` with the query, its duration and this function's line.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "WITH RECURSIVE calendar(night, n) AS ("
                " SELECT date('now'), 0 UNION ALL"
                " SELECT date(night, '+1 day'), n + 1 FROM calendar WHERE n < 365),"
                " spin(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM spin WHERE k < :work)"
                " SELECT r.hotel, COUNT(v.id) AS nights_sold,"
                " (SELECT COUNT(*) FROM spin) AS scanned"
                " FROM calendar c JOIN reservations v"
                " ON v.check_in <= c.night AND v.check_out > c.night"
                " JOIN rooms r ON r.id = v.room_id WHERE v.status = 'confirmed'"
                " GROUP BY r.hotel ORDER BY r.hotel"
            ),
            {"work": 400_000},
        ).all()
    return jsonify({row.hotel: row.nights_sold for row in rows})


@app.post("/staff/login")
def staff_login() -> Any:
    form = request.get_json(force=True)
    user = str(form.get("user", ""))
    if logins.is_blocked(user=user, request=request):
        return jsonify(error="too many attempts"), 429
    expected = STAFF.get(user)
    ok = expected is not None and secrets.compare_digest(expected, str(form.get("password")))
    logins.record(ok, user=user, request=request)  # audit.login; the brute-force alert
    if not ok:
        return jsonify(error="wrong user or password"), 401
    return jsonify(user=user, token=secrets.token_urlsafe(16))


# Probes: /livez (the process), /readyz (also the database and Redis, cached 2 s).


@probes.check("database", component_type="datastore", ttl=2.0)
def database_ready() -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT 1")).scalar() == 1


@probes.check("redis", component_type="datastore", ttl=2.0)
def redis_ready() -> bool:
    return bool(jobs.ping())


app.register_blueprint(health_endpoints.flask_blueprint())
