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

from watchkit._version import __version__
from watchkit.exceptions import ConfigError, WatchkitError

if TYPE_CHECKING:
    from watchkit import context
    from watchkit._audit import audit
    from watchkit._configure import Telemetry, configure, force_flush, shutdown
    from watchkit.events import event
    from watchkit.flows import Flow, FlowRun, flow
    from watchkit.integrations import instrument_fastapi, instrument_flask, instrument_starlette
    from watchkit.logs import get_logger
    from watchkit.metrics import (
        Counter,
        Gauge,
        Histogram,
        UpDownCounter,
        counter,
        gauge,
        histogram,
        up_down_counter,
    )
    from watchkit.tracing import traced

__all__ = [
    "ConfigError",
    "Counter",
    "Flow",
    "FlowRun",
    "Gauge",
    "Histogram",
    "Telemetry",
    "UpDownCounter",
    "WatchkitError",
    "__version__",
    "audit",
    "configure",
    "context",
    "counter",
    "event",
    "flow",
    "force_flush",
    "gauge",
    "get_logger",
    "histogram",
    "instrument_fastapi",
    "instrument_flask",
    "instrument_starlette",
    "shutdown",
    "traced",
    "up_down_counter",
]

# Public name -> private module that defines it.
_LAZY: dict[str, str] = {
    "Counter": "watchkit.metrics",
    "Flow": "watchkit.flows",
    "FlowRun": "watchkit.flows",
    "Gauge": "watchkit.metrics",
    "Histogram": "watchkit.metrics",
    "UpDownCounter": "watchkit.metrics",
    "counter": "watchkit.metrics",
    "event": "watchkit.events",
    "flow": "watchkit.flows",
    "gauge": "watchkit.metrics",
    "histogram": "watchkit.metrics",
    "traced": "watchkit.tracing",
    "up_down_counter": "watchkit.metrics",
    "Telemetry": "watchkit._configure",
    "audit": "watchkit._audit",
    "configure": "watchkit._configure",
    "force_flush": "watchkit._configure",
    "get_logger": "watchkit.logs",
    "instrument_fastapi": "watchkit.integrations",
    "instrument_flask": "watchkit.integrations",
    "instrument_starlette": "watchkit.integrations",
    "shutdown": "watchkit._configure",
}


# Public submodules served lazily as attributes (``watchkit.context.wrap``).
_SUBMODULES: frozenset[str] = frozenset({"context"})


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
