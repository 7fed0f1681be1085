"""Import cost: `import watchkit` against `import opentelemetry.sdk.trace`.

Each call is a fresh interpreter (``python -c "import X"``); the bare
interpreter row is subtracted to give the import's own cost. watchkit's façade
loads names on first use, so importing it costs less than the SDK's tracing
module alone; configure() pays for the SDK when it runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from benchmarks.harness import Budget, Suite


def _python(statement: str) -> Callable[[int], float]:
    def timed(number: int) -> float:
        start = time.perf_counter()
        for _ in range(number):
            subprocess.run([sys.executable, "-c", statement], check=True)
        return time.perf_counter() - start

    timed.timed = True  # type: ignore[attr-defined]
    return timed


def suites() -> list[Suite]:
    return [
        Suite(
            "Import time (fresh interpreter per call)",
            cases={
                "bare interpreter (python -c pass)": _python("pass"),
                "import opentelemetry.sdk.trace": _python("import opentelemetry.sdk.trace"),
                "import watchkit": _python("import watchkit"),
                "import watchkit + configure(exporter='none')": _python(
                    "import watchkit; watchkit.configure(exporter='none')"
                ),
            },
            budgets=[
                Budget(
                    "import watchkit",
                    "import opentelemetry.sdk.trace",
                    1.0,
                    overhead_of="bare interpreter (python -c pass)",
                )
            ],
            number=1,
            rounds=15,
        )
    ]
