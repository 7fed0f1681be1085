"""The benchmarks still run: a quick pass of every suite (timings are not judged here)."""

from __future__ import annotations

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
