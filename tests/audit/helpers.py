"""Shared by the audit tests: a script that emits records, a scripted exporter, a trail."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.resources import Resource

from watchkit._audit.shipper import Trail

EMIT = """
import os, sys, watchkit
watchkit.configure(service_name="hotel", endpoint=os.environ["ENDPOINT"], timeout=1,
                   shutdown_timeout=2)
for i in range({count}):
    watchkit.audit("reservation.create", actor=f"user:{{i}}", outcome="success",
                   target=f"reservation:R-{{i}}", password="hunter2",
                   note="Bearer abcdefgh paid 4111 1111 1111 1111")
{after}
"""


def spooled(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


class ScriptedExporter:
    """An exporter that records batches (or fails, or blocks until released)."""

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.received: list[dict] = []
        self.release = threading.Event()
        self.release.set()

    def export(self, batch):
        self.release.wait()
        if not self.ok:
            return LogRecordExportResult.FAILURE
        self.received += [dict(r.log_record.attributes or {}) for r in batch]
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def make_trail(directory: Path, exporter: Any) -> Trail:
    return Trail(None, str(directory), exporter, Resource.create({}), 1.0)  # type: ignore[arg-type]
