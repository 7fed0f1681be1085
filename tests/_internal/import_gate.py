"""Shared state of the gated test import (tests/_internal/gated_module.py)."""

from __future__ import annotations

import threading

PARENT_PID = 0
"""Only this process blocks in the import; a forked child imports straight through."""
ENTERED = threading.Event()
OPEN = threading.Event()
RAN_IN: list[int] = []


def reset(parent_pid: int) -> None:
    global PARENT_PID, ENTERED, OPEN
    PARENT_PID = parent_pid
    ENTERED = threading.Event()
    OPEN = threading.Event()
    RAN_IN.clear()
