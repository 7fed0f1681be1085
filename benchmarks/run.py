"""Run the benchmark suites and print markdown tables: ``python -m benchmarks.run [name ...]``.

Each ``benchmarks/bench_*.py`` module defines ``suites() -> list[Suite]``.
Options: ``--quick`` (fewer calls, for CI smoke runs), ``--output FILE`` (also
write the tables to FILE). Exit status 0 even when a budget is missed: the
table says so, and docs/performance.md records it.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys

import benchmarks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="module names without bench_ (default: all)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output")
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
    out = [header]
    print(header, flush=True)
    for name in modules:
        module = importlib.import_module(f"benchmarks.{name}")
        for suite in module.suites():
            text = suite.run(quick=args.quick).render()
            print(text, flush=True)
            out.append(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
