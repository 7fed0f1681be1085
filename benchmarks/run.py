"""Run the benchmark suites and print markdown tables: ``python -m benchmarks.run [name ...]``.

Each ``benchmarks/bench_*.py`` module defines ``suites() -> list[Suite]``.
Options: ``--quick`` (fewer calls, for CI smoke runs), ``--output FILE`` (also
write the tables to FILE). Exit status 0 even when a budget is missed: the
table says so, and docs/performance.md records it; non-zero if a suite fails.

Each module runs in a fresh interpreter: peers such as logfire install
OpenTelemetry globals that would otherwise leak into the next module's rows.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import subprocess
import sys

import benchmarks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="module names without bench_ (default: all)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
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
        for name in modules:
            module = importlib.import_module(f"benchmarks.{name}")
            for suite in module.suites():
                print(suite.run(quick=args.quick).render(), flush=True)
        return 0
    out = [header]
    print(header, flush=True)
    failed = []
    for name in modules:
        command = [sys.executable, "-m", "benchmarks.run", "--in-process"]
        command += ["--quick"] if args.quick else []
        child = subprocess.run(
            [*command, name.removeprefix("bench_")], capture_output=True, text=True, check=False
        )
        print(child.stdout, end="", flush=True)
        out.append(child.stdout)
        if child.returncode != 0:
            failed.append(name)
            print(child.stderr, file=sys.stderr, flush=True)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write("\n".join(out))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
