"""The benchmarks still run: a quick pass of every suite (timings are not judged here)."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_benchmark_suite_runs_and_reports_its_budgets() -> None:
    """`python -m benchmarks.run --quick` exits 0 and prints a table per module."""
    modules = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    tables = result.stdout.count("### ")
    assert tables >= len(modules), result.stdout
    assert "| budget |" in result.stdout


def test_json_results_have_one_record_per_row_and_keep_other_modules(tmp_path: Path) -> None:
    """`--json FILE` writes every row with its budgets, merged with the other modules' rows.

    Rows of a module not run are kept; rows of a module that no longer exists are dropped.
    """
    results = tmp_path / "results.json"
    kept = {"module": "import", "suite": "s", "case": "c", "median_s": 1.0, "ratio": 1.0}
    gone = {**kept, "module": "removed_since"}
    stale = {**kept, "module": "metrics"}
    results.write_text(json.dumps({"run": {}, "rows": [gone, stale, kept]}), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--json", str(results), "metrics"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(results.read_text(encoding="utf-8"))
    assert document["run"]["quick"] is True
    assert document["run"]["python"] == platform.python_version()
    assert [row for row in document["rows"] if row["module"] != "metrics"] == [kept]
    assert stale not in document["rows"]
    rows = [row for row in document["rows"] if row["module"] == "metrics"]
    table_rows = [line for line in result.stdout.splitlines() if re.match(r"\| .* µs \|", line)]
    assert len(rows) == len(table_rows) > 2
    for row in rows:
        assert set(row) == {
            "module",
            "suite",
            "case",
            "median_s",
            "ratio",
            "budgets",
            "python",
            "date",
            "quick",
        }
        assert row["median_s"] > 0
        assert row["date"] == document["run"]["date"]
    assert rows[0]["ratio"] == 1.0
    budgets = [budget for row in rows for budget in row["budgets"]]
    assert len(budgets) == result.stdout.count(" | met |") + result.stdout.count(" | MISSED |")
    for budget in budgets:
        assert budget["met"] == (budget["ratio"] <= budget["limit"])
