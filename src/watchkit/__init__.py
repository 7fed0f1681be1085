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
    from watchkit._configure import Telemetry, configure, force_flush, shutdown

__all__ = [
    "ConfigError",
    "Telemetry",
    "WatchkitError",
    "__version__",
    "configure",
    "force_flush",
    "shutdown",
]

# Public name -> private module that defines it.
_LAZY: dict[str, str] = {
    "Telemetry": "watchkit._configure",
    "configure": "watchkit._configure",
    "force_flush": "watchkit._configure",
    "shutdown": "watchkit._configure",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'watchkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
