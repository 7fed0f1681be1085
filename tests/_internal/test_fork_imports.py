"""A fork while another thread is inside an import: the child must be able to import it.

CPython renews its global import lock after a fork, not the per-module lock an
importing thread holds while the module's code runs; without watchkit's fork
hooks the child's first import of that module waits for ever.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from tests._internal import import_gate
from watchkit._internal import fork, imports

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")

MODULE = "tests._internal.gated_module"


@pytest.fixture
def gate() -> Iterator[None]:
    sys.modules.pop(MODULE, None)
    import_gate.reset(os.getpid())
    yield
    import_gate.OPEN.set()
    sys.modules.pop(MODULE, None)


def _import_on_a_thread() -> threading.Thread:
    thread = threading.Thread(target=importlib.import_module, args=(MODULE,), daemon=True)
    thread.start()
    assert import_gate.ENTERED.wait(10)
    return thread


def _exit_code(pid: int, timeout: float = 20.0) -> int:
    """The child's exit code; a child still running after ``timeout`` is killed (and fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -1


def test_an_import_in_progress_is_listed_until_it_ends(gate: None) -> None:
    assert MODULE not in imports.imports_in_progress()
    thread = _import_on_a_thread()
    assert MODULE in imports.imports_in_progress()
    import_gate.OPEN.set()
    thread.join(10)
    assert MODULE not in imports.imports_in_progress()


def test_the_fork_waits_for_an_import_that_ends_in_time(gate: None, monkeypatch) -> None:
    """The child gets the module whole, run once, in the parent."""
    monkeypatch.setattr(fork, "HOLD_TIMEOUT", 10.0)  # ample even on a loaded machine
    thread = _import_on_a_thread()
    threading.Timer(0.05, import_gate.OPEN.set).start()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        module = sys.modules.get(MODULE)
        whole = getattr(module, "VALUE", None) == "imported"
        os._exit(0 if whole and import_gate.RAN_IN == [import_gate.PARENT_PID] else 1)
    thread.join(10)
    assert _exit_code(pid) == 0


def test_a_child_imports_afresh_what_the_fork_cut(gate: None) -> None:
    """An import that outlasts the fork's wait is run again in the child, not waited for."""
    thread = _import_on_a_thread()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        module = importlib.import_module(MODULE)
        fresh = module.VALUE == "imported" and import_gate.RAN_IN[-1] == os.getpid()
        os._exit(0 if fresh else 1)
    waited = time.monotonic() - started
    import_gate.OPEN.set()
    thread.join(10)
    assert _exit_code(pid) == 0
    assert waited >= fork.HOLD_TIMEOUT  # it did wait before giving up
    assert sys.modules[MODULE].VALUE == "imported"  # the parent's import finished as usual


def test_nothing_is_forgotten_without_an_import_in_progress() -> None:
    before = dict(sys.modules)
    assert imports.forget_cut_imports() == []
    assert sys.modules.keys() >= before.keys()
