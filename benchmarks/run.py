"""Run the benchmark suites and print markdown tables: ``python -m benchmarks.run [name ...]``.

Each ``benchmarks/bench_*.py`` module defines ``suites() -> list[Suite]``.
Options: ``--quick`` (fewer calls, for CI smoke runs), ``--output FILE`` (also
write the tables to FILE), ``--json FILE`` (also write one record per row, see
:func:`write_json`). Exit status 0 even when a budget is missed: the
table says so, and docs/performance.md records it; non-zero if a suite fails.

Each module runs in a fresh interpreter: peers such as logfire install
OpenTelemetry globals that would otherwise leak into the next module's rows.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import pkgutil
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import benchmarks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="module names without bench_ (default: all)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output")
    parser.add_argument("--json", help="write machine-readable results (one record per row)")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--records", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    modules = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    if args.names:
        modules = [m for m in modules if m.removeprefix("bench_") in args.names]
    header = (
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{'quick' if args.quick else 'full'} run\n"
    )
    if args.in_process:
        records: list[dict[str, object]] = []
        for name in modules:
            module = importlib.import_module(f"benchmarks.{name}")
            for suite in module.suites():
                result = suite.run(quick=args.quick)
                print(result.render(), flush=True)
                records += [
                    {"module": name.removeprefix("bench_"), **row} for row in result.records()
                ]
        if args.records:
            Path(args.records).write_text(json.dumps(records), encoding="utf-8")
        return 0
    # Taken before the first suite runs: the load the measurements start under.
    run_info = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "quick": args.quick,
    }
    scratch = tempfile.TemporaryDirectory()
    rows: list[dict[str, object]] = []
    out = [header]
    print(header, flush=True)
    failed = []
    for name in modules:
        command = [sys.executable, "-m", "benchmarks.run", "--in-process"]
        command += ["--quick"] if args.quick else []
        records_file = Path(scratch.name) / f"{name}.json"
        command += ["--records", str(records_file)] if args.json else []
        child = subprocess.run(
            [*command, name.removeprefix("bench_")], capture_output=True, text=True, check=False
        )
        print(child.stdout, end="", flush=True)
        out.append(child.stdout)
        if child.returncode != 0:
            failed.append(name)
            print(child.stderr, file=sys.stderr, flush=True)
        elif args.json:
            rows += json.loads(records_file.read_text(encoding="utf-8"))
    scratch.cleanup()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write("\n".join(out))
    if args.json:
        every = {
            m.name.removeprefix("bench_")
            for m in pkgutil.iter_modules(benchmarks.__path__)
            if m.name.startswith("bench_")
        }
        write_json(Path(args.json), run_info, rows, every)
    return 1 if failed else 0


def write_json(
    path: Path, run_info: dict[str, object], rows: list[dict[str, object]], modules: set[str]
) -> None:
    """Write ``{"run": run_info, "rows": [...]}`` to ``path``, merged with what it holds.

    Every row carries its module, suite, case, median seconds, ratio to the
    first row of its suite, the budgets it is the case of (measured ratio,
    limit, met) and the run's Python version, date and mode. Rows of modules
    this run did not measure (``make bench BENCH=import``, or a module that
    failed) are kept from the existing file, so the charts stay complete; rows
    of a module no longer in ``modules`` are dropped.
    """
    stamp = {key: run_info[key] for key in ("python", "date", "quick")}
    fresh = [{**row, **stamp} for row in rows]
    measured = {row["module"] for row in fresh}
    kept: list[dict[str, object]] = []
    if path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        kept = [
            row
            for row in previous.get("rows", [])
            if row.get("module") not in measured and row.get("module") in modules
        ]
    merged = sorted(kept + fresh, key=lambda row: str(row["module"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"run": run_info, "rows": merged}
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
