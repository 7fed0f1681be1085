"""``python -m watchkit synthetic run MODULE [--once | --interval N]``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from watchkit._exceptions import ConfigError
from watchkit.synthetic._journey import JourneyDefinition, RunResult, journeys, run

__all__ = ["add_parser", "main"]


def add_parser(commands: Any) -> None:
    """Add the ``synthetic`` command to the CLI's subparsers."""
    synthetic = commands.add_parser("synthetic", help="synthetic journeys")
    sub = synthetic.add_subparsers(dest="synthetic_command", required=True)
    runner = sub.add_parser(
        "run",
        help="run the journeys a module declares: once (exit 1 on failure) or every N seconds",
    )
    runner.add_argument("module", help="dotted module path declaring @synthetic.journey functions")
    mode = runner.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run each journey once and exit")
    mode.add_argument(
        "--interval", type=float, help="seconds between runs (default: each journey's interval)"
    )
    runner.add_argument("--base-url", help="base URL of relative step URLs")
    runner.add_argument(
        "--journey", action="append", help="run only this journey (repeatable)", default=None
    )


def _selected(names: list[str] | None) -> list[JourneyDefinition]:
    declared = journeys()
    if not names:
        return list(declared.values())
    missing = [name for name in names if name not in declared]
    if missing:
        raise SystemExit(f"unknown journey(s): {', '.join(missing)}; declared: {sorted(declared)}")
    return [declared[name] for name in names]


def _print(result: RunResult) -> None:
    print(("OK   " if result.ok else "FAIL ") + str(result), flush=True)


async def _once(selected: list[JourneyDefinition], base_url: str | None) -> int:
    failed = 0
    for definition in selected:
        result = await run(definition, base_url=base_url)
        _print(result)
        failed += not result.ok
    return 1 if failed else 0


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _on_stop_signals(stop: Callable[[int], None]) -> Callable[[], None]:
    """Call ``stop(signum)`` on SIGINT and SIGTERM; return what undoes it."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in _STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, stop, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, not the main thread
            continue
        installed.append(signum)

    def undo() -> None:
        for signum in installed:
            loop.remove_signal_handler(signum)

    return undo


async def _forever(
    selected: list[JourneyDefinition], base_url: str | None, interval: float | None
) -> int:
    """Run the journeys until SIGINT (exit 130) or SIGTERM (143), then return."""
    # Cancelling the task alone is not enough to stop: a run can swallow the
    # cancellation (Python 3.11's asyncio.wait_for does when the journey ends
    # at that moment), so the loop also checks the flag between runs.
    stopped: list[int] = []
    task = asyncio.current_task()

    def stop(signum: int) -> None:
        stopped.append(signum)
        if task is not None:
            task.cancel()

    undo = _on_stop_signals(stop)
    due = dict.fromkeys((d.name for d in selected), 0.0)
    try:
        while not stopped:
            now = time.monotonic()
            for definition in selected:
                if not stopped and now >= due[definition.name]:
                    every = interval or definition.interval or 300.0
                    due[definition.name] = now + every
                    _print(await run(definition, base_url=base_url))
            if not stopped:
                await asyncio.sleep(max(0.05, min(due.values()) - time.monotonic()))
    except asyncio.CancelledError:
        if not stopped:
            raise
    finally:
        undo()
    return 128 + stopped[0]


def main(
    args: argparse.Namespace,
    *,
    configure: Callable[[], Any],
    is_configured: Callable[[], bool],
    shutdown: Callable[[], Any],
) -> int:
    """Run ``synthetic run``; return the exit status.

    The entry point passes configure/shutdown in: this module sits below the
    composition root and must not import it.
    """
    if args.interval is not None and not args.interval > 0:
        print("--interval must be a positive number of seconds", file=sys.stderr)
        return 2
    try:
        importlib.import_module(args.module)
    except ImportError as error:
        print(f"cannot import {args.module}: {error}", file=sys.stderr)
        return 2
    selected = _selected(args.journey)
    if not selected:
        print(f"{args.module} declares no @synthetic.journey", file=sys.stderr)
        return 2
    if not is_configured():  # the module may have configured watchkit itself
        try:
            configure()  # from the environment (OTEL_* / WATCHKIT_*)
        except ConfigError as error:
            print(f"watchkit configuration: {error}", file=sys.stderr)
            return 2
    try:
        if args.once:
            return asyncio.run(_once(selected, args.base_url))
        return asyncio.run(_forever(selected, args.base_url, args.interval))
    except KeyboardInterrupt:
        return 130
    finally:
        shutdown()
