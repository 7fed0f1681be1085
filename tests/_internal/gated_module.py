"""A module whose import blocks, in the test's process only, until the test opens the gate."""

from __future__ import annotations

import os

from tests._internal import import_gate

import_gate.RAN_IN.append(os.getpid())
if os.getpid() == import_gate.PARENT_PID:
    import_gate.ENTERED.set()
    import_gate.OPEN.wait(30)

VALUE = "imported"
