"""Smoke test of the food-delivery example: its one command, exporting to a real rotel collector.

``python -m examples.food_delivery`` starts the stand-in payment provider and the app
under uvicorn, drives ``traffic.py`` for a few seconds and stops both; the app's
in-process synthetic journey runs once at start-up. What each requirement of the
example produces must arrive at the collector: spans, metrics and the audit records.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import clean_environ
from tests.support.fixtures import otlp_receiver, rotel_collector  # noqa: F401
from tests.support.receiver import OtlpReceiver, ReceivedMetricPoint
from tests.support.rotel import RotelCollector

pytestmark = [pytest.mark.server, pytest.mark.collector, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
TRACKING = "/orders/{order_id}/tracking"


def _latest(points: list[ReceivedMetricPoint], **attributes: Any) -> list[ReceivedMetricPoint]:
    """The points carrying ``attributes``, last one per series (the SDK re-exports totals)."""
    series: dict[tuple[Any, ...], ReceivedMetricPoint] = {}
    for point in points:
        if all(point.attributes.get(k.replace("_", ".")) == v for k, v in attributes.items()):
            series[tuple(sorted(point.attributes.items()))] = point
    return list(series.values())


def _total(receiver: OtlpReceiver, name: str, **attributes: Any) -> float:
    return sum(p.value or 0 for p in _latest(receiver.metrics(name), **attributes))


def _statuses(receiver: OtlpReceiver) -> set[tuple[Any, Any]]:
    return {
        (p.attributes.get("http.route"), p.attributes.get("http.response.status_code"))
        for p in receiver.metrics("http.server.request.duration")
    }


def _codes(receiver: OtlpReceiver, **attributes: Any) -> set[Any]:
    points = _latest(receiver.metrics("http.client.request.duration"), **attributes)
    return {p.attributes.get("http.response.status_code") for p in points}


def test_the_example_runs_and_its_telemetry_reaches_the_collector(
    rotel_collector: RotelCollector,  # noqa: F811
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    """Orders, payments, confirmation, tracking, audits, brute force and the journey, at rotel."""
    env = clean_environ(
        {
            "PYTHONPATH": str(ROOT),
            "OTEL_EXPORTER_OTLP_ENDPOINT": rotel_collector.http_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_METRIC_EXPORT_INTERVAL": "2000",
        }
    )
    run = subprocess.run(
        [sys.executable, "-m", "examples.food_delivery", "--duration", "6",
         "--abandon-after", "1", "--seed", "13"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # The traffic script's own account: each failure path was taken.
    for outcome in ("pay 402", "pay 502", "place order 201", "refund 200",
                    "open map (not theirs) 403", "courier login (guessing) 429"):  # fmt: skip
        assert outcome in run.stdout, run.stdout[-3000:]

    r = otlp_receiver
    # Requests by route, the tracking API among them; payments failing upstream as 502.
    wanted = {("/orders", 201), ("/orders/{order_id}/payment", 200),
              ("/orders/{order_id}/payment", 402), ("/orders/{order_id}/payment", 502),
              ("/orders/{order_id}/confirmation", 200), (TRACKING, 200),
              ("/orders/{order_id}/map", 200), ("/orders/{order_id}/map", 403),
              ("/orders/{order_id}/refund", 200), ("/couriers/login", 429)}  # fmt: skip
    r.wait_for(lambda r: wanted <= _statuses(r))
    tracking = r.wait_for_span(f"GET {TRACKING}")
    assert tracking.kind == "server" and tracking.resource_attributes["service.name"] == (
        "food-delivery"
    )
    # The database and the payment provider as a dependency.
    db = r.wait_for(lambda r: r.metrics("db.client.operation.duration"))
    assert {p.attributes.get("db.collection.name") for p in db} >= {"orders", "menu_items"}
    r.wait_for(lambda r: {200, 402, 503} <= _codes(r, service_peer_name="payments"))
    # Only the provider: the journey's own calls to the app (by address) are not "payments".
    peers = _latest(r.metrics("http.client.request.duration"), service_peer_name="payments")
    assert {p.attributes.get("server.address") for p in peers} == {"localhost"}

    # Business metrics.
    assert r.wait_for(lambda r: _total(r, "orders.placed")) >= 4
    reasons = {"declined", "provider_error"}
    r.wait_for(lambda r: reasons <= {p.attributes["reason"] for p in r.metrics("payments.failed")})
    basket = r.wait_for(lambda r: _latest(r.metrics("orders.basket.value")))
    assert basket[0].kind == "histogram" and basket[0].count and basket[0].count >= 4
    assert r.wait_for(lambda r: _total(r, "checkout.abandoned")) >= 1
    active = r.wait_for(
        lambda r: _latest(r.metrics("watchkit.users.active"), feature="food-delivery")
    )
    assert active[-1].value and active[-1].value >= 4  # cu-1 .. cu-4 (and the journey)
    flows = _latest(r.metrics("watchkit.flow.duration"), flow_name="place_order")
    assert flows and flows[0].attributes["flow.outcome"] == "success"

    # Audit records: refunds and tracking-map openings, a refused one included.
    refunds = r.wait_for(lambda r: r.logs("audit.order.refund"))
    by_agent = [x for x in refunds if x.attributes["audit.actor"].startswith("agent:")]
    assert by_agent and by_agent[0].attributes["audit.outcome"] == "success"
    assert by_agent[0].attributes["audit.target"].startswith("order:")
    # The only other refunds are restaurants' rejections.
    assert all(x.attributes["audit.actor"] == "restaurant" for x in refunds if x not in by_agent)
    outcomes = {"success", "denied"}
    r.wait_for(
        lambda r: (
            outcomes <= {m.attributes["audit.outcome"] for m in r.logs("audit.tracking_map.open")}
        )
    )
    maps = r.logs("audit.tracking_map.open")
    assert all(m.attributes["audit.target"].startswith("order:") for m in maps)

    # Brute force on the courier login: one alert for the guessing address.
    alert = r.wait_for_log("security.brute_force_suspected")
    assert alert.attributes["client.address"] == "203.0.113.66"
    assert r.wait_for(lambda r: _total(r, "watchkit.security.alerts", kind="brute_force")) >= 1

    # The synthetic journey, in process, passed (and traced its steps).
    journey = "place-order-track-delivery"
    runs = r.wait_for(lambda r: _latest(r.metrics("watchkit.synthetic.runs"), journey=journey))
    # It passes (tests/synthetic checks that); here, only a loaded machine may fail it,
    # on its 200 ms budget for the tracking step.
    assert all(p.attributes.get("error.type") in (None, "latency_budget") for p in runs)
    assert r.wait_for_span("synthetic step track delivery").kind == "client"
