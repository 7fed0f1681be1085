"""Regenerate ``generated/`` from ``ops.yaml``: ``python -m examples.bookings.ops``."""

from __future__ import annotations

import json
from pathlib import Path

from watchkit import ops

HERE = Path(__file__).parent
GENERATED = HERE / "generated"


def files() -> dict[str, str]:
    """The generated files by name, from the declarations in ``ops.yaml``."""
    services = ops.load_yaml(HERE / "ops.yaml")
    return {
        "rules.yaml": ops.to_yaml(ops.rules(services)),
        "alertmanager.yaml": ops.to_yaml(ops.alertmanager()),
        "dashboard.json": json.dumps(ops.dashboard(services[0]), indent=2) + "\n",
    }


if __name__ == "__main__":
    GENERATED.mkdir(exist_ok=True)
    for name, text in files().items():
        (GENERATED / name).write_text(text, encoding="utf-8")
        print(GENERATED / name)
