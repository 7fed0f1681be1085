"""The food-delivery example's generated operations files: current, and accepted by the tools."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from examples.food_delivery.ops.__main__ import GENERATED, files

from tests.ops.dashboards import check_with_promtool
from tests.support.binaries import require
from watchkit import ops

REGENERATE = "python -m examples.food_delivery.ops"


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
    check_with_promtool(model, "food-delivery", tmp_path)
