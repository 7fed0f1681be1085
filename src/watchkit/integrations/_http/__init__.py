"""The request logic every HTTP server integration shares, one concept per module.

- :mod:`.options`: the options a middleware accepts (:class:`HttpOptions`), validated once.
- :mod:`.instruments`: the per-pipeline instruments, tracer, excluded URLs and redactor.
- :mod:`.attributes`: normalised, cached attribute values and span names.
- :mod:`.headers`: header capture and ``url.query`` redaction.
- :mod:`.parsing`: numbers, ports, the Host header and request ids from client input.
- :mod:`.propagation`: which headers the propagator reads.
- :mod:`.request`: one request's life cycle (:func:`start`, :class:`ServerRequest`).
- :mod:`.notices`: one-time warnings, double instrumentation, flush on shutdown.

The framework adapters (``asgi``, ``wsgi``, ``django``, ``flask``) only
translate their request and response shapes into these calls, so naming,
attributes, exclusion, header capture, redaction, error rules and RED
recording behave the same everywhere (OpenTelemetry HTTP semantic
conventions, stable).
"""

from __future__ import annotations

from watchkit.integrations._http.headers import ALWAYS_REDACTED_HEADERS
from watchkit.integrations._http.notices import already_instrumented, flush_telemetry, warn_once
from watchkit.integrations._http.options import HttpConfig, HttpOptions, RequestHook, ResponseHook
from watchkit.integrations._http.parsing import number, parse_host, port_number, request_id_from
from watchkit.integrations._http.propagation import propagation_fields
from watchkit.integrations._http.request import ServerRequest, start

__all__ = [
    "ALWAYS_REDACTED_HEADERS",
    "HttpConfig",
    "HttpOptions",
    "RequestHook",
    "ResponseHook",
    "ServerRequest",
    "already_instrumented",
    "flush_telemetry",
    "number",
    "parse_host",
    "port_number",
    "propagation_fields",
    "request_id_from",
    "start",
    "warn_once",
]
