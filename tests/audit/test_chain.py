"""The hash chain: numbering, links, and a fresh chain and lock in a forked child."""

from __future__ import annotations

import os

import pytest

from watchkit._audit.chain import CHAIN, GENESIS_HASH, Chain, chain_hash
from watchkit._internal import fork


def test_link_numbers_and_chains_records() -> None:
    """Each link takes the next seq and the previous record's hash; content changes the hash."""
    chain = Chain()
    first: dict[str, object] = {"n": 1}
    second: dict[str, object] = {"n": 2}
    chain.link(first)
    chain.link(second)
    assert (first["audit.seq"], second["audit.seq"]) == (1, 2)
    assert first["audit.prev_hash"] == GENESIS_HASH
    assert second["audit.prev_hash"] == first["audit.hash"]
    assert chain_hash(GENESIS_HASH, first) == first["audit.hash"]
    assert chain_hash(GENESIS_HASH, {**first, "n": 3}) != first["audit.hash"]
    assert first["audit.stream"] == second["audit.stream"]


def test_the_chain_lock_and_chain_are_renewed_by_the_fork_registry() -> None:
    """The chain's lock is reset in the LOCKS phase, the chain in STATE (fresh stream)."""
    registered = {name: phase for phase, name in fork.hooks()}
    assert registered["audit.chain.lock"] == fork.LOCKS
    assert registered["audit.chain"] == fork.STATE


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_child_forked_while_the_lock_is_held_can_still_record() -> None:
    """A lock held at fork() does not deadlock the child, which starts a new stream."""
    CHAIN.link({})
    parent_stream = CHAIN.stream
    read, write = os.pipe()
    with CHAIN.lock:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            ok = CHAIN.lock.acquire(timeout=2)
            record: dict[str, object] = {}
            CHAIN.link(record)
            fresh = record["audit.seq"] == 1 and record["audit.stream"] != parent_stream
            os.write(write, b"1" if ok and fresh else b"0")
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
