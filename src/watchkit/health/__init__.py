"""Health checks: liveness, readiness and startup probes with per-check timeouts and caching.

Declare checks with a decorator or a call, then serve ``/livez``, ``/readyz``
and ``/healthz`` (``application/health+json``)::

    from watchkit import health

    @health.check("postgres", component_type="datastore", ttl=2.0)
    def postgres() -> None:
        with pool.connection() as conn:
            conn.execute("SELECT 1")

    health.add("disk", health.disk("/var/lib/app"), kind="liveness", critical=False)

    app = health.asgi_app()       # or health.wsgi_app(); framework adapters in
                                  # watchkit.integrations.health

Liveness checks only the process itself (never declare a dependency as
``kind="liveness"``: a database blip would restart every pod); readiness
evaluates liveness and readiness checks; ``healthz`` everything. A check
returns None/True (pass), False (fail) or an :class:`Observation`, raises
:class:`Warn` for warn and anything else for fail. A failing non-critical check
makes the status ``warn`` (HTTP 200), a failing critical one ``fail`` (503).
"""

from __future__ import annotations

from typing import Any

from watchkit.health._builtins import disk, export, http, memory, redis, sql
from watchkit.health._core import (
    Check,
    CheckFunction,
    CheckResult,
    ComponentType,
    HealthRegistry,
    Kind,
    Observation,
    Probe,
    Report,
    Status,
    Warn,
)
from watchkit.health._endpoints import HealthEndpoints, health_paths, render, watch_sigterm

__all__ = [
    "Check",
    "CheckFunction",
    "CheckResult",
    "ComponentType",
    "HealthEndpoints",
    "HealthRegistry",
    "Kind",
    "Observation",
    "Probe",
    "Report",
    "Status",
    "Warn",
    "add",
    "asgi_app",
    "begin_shutdown",
    "check",
    "disk",
    "export",
    "health_paths",
    "http",
    "memory",
    "redis",
    "registry",
    "remove",
    "render",
    "run",
    "run_sync",
    "sql",
    "watch_sigterm",
    "wsgi_app",
]

for _cls in (Check, CheckResult, HealthEndpoints, HealthRegistry, Observation, Report, Warn):
    _cls.__module__ = __name__

registry = HealthRegistry()
"""The default registry behind :func:`check`, :func:`add` and the endpoints."""

check = registry.check
"""Decorator declaring a check: ``@health.check`` or ``@health.check("db", ttl=2)``.

Args (all keyword-only except ``name``):
    name: the check's name (default: the function's); the ``component`` of
        ``component:measurement`` in responses and the ``health.check.name``
        metric attribute.
    kind: ``"liveness"``, ``"readiness"`` (default) or ``"startup"``.
    critical: False makes a failure ``warn`` (HTTP 200) instead of ``fail``.
    timeout: seconds before the run counts as failed (default 0.8).
    ttl: serve a finished result this many seconds without re-running.
    interval: run in the background every this many seconds; probes get the
        last result (``fail`` until the first run).
    component_type: ``"component"``, ``"datastore"`` or ``"system"``.

Raises:
    ValueError: an argument is invalid or the name is taken.
"""
add = registry.add
"""Declare a check from a function: ``health.add("redis", health.redis(client))``.

Same arguments as :data:`check`, with the function second. Returns the :class:`Check`.
"""
remove = registry.remove
run = registry.run
"""``await health.run("readyz")``: run a probe's checks; returns a :class:`Report`."""
run_sync = registry.run_sync
begin_shutdown = registry.begin_shutdown
"""Turn readiness to ``fail`` (liveness keeps passing): call it when draining starts."""


def asgi_app(**options: Any) -> HealthEndpoints:
    """An ASGI app serving the probes (:class:`HealthEndpoints` options).

    It also answers the ASGI lifespan protocol: on ``lifespan.shutdown``
    readiness turns ``fail``.

    Example:
        >>> app = asgi_app(readyz="/ready", expose_details=False)
        >>> app.probe_for("/ready")
        'readyz'
    """
    return HealthEndpoints(**options)


def wsgi_app(**options: Any) -> Any:
    """A WSGI app serving the probes (:class:`HealthEndpoints` options)."""
    return HealthEndpoints(**options).wsgi
