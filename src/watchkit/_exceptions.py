"""Exceptions raised by watchkit.

watchkit raises only at configuration and definition time. Nothing on a
request path raises into application code: see ``watchkit._internal.guard``.
"""

from __future__ import annotations

__all__ = ["ConfigError", "WatchkitError"]


class WatchkitError(Exception):
    """Base class of every exception watchkit raises on purpose."""

    __module__ = "watchkit"


class ConfigError(WatchkitError, ValueError):
    """A configuration value is invalid.

    The message names the parameter or environment variable, the value that
    was given and the values that are accepted, for example::

        ConfigError: protocol (OTEL_EXPORTER_OTLP_PROTOCOL) = 'udp' is not
        accepted; use one of: 'grpc', 'http/protobuf'

    It subclasses :class:`ValueError` so that code catching bad values in
    general also catches it.
    """

    __module__ = "watchkit"
