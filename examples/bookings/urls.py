"""URL patterns: the API and the probes (/livez, /readyz, /healthz)."""

from __future__ import annotations

from django.urls import include, path
from examples.bookings import views

from watchkit.integrations import health as health_endpoints

urlpatterns = [
    path("login", views.sign_in),
    path("logout", views.sign_out),
    path("calendar/availability", views.availability),
    path("bookings", views.create_booking),
    path("bookings/<int:booking_id>", views.get_booking),
    path("bookings/<int:booking_id>/payment", views.pay),
    path("webhooks/payments", views.payment_webhook),
    # Kubernetes-style probes; the middleware records no span or metric for them.
    path("", include(health_endpoints.django_urls())),
]
