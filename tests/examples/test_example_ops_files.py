"""Every example's generated operations files: current, and accepted by promtool and amtool.

Each example ships ``ops/ops.yaml`` and the files generated from it
(``python -m examples.<name>.ops``); the tests of what each one declares live
beside its other tests.
"""

from __future__ import annotations

import importlib
import json
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.ops.dashboards import check_with_promtool
from tests.support.binaries import require

# example package -> the service name its dashboard is generated for
EXAMPLES = {
    "food_delivery": "food-delivery",
    "bookings": "bookings",
    "reservations": "reservations",
}


def _ops(example: str) -> ModuleType:
    return importlib.import_module(f"examples.{example}.ops.__main__")


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_generated_files_are_current(example: str) -> None:
    """Each shipped file is what the declarations generate today; else regenerate on purpose."""
    ops = _ops(example)
    generated: Path = ops.GENERATED
    expected: dict[str, str] = ops.files()
    assert sorted(p.name for p in generated.iterdir()) == sorted(expected)
    for name, text in expected.items():
        assert (generated / name).read_text(encoding="utf-8") == text, (
            f"{generated / name} is stale: run python -m examples.{example}.ops and review the diff"
        )


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_rules_pass_promtool(example: str) -> None:
    """promtool check rules accepts the shipped rule file."""
    rules = _ops(example).GENERATED / "rules.yaml"
    checked = _run(require("promtool"), "check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_alertmanager_config_passes_amtool(example: str) -> None:
    """amtool check-config accepts the shipped routing."""
    routing = _ops(example).GENERATED / "alertmanager.yaml"
    checked = _run(require("amtool"), "check-config", str(routing))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_dashboard_queries_parse(example: str, tmp_path: Path) -> None:
    """Every query of the shipped dashboard, variables filled in, is valid PromQL for promtool."""
    dashboard = _ops(example).GENERATED / "dashboard.json"
    model = json.loads(dashboard.read_text(encoding="utf-8"))
    check_with_promtool(model, EXAMPLES[example], tmp_path)
