"""A journey that swallows its cancellation, as Python 3.11's ``asyncio.wait_for`` can.

The CLI test sends SIGINT or SIGTERM while it runs: the CLI must still stop.
"""

from __future__ import annotations

import asyncio
import contextlib

from watchkit import synthetic


@synthetic.journey("swallows-cancel", interval=60)
async def swallows_cancel(j: synthetic.Journey) -> None:
    print("RUNNING", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(3)
