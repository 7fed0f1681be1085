"""What the reservations example declares: its four SLOs, selecting what the app emits."""

from __future__ import annotations

from examples.reservations.ops.__main__ import GENERATED

from watchkit import ops


def test_declarations_carry_the_service_levels() -> None:
    """99.9 % available, 95 % within 500 ms, under 0.1 % errors, 99 % of queries in 100 ms."""
    (service,) = ops.load_yaml(GENERATED.parent / "ops.yaml")
    slos = {s.name: s for s in service.slos}
    assert {name: s.objective for name, s in slos.items()} == {
        "availability": 0.999, "fast": 0.95, "errors": 0.999, "database": 0.99,
    }  # fmt: skip
    assert (slos["fast"].sli, slos["fast"].latency) == ("latency", 0.5)
    assert slos["errors"].flow == "reservation.create"
    assert (slos["database"].latency, slos["database"].db_system) == (0.1, "sqlite")


def test_rules_select_what_the_example_emits() -> None:
    """The SLO rules ask for the flow and the database the app records, under its name."""
    text = (GENERATED / "rules.yaml").read_text(encoding="utf-8")
    assert 'flow_name="reservation.create"' in text
    assert 'db_system_name="sqlite"' in text
    assert 'service_name="reservations"' in text
    alerts = {line.split(":", 1)[1].strip() for line in text.splitlines()
              if line.strip().startswith("- alert:")}  # fmt: skip
    assert {"ErrorBudgetBurn", "HighLatency", "HighErrorRate", "SlowDatabaseQueries",
            "AvailabilityCacheErrors", "BruteForceSuspected"} <= alerts  # fmt: skip
