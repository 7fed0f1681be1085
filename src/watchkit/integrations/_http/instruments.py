"""What each pipeline gives every request: instruments, tracer and matchers.

Built once per pipeline by :data:`INSTRUMENTS` (``watchkit._internal.state.bound``):
a request pays one integer comparison to get them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from watchkit._internal import semconv
from watchkit._internal.proxies import TrustedProxies
from watchkit._internal.state import STATE, PerPipeline, bound, current_settings, get_tracer
from watchkit._metrics import Histogram, InFlight, Slot
from watchkit.integrations._http.attributes import active_attributes, clear_caches
from watchkit.integrations._http.headers import QUERY_KEYS
from watchkit.integrations._http.options import compile_patterns

if TYPE_CHECKING:
    from opentelemetry import trace

    from watchkit.redaction import Redactor

__all__ = [
    "ACTIVE",
    "DURATION",
    "INSTRUMENTS",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "Instruments",
    "active_enter",
]


class Instruments:
    """The current pipeline's tracer, excluded URLs, redactor and trusted proxies.

    (The metrics bind themselves.)
    """

    __slots__ = ("enabled", "excluded", "proxies", "redactor", "tracer")

    def __init__(self) -> None:
        from watchkit.redaction import Redactor

        self.enabled = STATE.enabled
        self.tracer: trace.Tracer = get_tracer()
        settings = current_settings()
        self.excluded: re.Pattern[str] | None = compile_patterns(settings.excluded_urls)
        self.proxies = TrustedProxies(settings.trusted_proxies)
        redact_keys = settings.redact_keys
        patterns = settings.redact_patterns
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

# Recorded through watchkit's one record path (pipeline binding, cardinality guard).
DURATION = Histogram(
    semconv.HTTP_SERVER_REQUEST_DURATION,
    semconv.UNIT_SECONDS,
    "Duration of HTTP server requests.",
    None,
)
REQUEST_SIZE = Histogram(
    semconv.HTTP_SERVER_REQUEST_BODY_SIZE,
    semconv.UNIT_BYTES,
    "Size of HTTP server request bodies.",
    None,
)
RESPONSE_SIZE = Histogram(
    semconv.HTTP_SERVER_RESPONSE_BODY_SIZE,
    semconv.UNIT_BYTES,
    "Size of HTTP server response bodies.",
    None,
)
# Observed at collection from watchkit's own in-flight counts: an SDK
# UpDownCounter.add costs ~8 us, twice per request, on the hot path.
ACTIVE = InFlight(
    semconv.HTTP_SERVER_ACTIVE_REQUESTS,
    semconv.UNIT_REQUESTS,
    "Number of active HTTP server requests.",
)


def active_enter(method: str, scheme: str) -> Slot:
    """Count a request into ``http.server.active_requests`` (``ACTIVE.leave(slot)``: out)."""
    slot = ACTIVE.slot(active_attributes(method, scheme), (method, scheme))
    ACTIVE.enter(slot)
    return slot
