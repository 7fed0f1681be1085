"""What each pipeline gives every request: instruments, tracer and matchers.

Built once per pipeline by :data:`INSTRUMENTS` (``watchkit._internal.state.bound``):
a request pays one integer comparison to get them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import CallbackOptions, Observation

from watchkit._exceptions import ConfigError
from watchkit._internal import semconv
from watchkit._internal.state import STATE, PerPipeline, bound, get_meter, get_tracer
from watchkit.integrations._http.attributes import active_attributes, clear_caches
from watchkit.integrations._http.headers import QUERY_KEYS
from watchkit.integrations._http.options import compile_patterns

if TYPE_CHECKING:
    from opentelemetry import trace

    from watchkit.redaction import Redactor

__all__ = ["INSTRUMENTS", "Instruments", "active_add"]


class Instruments:
    """The current pipeline's HTTP instruments, tracer, excluded URLs and redactor."""

    __slots__ = (
        "active",
        "duration",
        "enabled",
        "excluded",
        "redactor",
        "request_size",
        "response_size",
        "tracer",
    )

    def __init__(self) -> None:
        from watchkit.redaction import Redactor

        self.enabled = STATE.enabled
        self.tracer: trace.Tracer = get_tracer()
        meter = get_meter()
        self.duration = meter.create_histogram(
            semconv.HTTP_SERVER_REQUEST_DURATION,
            unit=semconv.UNIT_SECONDS,
            description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=STATE.duration_buckets,
        )
        # Observed at collection from watchkit's own in-flight counts: an SDK
        # UpDownCounter.add costs ~8 us, twice per request, on the hot path.
        self.active = meter.create_observable_up_down_counter(
            semconv.HTTP_SERVER_ACTIVE_REQUESTS,
            callbacks=[_observe_active],
            unit=semconv.UNIT_REQUESTS,
            description="Number of active HTTP server requests.",
        )
        self.request_size = meter.create_histogram(
            semconv.HTTP_SERVER_REQUEST_BODY_SIZE,
            unit=semconv.UNIT_BYTES,
            description="Size of HTTP server request bodies.",
        )
        self.response_size = meter.create_histogram(
            semconv.HTTP_SERVER_RESPONSE_BODY_SIZE,
            unit=semconv.UNIT_BYTES,
            description="Size of HTTP server response bodies.",
        )
        settings = _settings()
        excluded = settings.excluded_urls if settings is not None else ()
        self.excluded: re.Pattern[str] | None = compile_patterns(excluded)
        redact_keys = settings.redact_keys if settings is not None else ()
        patterns = settings.redact_patterns if settings is not None else ()
        # Keys for url.query; value patterns (bearer tokens, JWTs, cards and the
        # configured ones) for url.query and the captured header values.
        self.redactor: Redactor
        try:
            self.redactor = Redactor(keys=(*QUERY_KEYS, *redact_keys), patterns=patterns)
        except ValueError:  # configure() validates patterns; never fail a request here
            self.redactor = Redactor(keys=(*QUERY_KEYS, *redact_keys))


def _instruments() -> Instruments:
    clear_caches()
    return Instruments()


INSTRUMENTS: PerPipeline[Instruments] = bound(_instruments)
"""The :class:`Instruments` of the current pipeline."""

_active_lock = threading.Lock()
_active_counts: dict[tuple[str, str], int] = {}


def active_add(method: str, scheme: str, delta: int) -> None:
    """Count a request in (``+1``) or out (``-1``) of ``http.server.active_requests``."""
    key = (method, scheme)
    with _active_lock:
        _active_counts[key] = _active_counts.get(key, 0) + delta


def _observe_active(options: CallbackOptions) -> Iterable[Observation]:
    with _active_lock:
        items = list(_active_counts.items())
    return [Observation(count, active_attributes(*key)) for key, count in items]


def _settings() -> Any:
    pipeline = STATE.pipeline
    settings = pipeline.settings if pipeline is not None else None
    if settings is None and STATE.configured is not None:
        settings = STATE.configured.settings  # under a test capture
    if settings is None:
        from watchkit._internal.settings import resolve

        try:
            settings = resolve()
        except ConfigError:  # configure() reports bad variables; use defaults here
            settings = resolve(environ={})
    return settings
