"""watchkit's own calls (health probes, synthetic steps, depth reads) are not application traffic.

A health check of the payment provider, a synthetic journey's request or a
queue-depth callback goes through the same httpx/requests/database clients the
application uses. Recorded
as such they would land in ``http.client.request.duration{service.peer.name=...}``
and in the dependency's SLO, counted as if users had caused them. Running them
with OpenTelemetry's suppress-instrumentation flag set keeps watchkit's hooks
and the contrib instrumentations out; watchkit records them its own way
(``watchkit.health.check.*``, ``watchkit.synthetic.*``).

The keys are the ones ``opentelemetry.instrumentation.utils.suppress_instrumentation``
sets; that package is optional here, so they are set directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from opentelemetry import context as otel_context

__all__ = ["OWN_CALL_KEY", "PLAIN_KEY", "own_calls"]

PLAIN_KEY: Final = "suppress_instrumentation"
"""The older string key some instrumentations still read."""
OWN_CALL_KEY: Final = otel_context.create_key("watchkit-own-call")
"""Set only by :func:`own_calls`. watchkit's database recording reads this one
rather than the OpenTelemetry flag, which it sets itself around its own
operations to silence the contrib instrumentations."""
_KEY: Final = otel_context._SUPPRESS_INSTRUMENTATION_KEY


@contextmanager
def own_calls() -> Iterator[None]:
    """Run the block with instrumentation suppressed (in this thread or task only)."""
    ctx = otel_context.set_value(_KEY, True)
    ctx = otel_context.set_value(PLAIN_KEY, True, ctx)
    ctx = otel_context.set_value(OWN_CALL_KEY, True, ctx)
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)
