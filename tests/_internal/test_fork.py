"""The fork registry: one place, a documented order, and a broken hook stops nothing."""

from __future__ import annotations

import os

import pytest

from watchkit._internal import fork


def test_hooks_run_in_phase_order_then_registration_order(monkeypatch) -> None:
    """LOCKS before STATE before PIPELINE before SERVICES, whatever the registration order."""
    monkeypatch.setattr(fork, "_hooks", {phase: [] for phase in fork._PHASES})
    ran: list[str] = []
    fork.at_fork(fork.SERVICES, "services", lambda: ran.append("services"))
    fork.at_fork(fork.STATE, "state-1", lambda: ran.append("state-1"))
    fork.at_fork(fork.LOCKS, "locks", lambda: ran.append("locks"))
    fork.at_fork(fork.STATE, "state-2", lambda: ran.append("state-2"))
    fork.at_fork(fork.PIPELINE, "pipeline", lambda: ran.append("pipeline"))
    fork.run_child_hooks()
    assert ran == ["locks", "state-1", "state-2", "pipeline", "services"]
    assert [name for _, name in fork.hooks()] == ran


def test_a_failing_hook_is_logged_and_the_rest_still_run(monkeypatch, caplog) -> None:
    """A hook that raises must not leave the child without the locks of later hooks."""
    monkeypatch.setattr(fork, "_hooks", {phase: [] for phase in fork._PHASES})
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    fork.at_fork(fork.LOCKS, "broken", broken)
    fork.at_fork(fork.LOCKS, "after", lambda: ran.append("after"))
    fork.run_child_hooks()
    assert ran == ["after"]
    assert "after-fork hook broken failed" in caplog.text


def test_unknown_phase_is_refused() -> None:
    """A typo in a phase fails where the hook is registered."""
    with pytest.raises(ValueError, match="phase must be one of"):
        fork.at_fork(7, "x", lambda: None)


def test_watchkit_registers_its_locks_first_and_nowhere_else() -> None:
    """Importing watchkit registers lock hooks in LOCKS; no module calls os.register_at_fork."""
    import watchkit

    watchkit.flow  # noqa: B018 - import the feature modules
    registered = {name: phase for phase, name in fork.hooks()}
    assert registered["state.lock"] == fork.LOCKS
    assert registered["guard.lock"] == fork.LOCKS
    src = os.path.dirname(watchkit.__file__)
    offenders = []
    for root, _, files in os.walk(src):
        for file in files:
            if file.endswith(".py") and not (root.endswith("_internal") and file == "fork.py"):
                with open(os.path.join(root, file), encoding="utf-8") as handle:
                    if "register_at_fork(" in handle.read():
                        offenders.append(file)
    assert offenders == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_hooks_run_in_a_real_child() -> None:
    """A real fork runs the registry in the child (lock replaced, parent untouched)."""
    from watchkit._internal.state import STATE

    parent_lock = STATE.lock
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, b"1" if STATE.lock is not parent_lock else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert STATE.lock is parent_lock
