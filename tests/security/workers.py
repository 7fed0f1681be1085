"""Code run in child processes (spawned: each a fresh interpreter, as another worker or host)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any


def spawn(
    target: Callable[..., None], arguments: Sequence[tuple[Any, ...]]
) -> tuple[list[Connection], list[BaseProcess]]:
    """Start ``target(*args, pipe)`` in a fresh interpreter per ``args``: pipes, processes."""
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for args in arguments:
        parent, child = context.Pipe()
        process = context.Process(target=target, args=(*args, child))
        process.start()
        pipes.append(parent)
        processes.append(process)
    return pipes, processes


def login_worker(url: str, name: str, conn: Connection) -> None:
    """One LoginMonitor on ``url``; records a failure for each message until None."""
    from watchkit.security import LoginMonitor

    monitor = LoginMonitor(max_failures=5, window=600, store=url, name=name)
    conn.send("ready")
    while conn.recv() is not None:
        alert = monitor.record(False, user="ana", source_ip="203.0.113.7")
        conn.send(
            (alert, monitor.is_blocked(source_ip="203.0.113.7"), monitor.is_blocked(user="ana"))
        )


def active_users_worker(url: str, feature: str, first: int, last: int, conn: Connection) -> None:
    """Record ids ``first..last-1``, then (when told) collect the gauge once and send its points."""
    from watchkit.security import active_users
    from watchkit.testing import capture

    with capture() as telemetry:
        users = active_users(feature, store=url, periods=("hour", "day"))
        for i in range(first, last):
            users.record(f"user-{i}")
        conn.send("recorded")
        conn.recv()
        points = telemetry.metric_points("watchkit.users.active")
        conn.send(sorted((dict(p.attributes)["period"], p.value) for p in points))
