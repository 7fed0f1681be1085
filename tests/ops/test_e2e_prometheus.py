"""End to end, all real: an instrumented app, Prometheus and Alertmanager on loopback.

One stack per module: a WSGI app instrumented by watchkit serves ``/metrics``;
a real Prometheus (Debian) scrapes it every second with the generated rules
loaded and sends alerts to a real Alertmanager (Debian) configured with the
generated routing, whose receivers post to a webhook server in this process.
The traffic crosses the error-rate threshold and also exercises the database,
cache, dependency, outgoing HTTP, health, synthetic, queue (through
``watchkit.queue``), active-user, security and runtime metrics, so every
dashboard panel has something to show. The tests then read
the alert states, the webhook deliveries, every panel's query and a report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import watchkit
import watchkit.cache
import watchkit.db
import watchkit.http_client
import watchkit.queue
import watchkit.runtime
from tests.integrations.servers import WsgiThread
from tests.ops.dashboards import filled_queries
from tests.support.binaries import require
from watchkit import ops, synthetic
from watchkit._cli import main
from watchkit.health import HealthRegistry
from watchkit.integrations.wsgi import WatchkitMiddleware
from watchkit.ops._dashboard import panel_queries
from watchkit.security import LoginMonitor

pytestmark = [pytest.mark.server, pytest.mark.slow]

SERVICE = "e2e-shop"
RUNBOOK = "https://runbooks.example.com/e2e"
# The report's SLO compliance may differ from the traffic's own share by this
# much (absolute). Prometheus counts a series from its first scrape, so the
# requests served while it starts are not in the report (about a quarter here);
# they have the same mix of ok, failed and slow requests, so the shares hold.
TOLERANCE = 0.01


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _declaration() -> ops.Service:
    return ops.service(
        SERVICE,
        team="payments",
        runbook_url=RUNBOOK,
        slos=[
            ops.slo("availability", objective=0.95, period="1d"),
            ops.slo("fast", objective=0.9, sli="latency", latency="250ms", period="1d"),
        ],
        thresholds=[
            ops.threshold(
                "HighErrorRate",
                kind="error_ratio",
                warning=0.01,
                critical=0.03,
                for_="3s",
                window="1m",
            ),
            ops.threshold("HighLatency", kind="latency", warning="200ms", critical="300ms"),
            ops.threshold("HealthCheckFailing", kind="health", warning="warn", critical="fail"),
            ops.threshold("SyntheticJourneyFailing", kind="synthetic", warning=0),
            # The test's queue keeps one more message each round.
            ops.threshold(
                "EmailBacklog", kind="queue_backlog", warning=20, queue="emails", for_="2s"
            ),
        ],
        anomalies=False,
    )


class _Webhook(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Stack:
    prometheus: str
    service: ops.Service
    states: list[str] = field(default_factory=list)
    firing: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "slow": 0})
    start: float = 0.0
    panels: list[tuple[str, str, list[float]]] = field(default_factory=list)
    backlog: list[dict[str, Any]] = field(default_factory=list)


def _app(engine: Any) -> Any:
    import sqlalchemy

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        failing = path == "/fail"
        with watchkit.cache.lookup("menu") as lookup:
            if failing:
                lookup.miss()
            else:
                lookup.hit()
        with engine.connect() as conn, contextlib.suppress(sqlalchemy.exc.OperationalError):
            conn.execute(sqlalchemy.text("SELECT * FROM missing" if failing else "SELECT 1"))
        try:
            with watchkit.flow("place_order"), watchkit.dependency("payments"):
                if failing:
                    raise ConnectionError("payment provider unreachable")
                watchkit.event("order.placed", restaurant="pasta")
        except ConnectionError:
            pass
        if path == "/slow":
            time.sleep(0.3)
        start_response("500 Internal Server Error" if failing else "200 OK", [])
        return [b"no" if failing else b"ok"]

    return app


class _Jobs:
    """A queue in memory, sent to and processed through ``watchkit.queue``; every 5th job fails."""

    def __init__(self) -> None:
        self.outbox: list[dict[str, str]] = []
        self.sent = 0
        # Held: a depth source that is no longer referenced stops reporting.
        self.depth = watchkit.queue.depth("emails", lambda: len(self.outbox), system="redis")

    def run(self) -> None:
        for _ in range(2):
            headers: dict[str, str] = {}
            with watchkit.queue.send("emails", headers, system="redis"):
                self.outbox.append(headers)
            self.sent += 1
        headers = self.outbox.pop(0)  # one stays behind each round: the backlog grows
        with (
            contextlib.suppress(RuntimeError),
            watchkit.queue.process("emails", headers, system="redis", job="send_email"),
        ):
            if self.sent % 10 == 0:
                raise RuntimeError("mail server refused")


def _firing(base: str, name: str = "HighErrorRate") -> list[dict[str, Any]]:
    payload = httpx.get(f"{base}/api/v1/alerts", timeout=5).json()
    return [a for a in payload["data"]["alerts"] if a["labels"]["alertname"] == name]


def _start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as stream:  # the child keeps its own descriptor
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stream)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
        process.kill()
        process.wait(timeout=10)


def _journeys(stack: Stack, url: str) -> None:
    async def order(j: synthetic.Journey) -> None:
        await j.get("order", "/ok")

    async def broken(j: synthetic.Journey) -> None:
        await j.get("refund", "/fail")

    for name, function, outcome in (("order", order, "ok"), ("refund", broken, "fail")):
        asyncio.run(synthetic.run(synthetic.JourneyDefinition(name, function), base_url=url))
        stack.sent[outcome] += 1


def _panel_results(base: str, service: ops.Service) -> list[tuple[str, str, list[float]]]:
    """(title, query, values) of every dashboard target, evaluated now."""
    results = []
    for title, query in filled_queries(ops.dashboard(service), SERVICE):
        payload = httpx.get(f"{base}/api/v1/query", params={"query": query}, timeout=10).json()
        assert payload["status"] == "success", (title, query, payload)
        results.append((title, query, [float(i["value"][1]) for i in payload["data"]["result"]]))
    return results


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Traffic until HighErrorRate fires and Alertmanager delivered it; the servers stay up."""
    import sqlalchemy

    tmp = tmp_path_factory.mktemp("e2e")
    service = _declaration()
    (tmp / "rules.yaml").write_text(ops.to_yaml(ops.rules(service)))
    metrics_port, prom_port, am_port = _free_port(), _free_port(), _free_port()

    _Webhook.received = []
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{hook.server_port}"
    routing = ops.alertmanager(
        webhook_urls={name: f"{hook_url}/{name}" for name in ("pager", "chat", "email")},
        group_wait="1s",
        group_interval="1s",
        repeat_interval="1h",
    )
    (tmp / "alertmanager.yaml").write_text(ops.to_yaml(routing))
    checked = subprocess.run(
        [require("amtool"), "check-config", str(tmp / "alertmanager.yaml")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": ["rules.yaml"],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
                },
                "scrape_configs": [
                    {
                        "job_name": "app",
                        "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
                    },
                ],
            }
        )
    )
    saved = {k: v for k, v in os.environ.items() if k.startswith(("OTEL_", "WATCHKIT_"))}
    for name in saved:
        if name != "WATCHKIT_RAISE_INTERNAL_ERRORS":
            del os.environ[name]
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp / 'shop.db'}")
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield from _run_stack(
            tmp, service, engine, started, hook_url, metrics_port, prom_port, am_port
        )
    finally:
        for process in started:
            _stop(process)
        hook.shutdown()
        hook.server_close()
        watchkit.http_client.uninstrument()
        engine.dispose()
        watchkit.runtime.disable()
        watchkit.shutdown()
        os.environ.update(saved)


def _run_stack(
    tmp: Path,
    service: ops.Service,
    engine: Any,
    started: list[subprocess.Popen[bytes]],
    hook_url: str,
    metrics_port: int,
    prom_port: int,
    am_port: int,
) -> Iterator[Stack]:
    """Start watchkit, Alertmanager and Prometheus; send traffic; yield what was seen."""
    watchkit.configure(service_name=SERVICE, exporter="none", prometheus_port=metrics_port)
    watchkit.runtime.enable(system=True, filesystem_paths=[str(tmp)])
    watchkit.db.instrument_sqlalchemy(engine, pool_name="shop")
    watchkit.http_client.instrument(internal=["127.0.0.1"])
    alertmanager = [
        require("prometheus-alertmanager"), f"--config.file={tmp / 'alertmanager.yaml'}",
        f"--storage.path={tmp / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",
    ]  # fmt: skip
    started.append(_start(alertmanager, tmp / "alertmanager.log"))
    prometheus = [
        require("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}",
    ]  # fmt: skip
    started.append(_start(prometheus, tmp / "prometheus.log"))
    base = f"http://127.0.0.1:{prom_port}"
    result = Stack(base, service, start=time.time())
    registry = HealthRegistry()
    registry.add("database", lambda: None)
    jobs = _Jobs()
    app_users = watchkit.active_users(SERVICE, periods=("hour", "day"))
    # A shared store nobody listens on: every record is a counted store error.
    shared = watchkit.active_users(
        f"{SERVICE}-shared", store=f"redis://127.0.0.1:{_free_port()}/0", timeout=0.5
    )
    with WsgiThread(WatchkitMiddleware(_app(engine))) as server, httpx.Client() as client:
        monitor = LoginMonitor(max_failures=5, window=600)
        deadline = time.monotonic() + 90
        iteration = 0
        delivered = False
        while time.monotonic() < deadline:
            iteration += 1
            for _ in range(9):
                client.get(f"{server.url}/ok")
            client.get(f"{server.url}/fail")  # 10 % errors
            result.sent["ok"] += 9
            result.sent["fail"] += 1
            if iteration % 5 == 0:
                client.get(f"{server.url}/slow")
                result.sent["slow"] += 1
            jobs.run()
            app_users.record(f"user-{iteration % 7}")
            if iteration % 10 == 1:
                # The rarer signals, often enough for a rate over a few scrapes.
                for _ in range(6):
                    monitor.record(False, user="alice", source_ip=f"198.51.100.{iteration % 250}")
                monitor.record(True, user="bob", source_ip="198.51.100.250")
                registry.run_sync("readyz")
                shared.record("user-1")
                _journeys(result, server.url)
                with pytest.raises(httpx.TransportError):
                    client.get(f"http://127.0.0.1:{_free_port()}/closed", timeout=2)
            try:
                found = _firing(base)
            except httpx.TransportError:
                found = []
            for alert in found:
                state = alert["state"] + alert["labels"]["severity"]
                if not result.states or result.states[-1] != state:
                    result.states.append(state)
            result.firing = [a for a in found if a["state"] == "firing"]
            delivered = any(path == "/pager" for path, _ in _Webhook.received)
            # Run long enough for every rate window of the panels to have data.
            if delivered and time.time() - result.start > 20:
                break
            time.sleep(0.2)
        # Two more scrapes, so the last requests are in Prometheus.
        time.sleep(2.5)
        result.deliveries = list(_Webhook.received)
        result.backlog = _firing(base, "EmailBacklog")
        # Now, while the app still serves /metrics: after the first test the
        # suite shuts watchkit down and Prometheus marks its gauges stale.
        result.panels = _panel_results(base, service)
    try:
        yield result
    finally:
        jobs.depth.remove()  # depth sources are process-wide: later tests must not see it


def test_error_rate_alert_goes_pending_then_fires(stack: Stack) -> None:
    """5xx traffic above 3 %: HighErrorRate is pending, then firing, with the declared labels."""
    assert any(s.startswith("pending") for s in stack.states), stack.states
    severities = {a["labels"]["severity"] for a in stack.firing}
    assert severities == {"warning", "critical"}, stack.states
    critical = next(a for a in stack.firing if a["labels"]["severity"] == "critical")
    assert critical["labels"]["team"] == "payments"
    assert critical["labels"]["service_name"] == SERVICE
    assert critical["annotations"]["runbook_url"] == RUNBOOK


def test_queue_backlog_alert_fires_for_its_queue(stack: Stack) -> None:
    """The depth reported through watchkit.queue passes 20 messages: EmailBacklog fires."""
    assert [a["state"] for a in stack.backlog] == ["firing"], stack.backlog
    labels = stack.backlog[0]["labels"]
    assert labels["messaging_destination_name"] == "emails"
    assert labels["severity"] == "warning" and labels["team"] == "payments"
    assert "messages are waiting in queue emails" in stack.backlog[0]["annotations"]["description"]


def test_alertmanager_delivers_the_page_with_severity_team_and_runbook(stack: Stack) -> None:
    """The real Alertmanager, with the generated routing, posts the critical alert to the pager."""
    paged = [
        alert
        for path, payload in stack.deliveries
        if path == "/pager"
        for alert in payload["alerts"]
        if alert["labels"]["alertname"] == "HighErrorRate"
    ]
    assert paged, stack.deliveries
    alert = paged[0]
    assert alert["status"] == "firing"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["team"] == "payments"
    assert alert["labels"]["service_name"] == SERVICE
    assert alert["annotations"]["runbook_url"] == RUNBOOK
    # Routing by severity: nothing critical reaches chat or email, nothing else the pager.
    for path, payload in stack.deliveries:
        for delivered in payload["alerts"]:
            severity = delivered["labels"]["severity"]
            assert path == {"critical": "/pager", "warning": "/chat", "info": "/email"}[severity]


def test_every_dashboard_panel_returns_data(stack: Stack) -> None:
    """Each panel's query, with Grafana's variables filled in, has a number after the traffic."""
    assert len(stack.panels) == len(panel_queries(ops.dashboard(stack.service)))
    empty = [
        f"{title}: {query}"
        for title, query, values in stack.panels
        if not any(v == v for v in values)  # no series, or only NaN
    ]
    assert not empty, "\n".join(empty)


def test_report_compliance_matches_the_traffic(stack: Stack, tmp_path: Path) -> None:
    """The report's SLO compliance is what the test sent, within TOLERANCE; charts are SVG."""
    # The period covers the traffic and a little before it, so the charts show it.
    period = f"{int(time.time() - stack.start) + 10}s"
    made = ops.report(stack.service, stack.prometheus, period=period, step="3s")
    sent = stack.sent
    total = sent["ok"] + sent["fail"] + sent["slow"]
    by_name = {s.slo: s for s in made.slos}
    availability, fast = by_name["availability"], by_name["fast"]
    assert availability.compliance is not None and fast.compliance is not None
    assert abs(availability.compliance - (1 - sent["fail"] / total)) <= TOLERANCE, (made, sent)
    assert abs(fast.compliance - (1 - sent["slow"] / total)) <= TOLERANCE, (made, sent)
    assert availability.met is False  # ~10 % errors against a 95 % objective
    assert fast.met is True
    assert availability.budget_spent is not None and availability.budget_spent > 1
    routes = {(r["route"], round(r["error_ratio"], 1)) for r in made.routes}
    assert routes, made.routes
    kinds = {d["kind"]: d for d in made.dependencies}
    assert {"http", "dependency", "database"} <= set(kinds), made.dependencies
    assert kinds["dependency"]["name"] == "payments"
    fired = {(a["alertname"], a["severity"]) for a in made.alerts}
    assert {("HighErrorRate", "critical"), ("HighErrorRate", "warning")} <= fired, made.alerts
    written = made.write(tmp_path / "weekly.md")
    text = written[0].read_text()
    assert f"| availability | 95.00 % | {availability.compliance * 100:.3f} % |" in text
    assert "![Error budget spent: availability](weekly-e2e-shop-availability-budget.svg)" in text
    charts = {path.name: path.read_text() for path in written[1:]}
    assert set(charts) == {
        "weekly-e2e-shop-availability-budget.svg",
        "weekly-e2e-shop-fast-budget.svg",
        "weekly-e2e-shop-latency.svg",
    }
    for svg in charts.values():
        assert svg.startswith("<svg ") and "<polyline points=" in svg
        assert "no data in this period" not in svg
    html = made.write(tmp_path / "weekly.html")[0].read_text()
    assert html.count("<svg ") == 3 and "<table>" in html


def test_report_command_line(stack: Stack, tmp_path: Path, capsys: Any) -> None:
    """`python -m watchkit report` writes the same self-contained HTML from a YAML declaration."""
    source = tmp_path / "ops.yaml"
    source.write_text(
        f"services:\n  - name: {SERVICE}\n    slos:\n"
        "      - {name: availability, objective: 0.95, period: 1d}\n"
    )
    out = tmp_path / "daily.html"
    period = f"{int(time.time() - stack.start) + 10}s"
    status = main(["report", "--from", str(source), "--prometheus", stack.prometheus,
                   "--period", period, "-o", str(out)])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == str(out)
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg ") == 2
    assert "<td>availability</td><td>95.00 %</td>" in html
