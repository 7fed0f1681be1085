"""The bookings API: sign-in, the lesson calendar, bookings, payments, the provider's webhooks."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
from django.contrib.auth import authenticate, login, logout
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from examples.bookings import settings, tasks
from examples.bookings.models import Booking, Payment, Slot
from examples.bookings.observability import AUTH, BOOKINGS, PAYMENTS, WEBHOOKS

import watchkit
from watchkit.security import LoginMonitor

log = watchkit.get_logger("bookings.web")

# Failed logins counted in Redis, shared by every gunicorn worker (and every host): more
# than 5 from one IP or for one user within 10 minutes raises one alert and blocks.
logins = LoginMonitor(
    max_failures=5, window=600, store=settings.REDIS_URL, hash_key=settings.LOGIN_HASH_KEY
)
pay_flow = watchkit.flow("bookings.pay", provider="payments")


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@require_POST
def sign_in(request: HttpRequest) -> JsonResponse:
    data = _body(request)
    username = str(data.get("username", ""))
    if logins.is_blocked(user=username, request=request):
        AUTH.add(1, action="login", outcome="blocked")
        return JsonResponse({"error": "too many attempts, try again later"}, status=429)
    user = authenticate(request, username=username, password=str(data.get("password", "")))
    # Counts watchkit.security.login.attempts, writes the audit.login record, and raises the
    # brute-force alert (security.brute_force_suspected) on the failure over the limit.
    logins.record(user is not None, user=username, request=request)
    if user is None:
        AUTH.add(1, action="login", outcome="failure")
        return JsonResponse({"error": "wrong user name or password"}, status=401)
    login(request, user)
    AUTH.add(1, action="login", outcome="success")
    return JsonResponse({"user": username})


@require_POST
def sign_out(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        AUTH.add(1, action="logout", outcome="failure")
        return JsonResponse({"error": "not signed in"}, status=401)
    logout(request)
    AUTH.add(1, action="logout", outcome="success")
    return JsonResponse({"signed_out": True})


def _free_slots(day: dt.date) -> list[dict[str, Any]]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
    slots = Slot.objects.filter(
        booked=False, starts_at__gte=start, starts_at__lt=start + dt.timedelta(days=1)
    ).order_by("starts_at")
    return [
        {"slot_id": s.id, "instructor": s.instructor, "starts_at": s.starts_at.isoformat()}
        for s in slots
    ]


@require_GET
def availability(request: HttpRequest) -> JsonResponse:
    """Free lessons of a day, or of a week (``?days=7``): one query per day, on purpose slow."""
    try:
        first = dt.date.fromisoformat(request.GET.get("date", ""))
        days = min(int(request.GET.get("days", "1")), 14)
    except ValueError:
        return JsonResponse({"error": "date=YYYY-MM-DD and days=1..14"}, status=400)
    calendar = {}
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        calendar[day.isoformat()] = _free_slots(day)
        if days > 1:
            time.sleep(0.045)  # the instructors' external calendars, synced per day
    return JsonResponse({"days": calendar})


@require_POST
def create_booking(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"error": "sign in first"}, status=401)
    data = _body(request)
    slot_id, phone = data.get("slot_id"), str(data.get("phone", ""))
    if not isinstance(slot_id, int) or not phone:
        return JsonResponse({"error": "slot_id (a number) and phone are required"}, status=400)
    with transaction.atomic():
        taken = Slot.objects.filter(id=slot_id, booked=False).update(booked=True)
        if not taken:
            return JsonResponse({"error": "this lesson is no longer free"}, status=409)
        booking = Booking.objects.create(slot_id=slot_id, learner=request.user, phone=phone)
    BOOKINGS.add(1)
    log.info("booking.created", booking_id=booking.id, slot_id=slot_id)
    return JsonResponse({"booking_id": booking.id, "status": booking.status}, status=201)


@require_GET
def get_booking(request: HttpRequest, booking_id: int) -> JsonResponse:
    booking = Booking.objects.filter(id=booking_id, learner_id=request.user.id).first()
    if booking is None:
        return JsonResponse({"error": "no such booking"}, status=404)
    return JsonResponse({"booking_id": booking.id, "status": booking.status})


@require_POST
def pay(request: HttpRequest, booking_id: int) -> JsonResponse:
    """Charge the lesson through the payment provider; confirm and notify on success."""
    booking = (
        Booking.objects.select_related("slot", "learner")
        .filter(id=booking_id, learner_id=request.user.id)
        .first()
    )
    if booking is None:
        return JsonResponse({"error": "no such booking"}, status=404)
    # Our reference doubles as the provider's charge id, so a timed-out call still has a
    # record that the provider's webhook can be matched against.
    payment = Payment.objects.create(
        booking=booking,
        charge_id=uuid.uuid4().hex,
        amount_cents=booking.slot.price_cents,
        status="pending",
    )
    with pay_flow as flow:
        try:
            answer = httpx.post(
                f"{settings.PAYMENTS_URL}/charges",
                json={
                    "reference": payment.charge_id,
                    "amount_cents": payment.amount_cents,
                    "card_token": str(_body(request).get("card_token", "")),
                },
                timeout=1.0,
            )
        except httpx.HTTPError as error:
            # The charge may or may not have happened: the webhook will tell.
            flow.fail("provider_unreachable")
            PAYMENTS.add(1, outcome="error")
            log.warning("payment.provider_error", booking_id=booking.id, error=type(error).__name__)
            return JsonResponse({"error": "payment provider unavailable"}, status=504)
        if answer.status_code == 402:
            flow.fail("card_declined")
            Payment.objects.filter(id=payment.id, status="pending").update(
                status="failed", updated_at=timezone.now()
            )
            PAYMENTS.add(1, outcome="declined")
            log.info("payment.declined", booking_id=booking.id)
            return JsonResponse({"error": "card declined"}, status=402)
        if answer.status_code != 200:
            flow.fail("provider_error")
            PAYMENTS.add(1, outcome="error")
            log.warning("payment.provider_error", booking_id=booking.id, status=answer.status_code)
            return JsonResponse({"error": "payment provider error"}, status=502)
    # Conditional: a webhook may have been faster and flagged the payment already.
    Payment.objects.filter(id=payment.id, status="pending").update(
        status="succeeded", updated_at=timezone.now()
    )
    booking.status = "confirmed"
    booking.save(update_fields=["status"])
    PAYMENTS.add(1, outcome="approved")
    # The confirmations go through the Celery queue; the request does not wait for them.
    tasks.send_email.delay(booking.id, booking.learner.email)
    tasks.send_sms.delay(booking.id, booking.phone)
    log.info("booking.confirmed", booking_id=booking.id)
    return JsonResponse({"booking_id": booking.id, "status": booking.status})


def _signature(body: bytes) -> str:
    return hmac.new(settings.WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()


@require_POST
def payment_webhook(request: HttpRequest) -> JsonResponse:
    """The provider's word on a charge, compared with our record of it."""
    sent = request.headers.get("X-Payments-Signature", "")
    if not hmac.compare_digest(sent, _signature(request.body)):
        WEBHOOKS.add(1, result="bad_signature")
        watchkit.audit("payment.webhook", actor="provider:payments", outcome="denied",
                       reason="bad signature")  # fmt: skip
        return JsonResponse({"error": "bad signature"}, status=400)
    data = _body(request)
    provider_status = str(data.get("status", ""))
    payment = Payment.objects.filter(charge_id=data.get("charge_id")).first()
    if payment is None:
        WEBHOOKS.add(1, result="unknown")
        log.warning("payment.webhook_unknown_charge", provider_status=provider_status)
        return JsonResponse({"error": "unknown charge"}, status=404)
    internal_status = payment.status
    if internal_status == provider_status:
        WEBHOOKS.add(1, result="match")
        return JsonResponse({"result": "match"})
    # The provider and our record disagree: a charged learner without a confirmed lesson,
    # or a confirmed lesson that was never paid. A person must look at it. One conditional
    # UPDATE, not a read-then-write transaction (which SQLite may refuse as locked).
    Payment.objects.filter(id=payment.id, status=internal_status).update(
        status="needs_review", updated_at=timezone.now()
    )
    WEBHOOKS.add(1, result="mismatch")
    # A business event: counted in watchkit.events{event.name="payment.status_mismatch"},
    # which the PaymentStatusMismatch alert watches, and a log record with the details.
    watchkit.event(
        "payment.status_mismatch",
        payment_id=payment.id,
        booking_id=payment.booking_id,
        provider_status=provider_status,
        internal_status=internal_status,
    )
    # And on the audit trail (WARN, hash-chained, spooled to disk until shipped).
    watchkit.audit(
        "payment.status_mismatch",
        actor="provider:payments",
        outcome="failure",
        target=f"payment:{payment.id}",
        booking_id=payment.booking_id,
        provider_status=provider_status,
        internal_status=internal_status,
    )
    return JsonResponse({"result": "mismatch"})
