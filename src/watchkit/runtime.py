"""Process and runtime metrics: CPU, memory, file descriptors, threads, uptime, GC, event-loop lag.

``watchkit.configure()`` turns the default set on (``WATCHKIT_RUNTIME_METRICS=false``
turns it off); every value is read from the process itself when metrics are
collected, so each worker of a pre-fork server reports itself. See
:mod:`watchkit._runtime` for the series and why ``/proc`` is read directly.

::

    import watchkit
    import watchkit.runtime

    watchkit.configure(service_name="orders")
    watchkit.runtime.enable(system=True, filesystem_paths=["/var/log"])  # opt-in extras

In an asyncio application, call :func:`watch_event_loop` once from the loop
(e.g. in the lifespan startup) to get ``watchkit.runtime.event_loop.lag``.
"""

from __future__ import annotations

from watchkit._runtime import disable, enable, watch_event_loop

__all__ = ["disable", "enable", "watch_event_loop"]
