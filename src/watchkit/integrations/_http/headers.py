"""Header capture and ``url.query`` redaction: what of a request may reach a span."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from watchkit.redaction import Redactor

__all__ = [
    "ALWAYS_REDACTED_HEADERS",
    "QUERY_KEYS",
    "capture_headers",
    "header_plan",
    "redact_query",
]

ALWAYS_REDACTED_HEADERS: Final[frozenset[str]] = frozenset(
    {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key"}
)
# Query keys redacted on top of the redaction module's sensitive keys: key and
# signature, plus the semconv list of signed-URL parameters.
QUERY_KEYS: Final = (
    "key",
    "signature",
    "sig",
    "x_amz_credential",
    "x_amz_security_token",
    "aws_access_key_id",
    "awsaccesskeyid",
)

HeaderPlan = tuple[tuple[str, str, bool], ...]


def header_plan(names: tuple[str, ...], prefix: str) -> HeaderPlan:
    """``(header, attribute key, redacted)`` for each allowlisted header name."""
    from watchkit.redaction import is_sensitive_key

    return tuple(
        (name, prefix + name, name in ALWAYS_REDACTED_HEADERS or is_sensitive_key(name))
        for name in names
    )


def capture_headers(
    plan: HeaderPlan,
    lookup: Callable[[str], list[str] | None],
    redactor: Redactor,
) -> dict[str, Any]:
    """Span attributes for the allowlisted headers.

    Sensitive header names give ``[REDACTED]``; in the other values, secrets
    found by the value patterns are replaced.
    """
    from watchkit.redaction import REDACTED

    redact_string = redactor.redact_string
    out: dict[str, Any] = {}
    for name, key, redacted in plan:
        values = lookup(name)
        if values:
            out[key] = (
                [REDACTED] * len(values)
                if redacted
                else [redact_string(v) if isinstance(v, str) else v for v in values]
            )
    return out


def redact_query(query: str, redactor: Redactor) -> str:
    """``query`` with the values of sensitive keys, and secret-looking values, redacted."""
    from urllib.parse import unquote_plus

    from watchkit.redaction import REDACTED

    parts = query.split("&")
    changed = False
    for index, part in enumerate(parts):
        key, sep, _ = part.partition("=")
        if sep and redactor.is_sensitive_key(unquote_plus(key)):
            parts[index] = f"{key}={REDACTED}"
            changed = True
    return redactor.redact_string("&".join(parts) if changed else query)
