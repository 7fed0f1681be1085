"""watchkit: request latency, errors, business metrics, traces and logs over OTLP.

Everything public is importable from here::

    import watchkit

    watchkit.configure(service_name="checkout")

Names are loaded on first use (PEP 562), so ``import watchkit`` costs little
and never imports a web framework or gRPC.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from watchkit._exceptions import ConfigError, WatchkitError
from watchkit._version import __version__

if TYPE_CHECKING:
    from watchkit import context, ops
    from watchkit._audit import audit
    from watchkit._configure import (
        Telemetry,
        configure,
        current,
        force_flush,
        is_configured,
        shutdown,
    )
    from watchkit._dependency import Dependency, dependency
    from watchkit._events import event
    from watchkit._export.prometheus import prometheus_asgi_app, prometheus_wsgi_app
    from watchkit._flows import Flow, FlowRun, flow
    from watchkit._metrics import (
        Counter,
        Gauge,
        Histogram,
        ObservableGauge,
        UpDownCounter,
        counter,
        gauge,
        histogram,
        up_down_counter,
    )
    from watchkit._tracing import SpanScope, span, traced
    from watchkit.integrations import (
        instrument_fastapi,
        instrument_flask,
        instrument_starlette,
        uninstrument_fastapi,
        uninstrument_flask,
        uninstrument_starlette,
    )
    from watchkit.logs import get_logger
    from watchkit.security import active_users

__all__ = [
    "ConfigError",
    "Counter",
    "Dependency",
    "Flow",
    "FlowRun",
    "Gauge",
    "Histogram",
    "ObservableGauge",
    "SpanScope",
    "Telemetry",
    "UpDownCounter",
    "WatchkitError",
    "__version__",
    "active_users",
    "audit",
    "configure",
    "context",
    "counter",
    "current",
    "dependency",
    "event",
    "flow",
    "force_flush",
    "gauge",
    "get_logger",
    "histogram",
    "instrument_fastapi",
    "instrument_flask",
    "instrument_starlette",
    "is_configured",
    "ops",
    "prometheus_asgi_app",
    "prometheus_wsgi_app",
    "shutdown",
    "span",
    "traced",
    "uninstrument_fastapi",
    "uninstrument_flask",
    "uninstrument_starlette",
    "up_down_counter",
]

# Public name -> private module that defines it.
_LAZY: dict[str, str] = {
    "Counter": "watchkit._metrics",
    "Flow": "watchkit._flows",
    "FlowRun": "watchkit._flows",
    "Gauge": "watchkit._metrics",
    "Histogram": "watchkit._metrics",
    "ObservableGauge": "watchkit._metrics",
    "UpDownCounter": "watchkit._metrics",
    "counter": "watchkit._metrics",
    "Dependency": "watchkit._dependency",
    "dependency": "watchkit._dependency",
    "event": "watchkit._events",
    "flow": "watchkit._flows",
    "gauge": "watchkit._metrics",
    "histogram": "watchkit._metrics",
    "SpanScope": "watchkit._tracing",
    "span": "watchkit._tracing",
    "traced": "watchkit._tracing",
    "up_down_counter": "watchkit._metrics",
    "Telemetry": "watchkit._configure",
    "active_users": "watchkit.security",
    "audit": "watchkit._audit",
    "configure": "watchkit._configure",
    "current": "watchkit._configure",
    "is_configured": "watchkit._configure",
    "force_flush": "watchkit._configure",
    "get_logger": "watchkit.logs",
    "instrument_fastapi": "watchkit.integrations",
    "instrument_flask": "watchkit.integrations",
    "instrument_starlette": "watchkit.integrations",
    "uninstrument_fastapi": "watchkit.integrations",
    "uninstrument_flask": "watchkit.integrations",
    "uninstrument_starlette": "watchkit.integrations",
    "shutdown": "watchkit._configure",
    "prometheus_asgi_app": "watchkit._export.prometheus",
    "prometheus_wsgi_app": "watchkit._export.prometheus",
}


# Public submodules served lazily as attributes (``watchkit.context.wrap``).
_SUBMODULES: frozenset[str] = frozenset({"context", "ops"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"watchkit.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'watchkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
