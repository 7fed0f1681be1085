"""The spool as a module: line format, acknowledgements, torn and corrupt lines, locks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext, TraceFlags

from watchkit._audit.spool import SpoolFile, default_spool_dir, spool_line, try_lock


def _line(seq: int) -> bytes:
    return spool_line({"audit.seq": seq}, seq, INVALID_SPAN_CONTEXT)


def test_a_spool_line_is_one_json_object_with_its_trace_context() -> None:
    """Time, trace and span ids (inside a span only) and the attributes, ending in a newline."""
    context = SpanContext(0xAB, 0xCD, is_remote=False, trace_flags=TraceFlags(1))
    line = spool_line({"audit.seq": 1, "note": "é"}, 7, context)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "time_unix_nano": 7,
        "trace_id": format(0xAB, "032x"),
        "span_id": format(0xCD, "016x"),
        "trace_flags": 1,
        "attributes": {"audit.seq": 1, "note": "é"},
    }
    assert "trace_id" not in json.loads(_line(1))


def test_read_batch_starts_at_the_acknowledged_offset(tmp_path: Path) -> None:
    """An ack survives a new SpoolFile (a restart): only unacknowledged records are read."""
    path = tmp_path / "audit-1-1.jsonl"
    path.write_bytes(b"".join(_line(seq) for seq in (1, 2, 3)))
    spool = SpoolFile(str(path), own=False)
    records, position, at_end = spool.read_batch(2)
    assert [r["attributes"]["audit.seq"] for r in records] == [1, 2]
    assert not at_end
    spool.ack(position)
    spool.close()
    again = SpoolFile(str(path), own=False)
    records, position, at_end = again.read_batch(10)
    assert [r["attributes"]["audit.seq"] for r in records] == [3]
    assert at_end and position == path.stat().st_size
    assert json.loads((tmp_path / "audit-1-1.jsonl.ack").read_text()) == {"offset": again.offset}
    again.close()


def test_an_incomplete_last_line_waits_and_a_corrupt_line_is_stepped_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A line still being written is left for later; a complete garbage line is skipped, logged."""
    path = tmp_path / "audit-1-1.jsonl"
    path.write_bytes(_line(1) + b"{garbage\n" + _line(3) + _line(4)[:10])
    spool = SpoolFile(str(path), own=True)
    records, position, _ = spool.read_batch(10)
    assert [r["attributes"]["audit.seq"] for r in records] == [1, 3]
    assert position == len(_line(1) + b"{garbage\n" + _line(3))
    assert "corrupt line" in caplog.text
    spool.close()


def test_an_unreadable_ack_starts_from_the_beginning(tmp_path: Path) -> None:
    """A damaged .ack file re-sends the file (a repeat) rather than skipping records."""
    path = tmp_path / "audit-1-1.jsonl"
    path.write_bytes(_line(1))
    (tmp_path / "audit-1-1.jsonl.ack").write_text("{not json")
    assert SpoolFile(str(path), own=False).offset == 0


def test_only_one_holder_of_a_spool_lock(tmp_path: Path) -> None:
    """The advisory lock tells a live process's file from a dead one's."""
    path = tmp_path / "audit-1-1.jsonl"
    path.write_bytes(b"")
    first = os.open(path, os.O_RDONLY)
    second = os.open(path, os.O_RDONLY)
    try:
        assert try_lock(first)
        assert not try_lock(second)
    finally:
        os.close(first)
        os.close(second)


def test_default_directory_is_per_service_and_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    """``$XDG_STATE_HOME/watchkit/audit/<service>``, with path characters replaced."""
    monkeypatch.setenv("XDG_STATE_HOME", "/state")
    assert default_spool_dir("../shop api") == "/state/watchkit/audit/.._shop_api"
    assert default_spool_dir("") == "/state/watchkit/audit/unknown_service"
