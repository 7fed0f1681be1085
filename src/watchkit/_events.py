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

import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.util.types import AttributeValue

from watchkit._internal import fork
from watchkit._internal.guard import report
from watchkit._internal.semconv import EVENT_NAME, EVENTS, EVENTS_UNIT
from watchkit._internal.state import STATE, get_logger
from watchkit._metrics import Counter, attributes_key, validate_name
from watchkit.redaction import redact_attributes

__all__ = ["event"]

_COUNTER = Counter(EVENTS, EVENTS_UNIT, "Business events emitted with watchkit.event(), by name.")
_MAX_NAMES_CACHED = 4096


class _Events:
    def __init__(self) -> None:
        self.generation = -1
        self.logger: Logger | None = None
        # Event name -> (counter attributes, their guard key); validated names only.
        self.names: dict[str, tuple[dict[str, Any], Any]] = {}
        self._lock = threading.Lock()

    def bind(self) -> Logger | None:
        with self._lock:
            generation = STATE.generation
            self.logger = get_logger() if STATE.enabled else None
            self.generation = generation
        return self.logger

    def name(self, name: str) -> tuple[dict[str, Any], Any]:
        validate_name(name, "event name")
        attributes = {EVENT_NAME: name}
        found = (attributes, attributes_key(attributes))
        if len(self.names) < _MAX_NAMES_CACHED:
            self.names[name] = found
        return found


_EVENTS = _Events()


def _after_fork_in_child() -> None:  # a lock held by another thread at the fork
    _EVENTS._lock = threading.Lock()


fork.at_fork(fork.LOCKS, "events.lock", _after_fork_in_child)


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
        events = _EVENTS
        logger = events.logger if events.generation == STATE.generation else events.bind()
        if logger is None:
            return
        found = events.names.get(name)
        if found is None:
            found = events.name(name)
        record: dict[str, Any] = dict(attributes) if attributes else {}
        if kw:
            record.update(kw)
        record[EVENT_NAME] = name
        record = redact_attributes(record)
        logger.emit(
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            attributes=record,
            event_name=name,
        )
        counter = _COUNTER
        if counter._generation != STATE.generation:
            counter._bind()
        sdk = counter._sdk
        if sdk is not None:
            counter_attributes, key = found
            if key not in counter._seen:
                counter_attributes = counter._admit(key, counter_attributes)  # type: ignore[assignment]
            sdk.add(1, counter_attributes)
    except Exception:
        report("watchkit.event")
