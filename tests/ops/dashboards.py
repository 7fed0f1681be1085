"""Dashboard queries as Prometheus sees them once Grafana has filled in its variables."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.support.binaries import require
from watchkit import ops
from watchkit.ops._dashboard import panel_queries


def filled_queries(
    model: dict[str, Any], service: str, rate_interval: str = "1m"
) -> list[tuple[str, str]]:
    """(panel title, query) of every target, Grafana's variables replaced for one service."""
    substitutions = {"$__rate_interval": rate_interval, "$service_name": service,
                     "$deployment_environment_name": ".*", "$instance": ".*"}  # fmt: skip
    out = []
    for title, template in panel_queries(model):
        query = template
        for variable, value in substitutions.items():
            query = query.replace(variable, value)
        assert "$" not in query, (title, query)
        out.append((title, query))
    return out


def check_with_promtool(model: dict[str, Any], service: str, directory: Path) -> None:
    """Every query, as a recording rule, passes ``promtool check rules``."""
    rules = [
        {"record": f"dashboard:query:{index}", "expr": query}
        for index, (_, query) in enumerate(filled_queries(model, service))
    ]
    path = directory / "dashboard-queries.yaml"
    path.write_text(ops.to_yaml({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [require("promtool"), "check", "rules", str(path)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
