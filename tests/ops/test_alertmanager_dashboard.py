"""Alertmanager routing checked by amtool; the dashboard against a golden file and promtool."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.ops.dashboards import check_with_promtool
from tests.support.binaries import require
from watchkit import ConfigError, ops
from watchkit.ops._dashboard import SCHEMA_VERSION, panel_queries

GOLDEN = Path(__file__).parent / "golden" / "dashboard.json"


def _service() -> ops.Service:
    return ops.service(
        "checkout",
        environment="production",
        slos=[ops.slo("availability", objective=0.999)],
        thresholds=[
            ops.threshold("HighLatency", kind="latency", warning="200ms", critical="300ms"),
            ops.threshold("HighErrorRate", kind="error_ratio", warning=0.01, critical=0.03),
        ],
    )


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require("amtool"), *args], capture_output=True, text=True, check=False, timeout=60
    )


def test_alertmanager_config_passes_amtool_and_routes_by_severity(tmp_path: Path) -> None:
    """critical -> pager, warning -> chat, info -> email, as amtool resolves the tree."""
    path = tmp_path / "alertmanager.yaml"
    path.write_text(ops.to_yaml(ops.alertmanager(webhook_urls={"pager": "http://127.0.0.1:1/"})))
    checked = _amtool("check-config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for severity, receiver in (("critical", "pager"), ("warning", "chat"), ("info", "email")):
        routed = _amtool(
            "config", "routes", "test", f"--config.file={path}",
            "service_name=checkout", "alertname=HighLatency", f"severity={severity}",
        )  # fmt: skip
        assert routed.stdout.strip() == receiver, routed.stdout + routed.stderr


def test_alertmanager_inhibits_warning_by_critical_of_the_same_alert() -> None:
    """The inhibition is scoped to the service, the alert and what it is about (SLO, queue ...)."""
    config = ops.alertmanager(receivers={"critical": "oncall"})
    rule = config["inhibit_rules"][0]
    assert rule["source_matchers"] == ['severity="critical"']
    assert rule["equal"] == ["service_name", "alertname", "slo", "route", "health_check_name",
                             "journey", "messaging_destination_name", "job_name"]  # fmt: skip
    assert config["route"]["group_by"] == ["service_name", "alertname"]
    assert [r["name"] for r in config["receivers"]] == ["oncall", "chat", "email"]
    with pytest.raises(ConfigError, match=r"receivers\['page'\]"):
        ops.alertmanager(receivers={"page": "x"})
    with pytest.raises(ConfigError, match=r"webhook_urls\['slack'\] names no receiver"):
        ops.alertmanager(webhook_urls={"slack": "http://x"})


def test_dashboard_matches_the_golden_file() -> None:
    """The generated JSON is reviewed in the golden file; regenerate it on purpose only."""
    model = ops.dashboard(_service(), traces_url="https://grafana.example.com/explore")
    assert model["schemaVersion"] == SCHEMA_VERSION
    text = json.dumps(model, indent=2, sort_keys=True) + "\n"
    if not GOLDEN.exists():  # pragma: no cover - writing a new golden file by hand
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_dashboard_variables_rate_interval_and_threshold_lines() -> None:
    """Variables for datasource/service/environment/instance; rates on $__rate_interval."""
    model = ops.dashboard(_service())
    assert [v["name"] for v in model["templating"]["list"]] == [
        "datasource", "service_name", "deployment_environment_name", "instance",
    ]  # fmt: skip
    queries = [q for _, q in panel_queries(model)]
    assert all("[$__rate_interval]" in q for q in queries if "rate(" in q)
    latency = next(p for p in model["panels"] if p["title"] == "Latency")
    steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.2, 0.3]


def test_queue_panels_draw_the_declared_queue_thresholds() -> None:
    """Backlog, wait and failure-ratio levels are lines on the depth, wait and ratio panels."""
    model = ops.dashboard(
        ops.service(
            "worker",
            thresholds=[
                ops.threshold("Backlog", kind="queue_backlog", warning=100, critical=1000),
                ops.threshold("SlowQueue", kind="queue_wait", warning="30s", critical="2m"),
                ops.threshold("JobFailures", kind="job_failure_ratio", critical=0.2),
            ],
        )
    )
    panels = {p["title"]: p for p in model["panels"]}
    rows = [p["title"] for p in model["panels"] if p["type"] == "row"]
    assert rows.index("Queues") == rows.index("Dependencies") + 1
    assert "User activity" in rows and "Security" not in rows
    for title, levels in (("Queue depth", [None, 100, 1000]), ("Queue wait", [None, 30, 120]),
                          ("Job failure ratio", [None, None, 0.2])):  # fmt: skip
        steps = panels[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["value"] for s in steps] == levels, title
    queries = dict(panel_queries(model))
    assert queries["Active users"].startswith("sum by (feature, period) (watchkit_users_active{")
    assert "watchkit_security_store_errors_total{" in queries["Shared store errors"]


def test_every_panel_query_parses_with_promtool(tmp_path: Path) -> None:
    """Each query, with Grafana's variables substituted, is a valid recording rule for promtool."""
    check_with_promtool(ops.dashboard(_service()), "checkout", tmp_path)
