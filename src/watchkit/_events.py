"""``watchkit.event``: business events, without a separate analytics SDK.

::

    import watchkit

    watchkit.event("order.placed", channel="app", basket_items=3)
    watchkit.event("checkout.abandoned", {"checkout.step": "payment"})

Each call emits one OpenTelemetry log record (``event_name`` and the attribute
``event.name`` set to the name, severity INFO, your attributes, correlated with
the current span) and adds 1 to counter ``watchkit.events`` with the single
attribute ``event.name``. Count daily active users, feature usage or abandoned
checkouts from the counter; look up the details (which may be high-cardinality:
user ids are fine here) in the log records. The counter never carries your
attributes, and the cardinality guard bounds the event names it keeps.

Event names follow the OpenTelemetry instrument name rules (``order.placed``,
``user.signup``). An invalid name cannot raise at the call site (that is the
request path): the event is dropped and the guard logs it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.util.types import AttributeValue

from watchkit._internal.guard import invalid_argument, report
from watchkit._internal.semconv import EVENT_NAME, EVENTS, EVENTS_UNIT
from watchkit._internal.state import STATE, bound, get_logger
from watchkit._metrics import Counter, attributes_key, record, validate_name
from watchkit.redaction import redact_attributes

__all__ = ["event"]

_COUNTER = Counter(EVENTS, EVENTS_UNIT, "Business events emitted with watchkit.event(), by name.")
_MAX_NAMES_CACHED = 4096


def _logger() -> Logger | None:
    return get_logger() if STATE.enabled else None


_LOGGER = bound(_logger)
# Event name -> (counter attributes, their guard key); validated names only.
_NAMES: dict[str, tuple[dict[str, Any], Any]] = {}


def _name(name: str) -> tuple[dict[str, Any], Any]:
    validate_name(name, "event name")
    attributes = {EVENT_NAME: name}
    found = (attributes, attributes_key(attributes))
    if len(_NAMES) < _MAX_NAMES_CACHED:
        _NAMES[name] = found
    return found


def event(
    name: str, attributes: Mapping[str, AttributeValue] | None = None, /, **kw: AttributeValue
) -> None:
    """Emit business event ``name`` with attributes (a mapping, keywords, or both).

    Args:
        name: the event name, e.g. ``"order.placed"`` (OpenTelemetry name rules).
        attributes: attributes of the log record; keyword arguments are added
            (and win on equal keys).

    Example:
        >>> import watchkit
        >>> watchkit.event("order.placed", {"payment.method": "card"}, basket_items=3)
    """
    try:
        logger = _LOGGER.get()
        if logger is None:
            return
        found = _NAMES.get(name)
        if found is None:
            try:
                found = _name(name)
            except ValueError as error:
                invalid_argument("watchkit.event()", str(error), "the event was dropped")
                return
        fields: dict[str, Any] = dict(attributes) if attributes else {}
        if kw:
            fields.update(kw)
        fields[EVENT_NAME] = name
        fields = redact_attributes(fields)
        logger.emit(
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            attributes=fields,
            event_name=name,
        )
        record(_COUNTER, 1, *found)
    except Exception:
        report("watchkit.event")
