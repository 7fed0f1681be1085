"""A process forked while another thread writes a log line can write its own lines.

Pre-fork servers (Celery's prefork pool, gunicorn) fork from one thread while
others log. The child keeps only the forking thread: a line lock held by a
writer of the parent at that moment would stay held for ever, and the child's
first line would hang it (a Celery pool child then never runs its task, never
exits, and the warm shutdown ends in a SIGKILL that loses its telemetry).
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from typing import Any

import pytest

from watchkit._internal import fork
from watchkit.logs._setup import RUNTIME

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()"),
    # Python 3.12+ warns about fork() with threads alive: exactly the case tested here.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


class _SlowStream:
    """A stream whose writes take a while (or block until released)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.inside = threading.Event()
        self.release = threading.Event()
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.inside.set()
        if self.delay:
            time.sleep(self.delay)
        else:
            self.release.wait(10)
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def _fork_while_writing(monkeypatch: Any, stream: _SlowStream) -> tuple[bytes, float]:
    """Fork while a thread is inside RUNTIME.write; the child's own line comes back."""
    monkeypatch.setattr(RUNTIME, "stream", stream)
    writer = threading.Thread(target=RUNTIME.write, args=("parent line",), daemon=True)
    writer.start()
    assert stream.inside.wait(5)
    read, write = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            signal.alarm(5)  # a hung child must not hang the test
            RUNTIME.stream = os.fdopen(write, "w")
            RUNTIME.write("child line")
        finally:
            os._exit(0)
    waited = time.monotonic() - started
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 8)
        got = os.read(read, 100) if ready else b""
    finally:
        os.close(read)
        stream.release.set()
        os.waitpid(pid, 0)
        writer.join(5)
    return got, waited


def test_the_fork_waits_for_the_line_being_written(monkeypatch) -> None:
    """The fork waits (briefly) for the writer: the child starts with a free line lock."""
    stream = _SlowStream(delay=0.2)
    got, waited = _fork_while_writing(monkeypatch, stream)
    assert got == b"child line\n"
    assert stream.lines == ["parent line\n"]
    assert waited < fork.HOLD_TIMEOUT + 1


def test_a_writer_stuck_for_ever_delays_the_fork_by_the_hold_timeout_only(monkeypatch) -> None:
    """A write blocked for good (a full pipe) costs the fork HOLD_TIMEOUT; the child renews."""
    stream = _SlowStream()
    got, waited = _fork_while_writing(monkeypatch, stream)
    assert got == b"child line\n"
    assert fork.HOLD_TIMEOUT <= waited < fork.HOLD_TIMEOUT + 2
    # The parent's line lock works again once its writer is done.
    RUNTIME.write("after")
    assert stream.lines[-1] == "after\n"


def test_the_line_lock_is_held_across_the_fork_and_renewed_in_the_child() -> None:
    """Registered in the one fork registry (no module calls os.register_at_fork)."""
    assert "logs.locks" in [name for phase, name in fork.hooks() if phase == fork.LOCKS]
    assert "logs.runtime.lock" in [name for name, _ in fork._held]
