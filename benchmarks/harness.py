"""Measure several variants of one job side by side and report medians and ratios.

Every variant of a suite runs in the same process, interleaved round by round
(round 1 of A, B, C, then round 2 of A, B, C, ...), so drift in machine load
hits all of them alike. Each round times ``number`` calls; the table shows the
median per-call time over the rounds. Budgets are ratios between two rows and
live here, in the benchmark, never in timed unit tests.
"""

from __future__ import annotations

import asyncio
import gc
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Budget", "Result", "Suite", "async_case"]


@dataclass(frozen=True)
class Budget:
    """``case`` may cost at most ``max_ratio`` times ``reference``.

    With ``overhead_of`` set, both sides are compared as overheads over that
    bare row (instrumented minus bare), which is how per-request budgets are
    stated.
    """

    case: str
    reference: str
    max_ratio: float
    overhead_of: str | None = None


@dataclass
class Result:
    suite: str
    medians: dict[str, float]
    budgets: list[tuple[Budget, float, bool]]
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        first = next(iter(self.medians.values()), 1.0) or 1.0
        lines = [
            f"### {self.suite}",
            "",
            "| variant | median per call | ratio to first row |",
            "|---|---:|---:|",
        ]
        for name, value in self.medians.items():
            lines.append(f"| {name} | {_fmt(value)} | {value / first:.2f}x |")
        if self.budgets:
            lines += ["", "| budget | measured | limit | result |", "|---|---:|---:|---|"]
            for budget, ratio, ok in self.budgets:
                what = f"{budget.case} / {budget.reference}"
                if budget.overhead_of:
                    what += f" (overhead over {budget.overhead_of})"
                lines.append(
                    f"| {what} | {ratio:.2f}x | {budget.max_ratio:.2f}x | "
                    f"{'met' if ok else 'MISSED'} |"
                )
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def records(self) -> list[dict[str, object]]:
        """One machine-readable record per row (``benchmarks.run --json`` writes them).

        ``ratio`` is to the first row, as in the table; ``budgets`` lists the
        budgets whose ``case`` is this row, with the measured ratio and the limit.
        """
        first = next(iter(self.medians.values()), 1.0) or 1.0
        rows = []
        for name, value in self.medians.items():
            budgets = [
                {
                    "reference": budget.reference,
                    "overhead_of": budget.overhead_of,
                    "limit": budget.max_ratio,
                    "ratio": ratio if math.isfinite(ratio) else None,
                    "met": ok,
                }
                for budget, ratio, ok in self.budgets
                if budget.case == name
            ]
            rows.append(
                {
                    "suite": self.suite,
                    "case": name,
                    "median_s": value,
                    "ratio": value / first,
                    "budgets": budgets,
                }
            )
        return rows


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def async_case(factory: Callable[[], Awaitable[object]]) -> Callable[[int], float]:
    """Turn ``async def`` work into a timed case: ``number`` awaits inside one event loop."""

    def timed(number: int) -> float:
        async def loop() -> float:
            start = time.perf_counter()
            for _ in range(number):
                await factory()
            return time.perf_counter() - start

        return asyncio.run(loop())

    timed.timed = True  # type: ignore[attr-defined]
    return timed


@dataclass
class Suite:
    """A named set of variants of one job.

    Args:
        name: table title.
        cases: ordered ``label -> callable``. A plain callable takes no argument
            and is called ``number`` times per round; a callable marked
            ``timed`` (see :func:`async_case`) takes ``number`` and returns seconds.
        budgets: ratio limits checked after measuring.
        number: calls per round.
        rounds: rounds per case; the median is reported.
        setup / teardown: run once around the whole suite.
    """

    name: str
    cases: dict[str, Callable[..., object]]
    budgets: list[Budget] = field(default_factory=list)
    number: int = 2000
    rounds: int = 9
    setup: Callable[[], object] | None = None
    teardown: Callable[[], object] | None = None
    notes: list[str] = field(default_factory=list)

    def run(self, quick: bool = False) -> Result:
        number = max(1, self.number // 10) if quick else self.number
        rounds = 3 if quick else self.rounds
        if self.setup:
            self.setup()
        try:
            samples: dict[str, list[float]] = {name: [] for name in self.cases}
            for case in self.cases.values():  # warm-up
                self._time(case, max(1, number // 10))
            for _ in range(rounds):
                for name, case in self.cases.items():
                    samples[name].append(self._time(case, number) / number)
        finally:
            if self.teardown:
                self.teardown()
        medians = {name: statistics.median(values) for name, values in samples.items()}
        return Result(self.name, medians, self.check(medians), list(self.notes))

    def check(self, medians: dict[str, float]) -> list[tuple[Budget, float, bool]]:
        checked = []
        for budget in self.budgets:
            case, reference = medians[budget.case], medians[budget.reference]
            if budget.overhead_of:
                bare = medians[budget.overhead_of]
                case, reference = case - bare, reference - bare
            ratio = case / reference if reference > 0 else float("inf")
            checked.append((budget, ratio, ratio <= budget.max_ratio))
        return checked

    @staticmethod
    def _time(case: Callable[..., object], number: int) -> float:
        if getattr(case, "timed", False):
            return float(case(number))  # type: ignore[arg-type]
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(number):
                case()
            return time.perf_counter() - start
        finally:
            if gc_was_enabled:
                gc.enable()
