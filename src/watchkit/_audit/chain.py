"""The hash chain: per-process numbering and SHA-256 links, and the lock that orders them.

Every record gets ``audit.stream`` (this process's chain), ``audit.seq`` (1, 2,
3 ... per process), ``audit.prev_hash`` and ``audit.hash`` = SHA-256 over the
previous hash and the record's canonical JSON, so a deleted, inserted or
edited record breaks the chain.

:attr:`Chain.lock` is held while a record is numbered, hashed *and* appended
to the spool, so the order of lines in a spool file is the order of the chain;
the shipper takes it too while a file rotates. The lock lives here, beside the
state it guards, and a forked child gets a fresh one (and a fresh chain)
through the fork registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from watchkit._internal import fork, semconv

__all__ = ["CHAIN", "GENESIS_HASH", "Chain", "canonical", "chain_hash"]

GENESIS_HASH: Final = "0" * 64
"""``audit.prev_hash`` of the first record of a chain."""

STREAM = semconv.AUDIT_STREAM
SEQ = semconv.AUDIT_SEQ
PREV_HASH = semconv.AUDIT_PREV_HASH
HASH = semconv.AUDIT_HASH


def canonical(attributes: Mapping[str, Any]) -> bytes:
    """The bytes hashed for a record: its attributes except ``audit.hash``, as sorted JSON."""
    content = {k: v for k, v in attributes.items() if k != HASH}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, attributes: Mapping[str, Any]) -> str:
    """SHA-256 (hex) over ``prev_hash`` and the canonical JSON of ``attributes``."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(attributes))
    return digest.hexdigest()


class Chain:
    """This process's sequence and hash chain, and the lock that orders records."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        """Held while a record is linked and spooled (and while a spool file rotates)."""
        self.reset()

    def reset(self) -> None:
        """Start a new chain (a new ``audit.stream``) for this process."""
        self.pid = os.getpid()
        self.stream = f"{socket.gethostname()}:{self.pid}:{time.time_ns()}"
        self.seq = 0
        self.prev = GENESIS_HASH

    def link(self, attributes: dict[str, Any]) -> None:
        """Number and hash ``attributes`` in place; call with :attr:`lock` held."""
        if self.pid != os.getpid():
            self.reset()
        attributes[STREAM] = self.stream
        attributes[SEQ] = self.seq + 1
        attributes[PREV_HASH] = self.prev
        digest = chain_hash(self.prev, attributes)
        attributes[HASH] = digest
        # Committed only once hashed: a failure cannot leave a gap in the chain.
        self.seq += 1
        self.prev = digest


CHAIN = Chain()


def _fresh_lock() -> None:
    # Another thread may have held the lock at fork(); nobody would release it.
    CHAIN.lock = threading.Lock()


fork.at_fork(fork.LOCKS, "audit.chain.lock", _fresh_lock)
fork.at_fork(fork.STATE, "audit.chain", CHAIN.reset)
