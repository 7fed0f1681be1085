"""Lesson slots, bookings and payments: what the school's calendar and till keep."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Slot(models.Model):
    """One driving lesson an instructor offers: free until a learner books it."""

    instructor = models.CharField(max_length=50)
    starts_at = models.DateTimeField(db_index=True)
    price_cents = models.IntegerField(default=4500)
    booked = models.BooleanField(default=False)

    class Meta:
        app_label = "bookings"


class Booking(models.Model):
    """A learner's booking of a slot; confirmed once it is paid."""

    slot = models.OneToOneField(Slot, on_delete=models.CASCADE)
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    phone = models.CharField(max_length=20)  # where the SMS confirmation goes
    status = models.CharField(max_length=20, default="pending_payment")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "bookings"


class Payment(models.Model):
    """One payment attempt and what we believe its status is.

    ``status`` is the internal record: ``succeeded`` or ``failed`` from the provider's
    answer, ``pending`` when the call failed or timed out, and ``needs_review`` when the
    provider's webhook later said something else.
    """

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE)
    charge_id = models.CharField(max_length=64, unique=True)
    amount_cents = models.IntegerField()
    status = models.CharField(max_length=20)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "bookings"
