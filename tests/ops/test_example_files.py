"""What the food-delivery example declares: the platform's thresholds and SLOs (the generated
files themselves: tests/examples/test_example_ops_files.py)."""

from __future__ import annotations

from examples.food_delivery.ops.__main__ import GENERATED

from watchkit import ops


def test_declarations_carry_the_platform_thresholds() -> None:
    """200/300 ms, 1/3 %, 80/90 %, more than 5 failed logins, and the four SLOs."""
    (service,) = ops.load_yaml(GENERATED.parent / "ops.yaml")
    levels = {t.name: (t.warning, t.critical) for t in service.thresholds}
    assert levels["HighLatency"] == (0.2, 0.3)
    assert levels["HighErrorRate"] == (0.01, 0.03)
    # The delivery-tracking API has the same levels as alerts of its own.
    routes = {t.name: t.route for t in service.thresholds}
    assert levels["TrackingLatency"] == (0.2, 0.3) and levels["TrackingErrorRate"] == (0.01, 0.03)
    assert routes["TrackingLatency"] == routes["TrackingErrorRate"] == "/orders/{order_id}/tracking"
    assert levels["HighCPU"] == levels["HighMemory"] == (0.8, 0.9)
    assert {s.name: s.objective for s in service.slos} == {
        "availability": 0.999, "fast": 0.95, "orders": 0.999, "database": 0.99,
    }  # fmt: skip
