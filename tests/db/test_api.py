"""The public watchkit.db module: a sorted __all__ whose names exist."""

from __future__ import annotations

import watchkit.db


def test_all_is_sorted_and_resolves() -> None:
    """Every name in watchkit.db.__all__ exists, in sorted order."""
    assert watchkit.db.__all__ == sorted(watchkit.db.__all__)
    for name in watchkit.db.__all__:
        assert callable(getattr(watchkit.db, name)), name
