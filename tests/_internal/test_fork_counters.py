"""A forked child starts its counters at zero: sums across instances count each event once."""

from __future__ import annotations

import os

import pytest

import watchkit
from watchkit._internal.pipeline import forget_parent_measurements
from watchkit.testing import TelemetryCapture


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_does_not_report_what_the_parent_counted(telemetry: TelemetryCapture) -> None:
    """Parent counts 5 before the fork; the child reports only its own 2, the parent still 5."""
    jobs = watchkit.counter("test.fork.jobs")
    jobs.add(5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what this instance counted, then leave at once
        try:
            jobs.add(2)
            os.write(write, str(telemetry.counter("test.fork.jobs")).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_total = pipe.read()
    os.waitpid(pid, 0)
    assert float(child_total) == 2
    assert telemetry.counter("test.fork.jobs") == 5


def test_the_sdk_internal_it_relies_on_is_there(telemetry: TelemetryCapture) -> None:
    """Fails loudly when the SDK's private measurement consumer changes shape."""
    assert forget_parent_measurements(telemetry.meter_provider) is True


def test_the_sdk_reader_lock_it_renews_is_there() -> None:
    """Fails loudly when the SDK's periodic reader stops keeping its export lock there."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )

    from watchkit._internal.pipeline import renew_export_locks

    reader = PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000)
    provider = MeterProvider(metric_readers=[reader])
    try:
        before = reader._export_lock
        assert renew_export_locks(provider) == 1
        assert reader._export_lock is not before
    finally:
        provider.shutdown()
