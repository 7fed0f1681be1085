"""``python -m examples.stack``: real Prometheus and Alertmanager, started, checked and stopped.

The stack runs as users run it (a child process), against a tiny app that serves
watchkit's ``/metrics``; the test sees Prometheus load the generated rules and
scrape the app, Alertmanager ready with the generated routing, and Ctrl-C stop both.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.binaries import require
from watchkit import ops

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TINY_APP = """
import sys, time, watchkit
watchkit.configure(service_name="tiny", exporter="none", prometheus_port=int(sys.argv[1]))
watchkit.event("tiny.started")
print("serving", flush=True)
while True:
    time.sleep(1)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return env


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def tiny_app() -> Iterator[int]:
    """A process serving watchkit's /metrics for service ``tiny``; yields its port."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", TINY_APP, str(port)],
        env=_environment(), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "serving"
        yield port
    finally:
        _stop(process)


def _wait(check: object, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()  # type: ignore[operator]
        except httpx.TransportError:
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def test_stack_loads_the_rules_scrapes_the_app_and_stops_on_ctrl_c(
    tiny_app: int, tmp_path: Path
) -> None:
    """Rules in /api/v1/rules, the app's target up, Alertmanager ready, exit 0 on SIGINT."""
    require("prometheus")
    require("prometheus-alertmanager")
    generated = ops.rules(ops.service("tiny", anomalies=False))
    (tmp_path / "rules.yaml").write_text(ops.to_yaml(generated))
    (tmp_path / "alertmanager.yaml").write_text(ops.to_yaml(ops.alertmanager()))
    prom_port, am_port = _free_port(), _free_port()
    stack = subprocess.Popen(
        [sys.executable, "-m", "examples.stack",
         "--rules", str(tmp_path / "rules.yaml"),
         "--alertmanager", str(tmp_path / "alertmanager.yaml"),
         "--target", f"127.0.0.1:{tiny_app}", "--scrape-interval", "1s",
         "--prometheus-port", str(prom_port), "--alertmanager-port", str(am_port)],
        cwd=ROOT, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    prometheus, alertmanager = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}"
    try:
        assert stack.stdout is not None
        printed = [stack.stdout.readline() for _ in range(4)]
        assert printed[0].startswith(f"Prometheus:   {prometheus}"), (printed, stack.stderr)
        assert printed[1].strip() == f"Alertmanager: {alertmanager}"
        assert printed[2].strip() == f"Scraping:     127.0.0.1:{tiny_app}"

        loaded = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert [g["name"] for g in loaded] == [g["name"] for g in generated["groups"]]
        names = {r["name"] for g in loaded for r in g["rules"]}
        assert {"TelemetryAbsent", "DiskFullSoon"} <= names

        def app_up() -> bool:
            targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()
            return any(t["health"] == "up" for t in targets["data"]["activeTargets"])

        assert _wait(app_up), "the tiny app's /metrics was never scraped"
        # A fresh Prometheus has no target_info until its first scrape: TelemetryAbsent
        # may go pending then, but never fires (not even for one evaluation).
        fired = httpx.get(
            f"{prometheus}/api/v1/query",
            params={"query": 'count_over_time(ALERTS{alertstate="firing"}[5m])'},
            timeout=5,
        ).json()
        assert fired["status"] == "success" and fired["data"]["result"] == [], fired

        assert httpx.get(f"{alertmanager}/-/ready", timeout=5).status_code == 200
        status = httpx.get(f"{alertmanager}/api/v2/status", timeout=5).json()
        assert "receiver: pager" in status["config"]["original"]
        assert status["cluster"]["status"] == "disabled"

        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=60) == 0, stack.stderr.read() if stack.stderr else ""
        assert stack.stdout.read().strip().endswith("Stopped.")
        for url in (prometheus, alertmanager):
            with pytest.raises(httpx.TransportError):
                httpx.get(f"{url}/-/ready", timeout=2)
    finally:
        _stop(stack)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--rules", "missing.yaml", "--alertmanager", "missing.yaml"],
            "missing.yaml is not a file",
        ),
        (
            ["--rules", "bad.yaml", "--alertmanager", "am.yaml"],
            "a rule file is refused by promtool",
        ),
    ],
)
def test_stack_refuses_bad_files_before_starting_anything(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    """A missing or invalid file: status 2 and a message naming it; no server was started."""
    require("promtool")
    (tmp_path / "bad.yaml").write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n")
    (tmp_path / "am.yaml").write_text(ops.to_yaml(ops.alertmanager()))
    done = subprocess.run(
        [sys.executable, "-m", "examples.stack", *arguments],
        cwd=tmp_path, env=_environment(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Prometheus:" not in done.stdout


def test_stack_names_a_bad_target() -> None:
    """--target must be HOST:PORT; argparse names the option (status 2)."""
    done = subprocess.run(
        [sys.executable, "-m", "examples.stack", "--rules", "r", "--alertmanager", "a",
         "--target", "localhost"],
        cwd=ROOT, env=_environment(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--target: 'localhost' is not HOST:PORT" in done.stderr
