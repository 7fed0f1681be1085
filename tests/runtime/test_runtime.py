"""Runtime metrics: values of this very process, at collection, also in forked gunicorn workers."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import watchkit
import watchkit.runtime
from watchkit.testing import TelemetryCapture

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = {
    "process.cpu.time", "process.cpu.utilization", "process.memory.usage",
    "process.memory.virtual", "process.unix.file_descriptor.count", "process.thread.count",
    "process.uptime", "cpython.gc.collections", "cpython.gc.collected_objects",
    "cpython.gc.uncollectable_objects",
}  # fmt: skip


@pytest.fixture
def runtime() -> Iterator[None]:
    watchkit.runtime.enable()
    yield
    watchkit.runtime.disable()


def _rss(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _rss_of(pid: int) -> int:
    return _rss(pid)


def test_default_set_reports_this_process(telemetry: TelemetryCapture, runtime: None) -> None:
    """Every default metric has a value, and the values are this process's."""
    assert telemetry.metric_names() >= DEFAULT
    rss = telemetry.counter("process.memory.usage")
    assert abs(rss - _rss()) < 32 * 1024 * 1024
    assert telemetry.counter("process.memory.virtual") >= rss
    assert telemetry.counter("process.thread.count") >= 1
    fds = telemetry.counter("process.unix.file_descriptor.count")
    assert abs(fds - len(os.listdir("/proc/self/fd"))) <= 2
    assert telemetry.counter("process.cpu.time", {"cpu.mode": "user"}) > 0
    assert 0 < telemetry.counter("process.uptime") < time.monotonic() + 1
    gc.collect()
    assert telemetry.counter("cpython.gc.collections", {"cpython.gc.generation": 2}) >= 1
    assert not {"system.cpu.utilization", "system.filesystem.usage"} & telemetry.metric_names()


def test_cpu_utilization_is_a_fraction(telemetry: TelemetryCapture, runtime: None) -> None:
    """Busy work shows as utilization between 0 and 1 (divided by available CPUs)."""
    telemetry.metric_points("process.cpu.utilization")  # baseline
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    total = telemetry.counter("process.cpu.utilization")
    assert 0 < total <= 1.0


def test_off_by_default_under_a_capture(telemetry: TelemetryCapture) -> None:
    """Without configure() or enable(), a test capture sees no runtime series."""
    assert not DEFAULT & telemetry.metric_names()


def test_opt_in_system_and_filesystem(telemetry: TelemetryCapture, tmp_path: Path) -> None:
    """system.* and the filesystem usage of a chosen path, when asked for."""
    watchkit.runtime.enable(system=True, filesystem_paths=[str(tmp_path)])
    try:
        used = telemetry.counter(
            "system.filesystem.usage",
            {"system.filesystem.mountpoint": str(tmp_path), "system.filesystem.state": "used"},
        )
        st = os.statvfs(tmp_path)
        assert used == pytest.approx((st.f_blocks - st.f_bfree) * st.f_frsize, rel=0.01)
        fraction = telemetry.counter(
            "system.filesystem.utilization", {"system.filesystem.mountpoint": str(tmp_path)}
        )
        assert fraction == pytest.approx(1.0)
        memory = telemetry.counter("system.memory.utilization", {"system.memory.state": "used"})
        assert 0 < memory < 1
        telemetry.metric_points("system.cpu.utilization")  # baseline
        time.sleep(0.05)  # /proc/stat counts in 10 ms ticks
        assert telemetry.counter("system.cpu.utilization") == pytest.approx(1.0)
    finally:
        watchkit.runtime.disable()


def test_bad_filesystem_path_fails_early(tmp_path: Path) -> None:
    """A path that is not a directory is a ValueError naming the parameter."""
    with pytest.raises(ValueError, match="filesystem_paths"):
        watchkit.runtime.enable(filesystem_paths=[str(tmp_path / "missing")])


async def test_event_loop_lag(telemetry: TelemetryCapture, runtime: None) -> None:
    """A loop blocked for 100 ms reports about that much lag at the next collection."""
    watchkit.runtime.watch_event_loop()
    # A collection (from the reader's thread) sends its probe while the loop is blocked.
    collect = threading.Timer(0.02, telemetry.metric_points, ("watchkit.runtime.event_loop.lag",))
    collect.start()
    time.sleep(0.12)
    collect.join()
    await asyncio.sleep(0.01)  # the probe runs, about 100 ms late
    lag = telemetry.counter("watchkit.runtime.event_loop.lag")
    assert 0.08 <= lag < 1


def test_configure_turns_the_default_set_on(clean_env: pytest.MonkeyPatch) -> None:
    """configure() reports runtime metrics to its pipeline; shutdown() stops them."""
    from watchkit._runtime import SWITCH

    watchkit.configure(service_name="rt", exporter="none")
    assert SWITCH.configured
    watchkit.shutdown()
    assert not SWITCH.configured
    clean_env.setenv("WATCHKIT_RUNTIME_METRICS", "false")
    watchkit.configure(service_name="rt", exporter="none")
    assert not SWITCH.configured


@pytest.mark.collector
@pytest.mark.server
@pytest.mark.slow
def test_gunicorn_workers_report_themselves(rotel_collector, otlp_receiver):  # type: ignore[no-untyped-def]
    """Two workers forked after configure(): two service.instance.ids, each its own pid and RSS."""
    from tests.integrations.servers import free_port

    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_", "PYTEST_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        WATCHKIT_RAISE_INTERNAL_ERRORS="1",
        OTEL_SERVICE_NAME="rt-workers",
        WATCHKIT_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_METRIC_EXPORT_INTERVAL="300",
    )
    command = [
        sys.executable, "-m", "gunicorn", "--preload", "--workers", "2",
        "--bind", f"127.0.0.1:{port}", "tests.runtime.gunicorn_app:app",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 2:
            try:
                workers.add(int(httpx.get(f"http://127.0.0.1:{port}/", timeout=1).text))
            except httpx.TransportError:
                time.sleep(0.05)
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
            if children.exists():
                workers |= {int(p) for p in children.read_text().split()}
        assert len(workers) == 2, workers

        def by_pid(receiver):  # type: ignore[no-untyped-def]
            found = {}
            for point in receiver.metrics("process.memory.usage"):
                pid = point.resource_attributes.get("process.pid")
                if pid in workers:
                    found[pid] = point
            return found if len(found) == 2 else None

        points = otlp_receiver.wait_for(by_pid, timeout=20)
        rss = {pid: _rss_of(pid) for pid in workers}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            if process.stdout:
                process.stdout.close()
    assert "Traceback" not in output, output
    instance_ids = {p.resource_attributes["service.instance.id"] for p in points.values()}
    assert len(instance_ids) == 2
    assert process.pid not in points
    for pid, point in points.items():
        # The worker's own resident set (not the master's), give or take growth since.
        assert point.value == pytest.approx(rss[pid], rel=0.3), (pid, point.value, rss[pid])
