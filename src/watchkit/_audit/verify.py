"""Checking a chain: ``python -m watchkit audit verify FILE``.

Each record's hash must match its content, its ``audit.prev_hash`` must be the
previous record's hash and ``audit.seq`` must go up by one within a stream.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from watchkit._audit.chain import GENESIS_HASH, HASH, PREV_HASH, SEQ, STREAM, chain_hash

__all__ = ["VerifyResult", "verify_file", "verify_lines"]


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of checking a chain: ``ok``, records checked, and the first break."""

    ok: bool
    records: int
    line: int | None = None
    reason: str | None = None
    note: str | None = None
    """Set when the chain is intact but something was tolerated (a torn last line)."""


def _attributes_of(entry: Any) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        return None
    if isinstance(entry.get("attributes"), dict):
        spooled: dict[str, Any] = entry["attributes"]  # a spool line
        return spooled
    if HASH in entry:
        return entry  # flat: one record's attributes per line
    return None


def verify_lines(lines: Iterable[str]) -> VerifyResult:
    """Check a sequence of JSON lines (spool lines, or flat attribute objects).

    Each record's hash must match its content, its ``audit.prev_hash`` must be
    the previous record's hash and ``audit.seq`` must go up by one within a
    stream. A file may begin mid-chain (after rotation); a chain that starts
    at ``audit.seq`` 1 must start from the genesis hash. Blank lines are ignored.

    A last line that is not valid JSON *and* has no line end is what a crash in
    the middle of a write leaves: it is tolerated (``ok`` stays True, ``note``
    says so), since the record was never completely written. Any other
    unparseable line is a break.
    """
    previous: dict[str, tuple[int, str]] = {}
    count = 0
    torn: tuple[int, str] | None = None
    for number, raw in enumerate(lines, start=1):
        if torn is not None:  # the unparseable line was not the last one
            return VerifyResult(False, count, torn[0], torn[1])
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError as error:
            reason = f"not valid JSON ({getattr(error, 'msg', str(error))})"
            if raw.endswith("\n"):
                return VerifyResult(False, count, number, reason)
            torn = (number, reason)
            continue
        attributes = _attributes_of(entry)
        if attributes is None:
            return VerifyResult(False, count, number, "not an audit record (no audit.hash)")
        stream = str(attributes.get(STREAM, ""))
        seq, prev, digest = attributes.get(SEQ), attributes.get(PREV_HASH), attributes.get(HASH)
        if not isinstance(seq, int) or not isinstance(prev, str) or not isinstance(digest, str):
            return VerifyResult(False, count, number, "audit.seq/prev_hash/hash missing")
        if chain_hash(prev, attributes) != digest:
            return VerifyResult(False, count, number, "hash mismatch: the record was modified")
        last = previous.get(stream)
        if last is None:
            if seq == 1 and prev != GENESIS_HASH:
                return VerifyResult(False, count, number, "first record does not start the chain")
        else:
            last_seq, last_hash = last
            if seq != last_seq + 1:
                return VerifyResult(
                    False,
                    count,
                    number,
                    f"sequence {seq} follows {last_seq}: records missing or reordered",
                )
            if prev != last_hash:
                return VerifyResult(
                    False, count, number, "prev_hash does not match the previous record's hash"
                )
        previous[stream] = (seq, digest)
        count += 1
    if torn is not None:
        note = f"incomplete last line {torn[0]} ignored (a write cut short by a crash)"
        return VerifyResult(True, count, torn[0], None, note)
    return VerifyResult(True, count)


def verify_file(path: str | os.PathLike[str]) -> VerifyResult:
    """:func:`verify_lines` over a file."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return verify_lines(handle)
