"""The bookings web app: booking a table enqueues its e-mail and SMS confirmations.

    uvicorn examples.bookings.web:app
    curl -X POST 'localhost:8000/bookings?name=Ada&phone=%2B33600000000&email=ada@example.org'

The request, the two publishes and the two tasks are one trace.
"""

from __future__ import annotations

import itertools

from examples.bookings.tasks import send_email, send_sms
from fastapi import FastAPI

import watchkit

app = FastAPI(title="bookings")
watchkit.instrument_fastapi(app)
_ids = itertools.count(1)
log = watchkit.get_logger("bookings.web")


@app.post("/bookings")
def book(name: str, phone: str, email: str) -> dict[str, int]:
    booking_id = next(_ids)
    send_email.delay(booking_id, email)
    send_sms.delay(booking_id, phone)
    log.info("table booked", booking_id=booking_id)
    return {"booking_id": booking_id}
