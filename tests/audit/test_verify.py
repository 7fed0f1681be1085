"""Verifying a chain: deletions, edits, forged starts, a tampered spool."""

from __future__ import annotations

import json
from pathlib import Path

import watchkit
from tests.audit.helpers import EMIT, spooled
from tests.helpers import run_python
from watchkit._audit.chain import GENESIS_HASH
from watchkit._audit.verify import verify_lines


def _records(telemetry) -> list[dict]:
    return [dict(r.attributes or {}) for r in telemetry.logs() if r.event_name.startswith("audit.")]


def test_records_chain_and_verify(telemetry) -> None:
    """Consecutive records link by hash; deleting or editing one is detected."""
    for i in range(5):
        watchkit.audit("login", actor=f"user:{i}", outcome="failure")
    lines = [json.dumps(r) for r in _records(telemetry)]
    assert verify_lines(lines).ok
    assert verify_lines(lines).records == 5
    deleted = lines[:2] + lines[3:]
    result = verify_lines(deleted)
    assert (result.ok, result.line) == (False, 3)
    assert "missing" in (result.reason or "")
    edited = json.loads(lines[1])
    edited["audit.actor"] = "user:admin"
    result = verify_lines([lines[0], json.dumps(edited), *lines[2:]])
    assert (result.ok, result.line) == (False, 2)
    assert "modified" in (result.reason or "")


def test_first_record_must_start_from_genesis() -> None:
    """A chain starting at seq 1 with a forged prev_hash is rejected."""
    from watchkit._audit.chain import chain_hash

    record = {"audit.seq": 1, "audit.prev_hash": "f" * 64, "audit.stream": "s"}
    record["audit.hash"] = chain_hash("f" * 64, record)
    assert not verify_lines([json.dumps(record)]).ok
    record = {"audit.seq": 1, "audit.prev_hash": GENESIS_HASH, "audit.stream": "s"}
    record["audit.hash"] = chain_hash(GENESIS_HASH, record)
    assert verify_lines([json.dumps(record)]).ok


def test_tampered_spool_line_is_reported(tmp_path: Path) -> None:
    """Editing one spooled line makes `python -m watchkit audit verify` fail at that line."""
    spool = tmp_path / "spool"
    env = {"ENDPOINT": "http://127.0.0.1:9", "WATCHKIT_AUDIT_SPOOL_DIR": str(spool)}
    run_python(EMIT.format(count=20, after=""), env=env, timeout=60)
    (path,) = spooled(spool)
    ok = run_python(
        f"import sys; sys.argv=['watchkit','audit','verify',{str(path)!r}]; "
        "import runpy; runpy.run_module('watchkit', run_name='__main__')",
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "20 audit records" in ok.stdout
    lines = path.read_text().splitlines()
    record = json.loads(lines[6])
    record["attributes"]["audit.outcome"] = "failure"
    lines[6] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    broken = run_python(
        f"import sys; sys.argv=['watchkit','audit','verify',{str(path)!r}]; "
        "import runpy; runpy.run_module('watchkit', run_name='__main__')",
        check=False,
    )
    assert broken.returncode == 1
    assert "line 7" in broken.stdout
    assert "modified" in broken.stdout
