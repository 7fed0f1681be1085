"""The reservations example's generated operations files: current, and accepted by the tools."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from examples.reservations.ops.__main__ import GENERATED, files

from tests.ops.dashboards import check_with_promtool
from tests.support.binaries import require
from watchkit import ops

REGENERATE = "python -m examples.reservations.ops"


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def test_generated_files_are_current() -> None:
    """Each shipped file is what the declarations generate today; else regenerate on purpose."""
    expected = files()
    assert sorted(p.name for p in GENERATED.iterdir()) == sorted(expected)
    for name, text in expected.items():
        assert (GENERATED / name).read_text(encoding="utf-8") == text, (
            f"{GENERATED / name} is stale: run {REGENERATE} and review the diff"
        )


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


def test_rules_pass_promtool() -> None:
    """promtool check rules accepts the shipped rule file."""
    checked = _run(require("promtool"), "check", "rules", str(GENERATED / "rules.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_alertmanager_config_passes_amtool() -> None:
    """amtool check-config accepts the shipped routing."""
    checked = _run(require("amtool"), "check-config", str(GENERATED / "alertmanager.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Every query of the shipped dashboard, variables filled in, is valid PromQL for promtool."""
    model = json.loads((GENERATED / "dashboard.json").read_text(encoding="utf-8"))
    check_with_promtool(model, "reservations", tmp_path)
