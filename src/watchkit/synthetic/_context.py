"""Whether the request being handled is a synthetic check (read by application code)."""

from __future__ import annotations

from contextvars import ContextVar, Token

__all__ = ["is_synthetic", "mark_synthetic"]

# Set by the HTTP middleware for the duration of a request whose User-Agent is
# a journey's; reset when the request ends. A token another context resets
# (a thread hop) falls back to setting Ellipsis, which is not True.
_SYNTHETIC: ContextVar[object] = ContextVar("watchkit_synthetic", default=False)


def is_synthetic() -> bool:
    """Whether the current request is a synthetic check (a ``watchkit.synthetic`` journey).

    True inside a request the HTTP middleware received with the journeys'
    User-Agent (the one it marks ``user_agent.synthetic.type=test`` on spans
    and metrics), in the handler and in what it calls, threads included when
    they carry the context (``watchkit.context.wrap``); False elsewhere,
    outside any request, or without watchkit's middleware. Use it to keep
    probe orders out of business metrics.

    Example:
        >>> from watchkit import synthetic
        >>> synthetic.is_synthetic()
        False
    """
    return _SYNTHETIC.get() is True


def mark_synthetic() -> Token[object]:
    """Mark the current context as a synthetic request (internal: the HTTP middleware)."""
    return _SYNTHETIC.set(True)
