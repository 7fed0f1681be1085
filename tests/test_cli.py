"""`python -m watchkit audit verify`: exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from watchkit._audit.chain import GENESIS_HASH, chain_hash
from watchkit._cli import main


def _chain(count: int) -> list[str]:
    lines, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        attributes = {"audit.stream": "s", "audit.seq": seq, "audit.prev_hash": prev, "n": seq}
        prev = attributes["audit.hash"] = chain_hash(prev, attributes)
        lines.append(json.dumps({"time_unix_nano": seq, "attributes": attributes}))
    return lines


def test_intact_file_exits_zero(tmp_path: Path, capsys) -> None:
    """An intact chain: exit 0 and the record count."""
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(_chain(3)) + "\n")
    assert main(["audit", "verify", str(path)]) == 0
    assert "OK: 3 audit records" in capsys.readouterr().out


def test_deleted_line_reports_line_and_reason(tmp_path: Path, capsys) -> None:
    """A deleted record: exit 1, the line number after the gap and why."""
    lines = _chain(4)
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    assert main(["audit", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "line 2" in out
    assert "sequence 3 follows 1" in out


def test_garbage_line_and_missing_file(tmp_path: Path, capsys) -> None:
    """Invalid JSON is a break (exit 1); an unreadable file is exit 2."""
    path = tmp_path / "a.jsonl"
    path.write_text(_chain(1)[0] + "\n{not json\n")
    assert main(["audit", "verify", str(path)]) == 1
    assert "line 2: not valid JSON" in capsys.readouterr().out
    assert main(["audit", "verify", str(tmp_path / "missing.jsonl")]) == 2


def test_module_entry_point(tmp_path: Path) -> None:
    """`python -m watchkit audit verify FILE` runs the same command."""
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(_chain(2)) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "watchkit", "audit", "verify", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "chain intact" in result.stdout


def test_truncated_last_line_is_tolerated_with_a_warning(tmp_path: Path, capsys) -> None:
    """A crash mid-write leaves a partial last line: reported, but not a break (exit 0)."""
    lines = _chain(3)
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])  # no newline: torn write
    assert main(["audit", "verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK: 2 audit records" in out
    assert "incomplete last line 3" in out


def test_garbage_last_line_with_newline_is_a_break(tmp_path: Path, capsys) -> None:
    """A complete (newline-terminated) last line that is not JSON was written that way: a break."""
    lines = _chain(2)
    path = tmp_path / "a.jsonl"
    path.write_text(lines[0] + "\n" + lines[1][:40] + "\n")
    assert main(["audit", "verify", str(path)]) == 1


def test_file_order_does_not_matter_and_empty_file(tmp_path: Path, capsys) -> None:
    """The links, not the line order, define the chain; an empty file is an intact chain."""
    lines = _chain(4)
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join([lines[0], lines[2], lines[1], lines[3]]) + "\n")
    assert main(["audit", "verify", str(path)]) == 0
    assert "OK: 4 audit records" in capsys.readouterr().out
    path.write_text("")
    assert main(["audit", "verify", str(path)]) == 0
    assert "OK: 0 audit records" in capsys.readouterr().out


def test_an_export_and_the_quarantine_verify_together(tmp_path: Path, capsys) -> None:
    """The quarantine fills the gap its record left in an export; alone, the gap is a break."""
    lines = _chain(4)
    export, quarantine = tmp_path / "export.jsonl", tmp_path / "quarantine.jsonl"
    export.write_text("\n".join([lines[0], lines[2], lines[3]]) + "\n")
    held = json.loads(lines[1])
    held["quarantine"] = {"reason": "HTTP 400", "time": "2026-01-01T00:00:00+00:00"}
    quarantine.write_text(json.dumps(held) + "\n")
    assert main(["audit", "verify", str(export)]) == 1
    assert "sequence 3 follows 1: records missing" in capsys.readouterr().out
    assert main(["audit", "verify", str(export), str(quarantine)]) == 0
    assert "OK: 4 audit records, chain intact (1 of them from the quarantine)" in (
        capsys.readouterr().out
    )


def test_repeats_are_counted_once_and_a_forked_sequence_is_a_break(tmp_path: Path, capsys) -> None:
    """A record delivered twice is a repeat; two different records with one seq are a break."""
    lines = _chain(3)
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join([*lines, lines[1]]) + "\n")
    assert main(["audit", "verify", str(path)]) == 0
    assert "1 repeated deliveries counted once" in capsys.readouterr().out
    other = json.loads(lines[1])
    other["attributes"]["n"] = 99
    other["attributes"]["audit.hash"] = chain_hash(
        other["attributes"]["audit.prev_hash"], other["attributes"]
    )
    path.write_text("\n".join([*lines, json.dumps(other)]) + "\n")
    assert main(["audit", "verify", str(path)]) == 1
    assert "line 4: two different records with sequence 2" in capsys.readouterr().out
