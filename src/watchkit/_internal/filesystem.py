"""One definition of how full a file system is, for ``health.disk`` and ``system.filesystem.*``.

``statvfs`` gives three block counts: ``f_blocks`` (size), ``f_bfree`` (free,
including the blocks reserved for root) and ``f_bavail`` (free for everyone
else). Used space is ``f_blocks - f_bfree``; reserved is ``f_bfree - f_bavail``.
Utilization is ``used / (used + available)``, the definition of ``df``'s
``Use%`` and of the OpenTelemetry collector's hostmetrics receiver: the
reserved blocks are neither used nor usable, so they count on neither side.
Dividing by ``f_blocks`` instead, or counting reserved space as used, gives
figures far from ``df`` on file systems with a large reserve (a machine with
60 % of its blocks reserved read 68.8 %, 9 % and 23 % for the same disk).
"""

from __future__ import annotations

import os
from typing import NamedTuple

__all__ = ["FilesystemUsage", "filesystem_usage"]


class FilesystemUsage(NamedTuple):
    """Bytes of the file system holding a path."""

    used: int
    available: int
    """Free for unprivileged writers (``f_bavail``)."""
    reserved: int
    """Free, but only for root (``f_bfree - f_bavail``)."""

    @property
    def utilization(self) -> float:
        """``used / (used + available)``, 0 for an empty file system (``df``'s ``Use%`` / 100)."""
        usable = self.used + self.available
        return self.used / usable if usable else 0.0


def filesystem_usage(path: str | os.PathLike[str]) -> FilesystemUsage:
    """The usage of the file system holding ``path`` (``OSError`` if it cannot be read)."""
    st = os.statvfs(path)
    # f_frsize is the unit of the block counts (f_bsize is only the preferred I/O size).
    unit = st.f_frsize or st.f_bsize
    return FilesystemUsage(
        used=(st.f_blocks - st.f_bfree) * unit,
        available=st.f_bavail * unit,
        reserved=max(st.f_bfree - st.f_bavail, 0) * unit,
    )
