"""Structured logging: structlog with trace correlation, redaction and OTLP export.

``watchkit.configure()`` sets this up; then::

    log = watchkit.get_logger()
    log.info("reservation.confirmed", reservation_id="R-1042", nights=3)

prints one JSON line (or a console line on a terminal) with ``level``,
``logger``, ``timestamp`` (ISO-8601 UTC), ``trace_id``/``span_id`` of the current
span, ``service.name`` and your keys, secrets redacted; with the OTLP exporter
on, the same record is exported as an OpenTelemetry LogRecord. Records of the
standard library's :mod:`logging` (uvicorn, Django, requests, ...) go through
the same processors and come out the same way, once.
"""

from __future__ import annotations

import sys
from typing import Any, cast

from structlog.typing import FilteringBoundLogger

from watchkit.logs._setup import LazyLogger, LogHandler

__all__ = ["LogHandler", "get_logger"]


def get_logger(name: str | None = None, **initial_values: Any) -> FilteringBoundLogger:
    """A structlog logger that writes through watchkit's chain.

    Args:
        name: the logger name shown as ``logger`` (default: the calling module's
            ``__name__``).
        **initial_values: key/values bound to every record of this logger.

    Returns:
        A structlog bound logger (``.info()``, ``.bind()``, ``.exception()``, async
        ``.ainfo()`` ...). Safe to create and use at import time, before
        ``configure()``: such lines are redacted and rendered like the others,
        only not exported.

    Example:
        >>> import watchkit
        >>> log = watchkit.get_logger("bookings")
        >>> log = log.bind(hotel="Seaview")
    """
    if name is None:
        try:
            name = sys._getframe(1).f_globals.get("__name__") or "app"
        except Exception:  # pragma: no cover - frames are always there on CPython
            name = "app"
    # structlog.get_logger() cannot take a "logger" key (it is wrap_logger's first
    # parameter), so build the lazy proxy it would have built.
    values = {"logger": name, **initial_values}
    proxy = LazyLogger(None, initial_values=values, logger_factory_args=(name,))
    return cast(FilteringBoundLogger, proxy)
