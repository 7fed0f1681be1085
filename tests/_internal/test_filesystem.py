"""One definition of a file system's fullness: statvfs arithmetic, df, health.disk and runtime."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import watchkit.runtime
from watchkit import health
from watchkit._internal.filesystem import FilesystemUsage, filesystem_usage
from watchkit.testing import TelemetryCapture


def _df_percent(path: Path) -> int:
    out = subprocess.run(
        ["df", "--output=pcent", str(path)], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    return int(out.splitlines()[-1].strip().rstrip("%"))


def test_usage_is_the_statvfs_arithmetic(tmp_path: Path) -> None:
    """used = blocks - bfree, available = bavail, reserved = bfree - bavail, in f_frsize units."""
    st = os.statvfs(tmp_path)
    usage = filesystem_usage(tmp_path)
    slack = 64 * 2**20  # other processes write meanwhile
    assert usage.used == pytest.approx((st.f_blocks - st.f_bfree) * st.f_frsize, abs=slack)
    assert usage.available == pytest.approx(st.f_bavail * st.f_frsize, abs=slack)
    assert usage.reserved == pytest.approx((st.f_bfree - st.f_bavail) * st.f_frsize, abs=slack)
    assert usage.utilization == pytest.approx(usage.used / (usage.used + usage.available))


def test_reserved_blocks_count_on_neither_side() -> None:
    """A file system with a large reserve: the percent is used / (used + available)."""
    usage = FilesystemUsage(used=60, available=200, reserved=740)
    assert usage.utilization == pytest.approx(60 / 260)
    assert FilesystemUsage(0, 0, 0).utilization == 0.0


@pytest.mark.skipif(shutil.which("df") is None, reason="df (coreutils) is not installed")
def test_utilization_matches_df_for_a_real_path(tmp_path: Path) -> None:
    """df rounds used / (used + available) up to a whole percent; ours is that fraction."""
    before = 100 * filesystem_usage(tmp_path).utilization
    shown = _df_percent(tmp_path)
    after = 100 * filesystem_usage(tmp_path).utilization
    low, high = min(before, after) - 0.05, max(before, after) + 0.05
    assert shown - 1 <= high and low <= shown, (before, shown, after)


def test_health_disk_and_runtime_report_the_same_figure(
    telemetry: TelemetryCapture, tmp_path: Path
) -> None:
    """health.disk's percent and system.filesystem.utilization{state=used} agree with df."""
    observation = health.disk(tmp_path, warn=100, fail=100)()
    watchkit.runtime.enable(filesystem_paths=[str(tmp_path)])
    try:
        where = {"system.filesystem.mountpoint": str(tmp_path)}
        used = telemetry.counter(
            "system.filesystem.utilization", {**where, "system.filesystem.state": "used"}
        )
        free = telemetry.counter(
            "system.filesystem.utilization", {**where, "system.filesystem.state": "free"}
        )
        reserved = telemetry.counter(
            "system.filesystem.usage", {**where, "system.filesystem.state": "reserved"}
        )
    finally:
        watchkit.runtime.disable()
    expected = 100 * filesystem_usage(tmp_path).utilization
    assert observation.value == pytest.approx(expected, abs=0.2)
    assert 100 * used == pytest.approx(expected, abs=0.2)
    assert used + free == pytest.approx(1.0)
    assert reserved == pytest.approx(filesystem_usage(tmp_path).reserved, abs=64 * 2**20)
    if shutil.which("df") is not None:
        assert abs(observation.value - _df_percent(tmp_path)) <= 1.1
