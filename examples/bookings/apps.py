"""The bookings Django application."""

from __future__ import annotations

from django.apps import AppConfig


class BookingsConfig(AppConfig):
    """Models of ``examples.bookings``, under the short label ``bookings``."""

    name = "examples.bookings"
    label = "bookings"
    default_auto_field = "django.db.models.AutoField"
