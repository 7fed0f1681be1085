"""The one Resource shared by the tracer, meter and logger providers."""

from __future__ import annotations

import os
import socket

from opentelemetry.sdk.resources import Resource

from watchkit._internal import semconv
from watchkit._internal.settings import Settings
from watchkit._version import __version__

__all__ = ["build_resource"]


def build_resource(settings: Settings) -> Resource:
    """Build the resource from resolved settings.

    ``Resource.create`` contributes the SDK's detectors (``telemetry.sdk.*``,
    ``service.instance.id`` as a random UUID that the SDK's providers renew in a
    forked child, and the ``OTEL_*`` variables); the attributes resolved by
    watchkit are merged on top, so configure()'s parameters win.
    """
    attributes: dict[str, str | int] = {
        semconv.HOST_NAME: socket.gethostname(),
        semconv.PROCESS_PID: os.getpid(),
        semconv.TELEMETRY_DISTRO_NAME: "watchkit",
        semconv.TELEMETRY_DISTRO_VERSION: __version__,
    }
    attributes.update(settings.resource_attributes)
    return Resource.create(attributes)


def process_resource() -> Resource:
    """The attributes that change in a forked child and the SDK does not renew itself."""
    return Resource({semconv.PROCESS_PID: os.getpid()})
