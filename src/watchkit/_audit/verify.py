"""Checking a chain: ``python -m watchkit audit verify FILE [FILE ...]``.

Each record's hash must match its content; within a stream (``audit.stream``)
the records, ordered by ``audit.seq``, must go up by one and each
``audit.prev_hash`` must be the previous record's hash. Order *in the files*
does not matter: the links prove the order, and records legitimately arrive
out of order (a quarantined record re-sent later, several workers' exports
interleaved). Several files are checked as one set, so an export from a log
backend can be checked together with the quarantine file that holds the
records the collector refused: they fill the gaps those records left. A record
delivered twice (same sequence number, same hash) is counted as a repeat, not a
break; two *different* records with one sequence number are a break.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from watchkit._audit.chain import GENESIS_HASH, HASH, PREV_HASH, SEQ, STREAM, chain_hash

__all__ = ["VerifyResult", "verify_file", "verify_files", "verify_lines", "verify_sources"]

_QUARANTINE_KEY = "quarantine"  # a quarantine line's metadata, beside the spool envelope


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of checking a chain: ``ok``, records checked, and the first break."""

    ok: bool
    records: int
    line: int | None = None
    reason: str | None = None
    note: str | None = None
    """Set when the chain is intact but something was tolerated (a torn last line, repeats)."""
    file: str | None = None
    """The file of :attr:`line` (the name given to :func:`verify_sources`)."""
    quarantined: int = 0
    """Records of the chain that came from a quarantine file."""
    repeats: int = 0
    """Records present more than once (a redelivery), counted once."""


@dataclass(frozen=True)
class _Link:
    seq: int
    prev: str
    digest: str
    position: tuple[int, int]  # (file index, line number)
    quarantined: bool


def _attributes_of(entry: Any) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        return None
    if isinstance(entry.get("attributes"), dict):
        spooled: dict[str, Any] = entry["attributes"]  # a spool or quarantine line
        return spooled
    if HASH in entry:
        return entry  # flat: one record's attributes per line
    return None


def verify_sources(sources: Sequence[tuple[str, Iterable[str]]]) -> VerifyResult:
    """Check several named sequences of JSON lines as one set of chains.

    A file may begin mid-chain (after rotation); a chain that starts at
    ``audit.seq`` 1 must start from the genesis hash. Blank lines are ignored.
    A last line that is not valid JSON *and* has no line end is what a crash in
    the middle of a write leaves: it is tolerated (``ok`` stays True, ``note``
    says so), since the record was never completely written. Any other
    unparseable line is a break.
    """
    streams: dict[str, list[_Link]] = {}
    torn_notes: list[str] = []
    parsed = 0  # records read before an early break
    for index, (name, lines) in enumerate(sources):
        torn: tuple[int, str] | None = None
        for number, raw in enumerate(lines, start=1):
            if torn is not None:  # the unparseable line was not the last one
                return VerifyResult(False, parsed, torn[0], torn[1], file=name)
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError as error:
                reason = f"not valid JSON ({getattr(error, 'msg', str(error))})"
                if raw.endswith("\n"):
                    return VerifyResult(False, parsed, number, reason, file=name)
                torn = (number, reason)
                continue
            attributes = _attributes_of(entry)
            if attributes is None:
                return VerifyResult(
                    False, parsed, number, "not an audit record (no audit.hash)", file=name
                )
            seq, prev, digest = attributes.get(SEQ), attributes.get(PREV_HASH), attributes.get(HASH)
            if not isinstance(seq, int) or not isinstance(prev, str) or not isinstance(digest, str):
                return VerifyResult(
                    False, parsed, number, "audit.seq/prev_hash/hash missing", file=name
                )
            if chain_hash(prev, attributes) != digest:
                return VerifyResult(
                    False, parsed, number, "hash mismatch: the record was modified", file=name
                )
            quarantined = isinstance(entry, dict) and _QUARANTINE_KEY in entry
            link = _Link(seq, prev, digest, (index, number), quarantined)
            streams.setdefault(str(attributes.get(STREAM, "")), []).append(link)
            parsed += 1
        if torn is not None:
            where = f"{name} line {torn[0]}" if len(sources) > 1 else f"line {torn[0]}"
            torn_notes.append(f"incomplete last {where} ignored (a write cut short by a crash)")

    count = quarantined_count = repeats = 0
    first_break: tuple[tuple[int, int], int, str] | None = None
    for links in streams.values():
        links.sort(key=lambda link: (link.seq, link.position))
        verified = 0
        last: _Link | None = None
        for link in links:
            problem = None
            if last is None:
                if link.seq == 1 and link.prev != GENESIS_HASH:
                    problem = "first record does not start the chain"
            elif link.seq == last.seq:
                if link.digest == last.digest:
                    repeats += 1
                    continue
                problem = f"two different records with sequence {link.seq}"
            elif link.seq != last.seq + 1:
                problem = f"sequence {link.seq} follows {last.seq}: records missing"
            elif link.prev != last.digest:
                problem = "prev_hash does not match the previous record's hash"
            if problem is not None:
                if first_break is None or link.position < first_break[0]:
                    first_break = (link.position, verified, problem)
                break
            verified += 1
            count += 1
            quarantined_count += link.quarantined
            last = link
    if first_break is not None:
        (index, number), verified, problem = first_break
        return VerifyResult(False, verified, number, problem, file=sources[index][0])
    notes = list(torn_notes)
    if repeats:
        notes.append(f"{repeats} repeated deliveries counted once")
    return VerifyResult(
        True,
        count,
        note="; ".join(notes) or None,
        quarantined=quarantined_count,
        repeats=repeats,
    )


def verify_lines(lines: Iterable[str]) -> VerifyResult:
    """Check one sequence of JSON lines (spool lines, or flat attribute objects)."""
    return verify_sources([("<lines>", lines)])


def verify_files(paths: Sequence[str | os.PathLike[str]]) -> VerifyResult:
    """:func:`verify_sources` over files, e.g. an export and the quarantine file.

    Raises:
        OSError: a file cannot be read.
    """
    with contextlib.ExitStack() as stack:
        sources = [
            (os.fspath(path), stack.enter_context(open(path, encoding="utf-8", errors="replace")))
            for path in paths
        ]
        return verify_sources(sources)


def verify_file(path: str | os.PathLike[str]) -> VerifyResult:
    """:func:`verify_files` over one file."""
    return verify_files([path])
