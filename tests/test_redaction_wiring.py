"""Secrets passed through watchkit's span and event APIs are redacted, also at the collector."""

from __future__ import annotations

import pytest

import watchkit
from tests.support.receiver import OtlpReceiver
from tests.support.rotel import RotelCollector
from watchkit.testing import TelemetryCapture

CARD = "4111 1111 1111 1111"  # passes the Luhn check
SECRET = "s3cr3t-value-do-not-export"


@watchkit.traced("payments.authorize", attributes={"api_key": SECRET}, record_args=("card", "who"))
def authorize(card: str, who: str) -> str:
    return who


def _run_everything() -> None:
    authorize(CARD, "guest-7")
    with watchkit.flow("checkout.pay", token=SECRET) as f:
        f.set_attribute("password", SECRET)
        f.set_attribute("note", f"card {CARD} used")
        f.set_attribute("courier.id", "c-981")
    watchkit.event("payment.attempted", card_number=CARD, method="card")


def test_span_and_event_attributes_are_redacted(telemetry: TelemetryCapture) -> None:
    """record_args, static attributes, set_attribute and event attributes all pass redaction."""
    _run_everything()
    auth = telemetry.span("payments.authorize")
    assert auth.attributes is not None
    assert auth.attributes["api_key"] == "[REDACTED]"
    assert auth.attributes["card"] == "[REDACTED]"
    assert auth.attributes["who"] == "guest-7"
    pay = telemetry.span("checkout.pay")
    assert pay.attributes is not None
    assert pay.attributes["token"] == "[REDACTED]"
    assert pay.attributes["password"] == "[REDACTED]"
    assert CARD not in str(pay.attributes["note"])
    assert pay.attributes["courier.id"] == "c-981"
    record = telemetry.logs(event="payment.attempted")[0]
    assert record.attributes is not None
    assert record.attributes["card_number"] == "[REDACTED]"
    assert record.attributes["method"] == "card"
    for point in telemetry.metric_points("watchkit.flow.duration"):
        assert SECRET not in str(point.attributes)


@pytest.mark.collector
def test_no_secret_reaches_the_collector(
    rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver, clean_env: object
) -> None:
    """The exported OTLP payload seen downstream of a real collector carries no secret."""
    watchkit.configure(exporter="otlp", endpoint=rotel_collector.http_endpoint)
    _run_everything()
    assert watchkit.force_flush(timeout=10)
    otlp_receiver.wait_for(lambda r: any(s.name == "checkout.pay" for s in r.spans()))
    otlp_receiver.wait_for(lambda r: any(x.event_name == "payment.attempted" for x in r.logs()))
    otlp_receiver.wait_for(lambda r: any(m.name == "watchkit.flow.duration" for m in r.metrics()))
    everything = repr((otlp_receiver.spans(), otlp_receiver.logs(), otlp_receiver.metrics()))
    assert SECRET not in everything
    assert CARD not in everything and CARD.replace(" ", "") not in everything
    assert "[REDACTED]" in everything
