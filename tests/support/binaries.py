"""Real Prometheus and Alertmanager binaries from the Debian packages.

``make services`` installs them (``make test`` runs it). A missing
binary fails the test with that instruction: these tests prove the generated
files against the real tools, so skipping them would prove nothing.
"""

from __future__ import annotations

import shutil

import pytest

__all__ = ["require"]


def require(name: str) -> str:
    """The path of ``name`` (``promtool``, ``prometheus``, ``amtool``, ...), or a failed test."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: run make services (Debian packages prometheus "
            "and prometheus-alertmanager)",
            pytrace=False,
        )
    return path
