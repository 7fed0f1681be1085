"""python -m watchkit rules / alertmanager / dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from watchkit._cli import main

DECL = "services:\n  - name: checkout\n    slos:\n      - {name: availability, objective: 0.999}\n"


def test_rules_from_a_declaration_file(tmp_path: Path) -> None:
    """`rules --from` writes the same rule file the Python function returns."""
    from watchkit import ops

    source = tmp_path / "ops.yaml"
    source.write_text(DECL)
    out = tmp_path / "rules.yaml"
    assert main(["rules", "--from", str(source), "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text()) == ops.rules(ops.load_yaml(source))


def test_dashboard_and_alertmanager(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`dashboard` prints JSON for the chosen service; `alertmanager` prints the routing."""
    source = tmp_path / "ops.yaml"
    source.write_text(DECL)
    assert main(["dashboard", "--from", str(source), "--service", "checkout"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "checkout (watchkit)"
    assert main(["alertmanager"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["route"]["receiver"] == "email"


def test_invalid_declarations_exit_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad value or a missing file is one line on stderr and exit status 2."""
    source = tmp_path / "ops.yaml"
    source.write_text(DECL.replace("0.999", "1.5"))
    assert main(["rules", "--from", str(source)]) == 2
    assert "services[0].slos[0].objective = 1.5" in capsys.readouterr().err
    assert main(["rules", "--from", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    source.write_text(DECL)
    assert main(["dashboard", "--from", str(source), "--service", "nope"]) == 2
    assert "use one of: checkout" in capsys.readouterr().err
