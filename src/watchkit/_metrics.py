"""Business metrics: counters, up-down counters, histograms and gauges, with a cardinality guard.

Define instruments once, at import time if you like (before ``configure()``),
and record from anywhere::

    import watchkit

    ORDERS = watchkit.counter("orders.placed", unit="{order}", description="Orders placed")
    BASKET = watchkit.histogram("checkout.basket.value", unit="EUR")

    def place_order(order):
        ORDERS.add(1, {"payment.method": order.payment_method})
        BASKET.record(order.total, channel="app")

Names follow the OpenTelemetry instrument name rules and are checked when the
instrument is *defined*: a bad name raises :class:`ValueError` there, never on
the request path. Defining the same name again with the same kind, unit and
description returns the same object, so ``watchkit.counter("x").add(1)`` inline
is cheap; a conflicting definition raises :class:`ValueError`.

Cardinality guard: the OpenTelemetry Python SDK (1.45) keeps every attribute
set it sees forever, so a user id fed as an attribute grows memory without
bound. Each watchkit instrument admits at most ``cardinality_limit`` distinct
attribute sets per pipeline (``configure(cardinality_limit=...)``, default
2000); later new sets are recorded into one overflow series with the single
attribute ``otel.metric.overflow=true`` (the marker the OpenTelemetry
specification uses) and one warning names the instrument. Attribute sets whose
values compare equal (``1``, ``1.0`` and ``True``) count once.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, cast

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.util.types import AttributeValue

from watchkit._internal import fork
from watchkit._internal import settings as _settings
from watchkit._internal.guard import internal_logger, report
from watchkit._internal.semconv import OTEL_METRIC_OVERFLOW, RESERVED_METRIC_PREFIX, UNIT_SECONDS
from watchkit._internal.state import STATE, get_meter

__all__ = [
    "Attributes",
    "Counter",
    "Gauge",
    "GaugeCallback",
    "Histogram",
    "UpDownCounter",
    "counter",
    "gauge",
    "histogram",
    "up_down_counter",
]

Attributes = Mapping[str, AttributeValue]
"""Attribute mapping accepted wherever watchkit records a measurement."""

GaugeCallback = Callable[[], float | Iterable[tuple[float, Attributes]]]
"""What ``watchkit.gauge(callback=...)`` calls at each collection: a number, or
``(value, attributes)`` pairs, one per series."""

# OpenTelemetry API specification, "Instrument name syntax".
_NAME_RULE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-/]{0,254}")
_NAME_RULE_TEXT = (
    "OpenTelemetry instrument names start with a letter, then use only letters, digits, "
    "'_', '.', '-' and '/', and are at most 255 characters long"
)
_UNIT_RULE = re.compile(r"[\x20-\x7e]{0,63}")
_OVERFLOW: Mapping[str, AttributeValue] = {OTEL_METRIC_OVERFLOW: True}
_DEFAULT_CARDINALITY_LIMIT = 2000

_registry_lock = threading.Lock()
# Every instrument ever created (user-defined and watchkit's own), for the fork hook.
_instruments: weakref.WeakSet[_Instrument] = weakref.WeakSet()


def validate_name(name: object, what: str = "metric name") -> str:
    """Return ``name`` if it is a valid instrument name; raise ValueError naming the rule."""
    if not isinstance(name, str) or _NAME_RULE.fullmatch(name) is None:
        raise ValueError(f"{what} {name!r} is invalid: {_NAME_RULE_TEXT}")
    return name


def _validate_unit(unit: object) -> str:
    if not isinstance(unit, str) or _UNIT_RULE.fullmatch(unit) is None:
        raise ValueError(
            f"unit {unit!r} is invalid: use printable ASCII, at most 63 characters "
            "(UCUM, e.g. 's', 'By', '{order}')"
        )
    return unit


def _validate_description(description: object) -> str:
    if not isinstance(description, str):
        raise ValueError(f"description {description!r} is invalid: use a string")
    return description


def _validate_buckets(buckets: Sequence[float] | None) -> tuple[float, ...] | None:
    if buckets is None:
        return None
    try:
        values = tuple(float(b) for b in buckets if not isinstance(b, bool))
    except (TypeError, ValueError):
        values = ()
    ok = (
        len(values) == len(tuple(buckets))
        and len(values) > 0
        and all(math.isfinite(v) for v in values)
        and all(a < b for a, b in itertools.pairwise(values))
    )
    if not ok:
        raise ValueError(
            f"buckets {buckets!r} are invalid: use a non-empty sequence of strictly "
            "increasing finite numbers"
        )
    return values


def cardinality_limit() -> int:
    """The attribute sets each instrument admits in the current pipeline."""
    for pipeline in (STATE.pipeline, STATE.configured):
        if pipeline is not None and pipeline.settings is not None:
            return pipeline.settings.cardinality_limit
    # Test capture without configure(): defaults plus WATCHKIT_CARDINALITY_LIMIT.
    try:
        return _settings.resolve().cardinality_limit
    except Exception:
        return _DEFAULT_CARDINALITY_LIMIT


def attributes_key(attributes: Attributes) -> Any:
    """A hashable key identifying an attribute set (for the cardinality guard)."""
    try:
        return frozenset(attributes.items())
    except TypeError:  # sequence values (lists) are unhashable; so are mappings
        return frozenset((k, _hashable(v)) for k, v in attributes.items())


def _hashable(value: Any) -> Any:
    # Slow path only. Values the SDK would reject or stringify still need a
    # key: the point is the SDK's to keep or clean, never the guard's to drop.
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, Mapping):
        return (Mapping, frozenset((k, _hashable(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return (type(value).__qualname__, repr(value))
    return value


def _merge(attributes: Attributes | None, extra: dict[str, Any]) -> Attributes | None:
    if not extra:
        return attributes
    if not attributes:
        return extra
    return {**attributes, **extra}


class _Instrument:
    """Shared machinery: definition, rebinding per pipeline, cardinality guard."""

    kind: ClassVar[str] = "instrument"

    def __init__(self, name: str, unit: str, description: str) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self._generation = -1
        self._sdk: Any = None
        self._seen: set[Any] = set()
        self._limit = _DEFAULT_CARDINALITY_LIMIT
        self._warned = False
        self._lock = threading.Lock()
        _instruments.add(self)

    def _identity(self) -> tuple[Any, ...]:
        return (type(self), self.unit, self.description)

    def _create(self) -> Any:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _activate(self) -> None:
        """Called once when the definition is accepted (observables register here)."""

    def _bind(self) -> None:
        """Point at the current pipeline (called when STATE.generation moved)."""
        with self._lock:
            generation = STATE.generation
            if generation == self._generation:
                return
            self._sdk = self._create() if STATE.enabled else None
            self._reset_guard(generation)

    def _reset_guard(self, generation: int) -> None:
        # A new pipeline starts with no series, so the guard starts afresh.
        self._seen = set()
        self._limit = cardinality_limit()
        self._warned = False
        self._generation = generation

    def _admit(self, key: Any, attributes: Attributes) -> Attributes:
        """Slow path of the guard: a new attribute set. Returns what to record."""
        with self._lock:
            seen = self._seen
            if key in seen:
                return attributes
            if len(seen) < self._limit:
                seen.add(key)
                return attributes
            warn = not self._warned
            self._warned = True
        if warn:
            internal_logger.warning(
                "watchkit: %s %r reached its cardinality limit of %d attribute sets; further "
                "new attribute sets are recorded as one series with otel.metric.overflow=true. "
                "Remove high-cardinality attributes (ids, raw paths) or raise "
                "configure(cardinality_limit=...).",
                self.kind,
                self.name,
                self._limit,
            )
        return _OVERFLOW

    def _guard(self, attributes: Attributes) -> Attributes:
        key = attributes_key(attributes)
        if key in self._seen:
            return attributes
        return self._admit(key, attributes)

    @property
    def series(self) -> int:
        """Distinct attribute sets admitted in the current pipeline (for diagnostics)."""
        return len(self._seen)

    def __repr__(self) -> str:
        return f"<watchkit {self.kind} {self.name!r} unit={self.unit!r}>"


class Counter(_Instrument):
    """A monotonic sum: orders placed, payments failed. Create with :func:`counter`."""

    kind = "counter"

    def _create(self) -> Any:
        return get_meter().create_counter(self.name, self.unit, self.description)

    def add(
        self, amount: float = 1, attributes: Attributes | None = None, /, **kw: AttributeValue
    ) -> None:
        """Add ``amount`` (>= 0) for the series named by the attributes.

        Attributes come as a mapping, as keyword arguments, or both (keywords win).

        Example:
            >>> orders = counter("docs.orders.placed")
            >>> orders.add(1, {"payment.method": "card"}, channel="app")
        """
        try:
            if self._generation != STATE.generation:
                self._bind()
            sdk = self._sdk
            if sdk is None:
                return
            if kw:
                attributes = _merge(attributes, kw)
            if attributes:
                key = attributes_key(attributes)
                if key not in self._seen:
                    attributes = self._admit(key, attributes)
            sdk.add(amount, attributes)
        except Exception:
            report("watchkit counter add")


class UpDownCounter(_Instrument):
    """A sum that goes up and down: items in a queue, open carts. See :func:`up_down_counter`."""

    kind = "up-down counter"

    def _create(self) -> Any:
        return get_meter().create_up_down_counter(self.name, self.unit, self.description)

    def add(
        self, amount: float, attributes: Attributes | None = None, /, **kw: AttributeValue
    ) -> None:
        """Add ``amount`` (negative to subtract) for the series named by the attributes.

        Example:
            >>> queue = up_down_counter("docs.kitchen.queue")
            >>> queue.add(1, station="grill")
            >>> queue.add(-1, station="grill")
        """
        try:
            if self._generation != STATE.generation:
                self._bind()
            sdk = self._sdk
            if sdk is None:
                return
            if kw:
                attributes = _merge(attributes, kw)
            if attributes:
                key = attributes_key(attributes)
                if key not in self._seen:
                    attributes = self._admit(key, attributes)
            sdk.add(amount, attributes)
        except Exception:
            report("watchkit up_down_counter add")


class Histogram(_Instrument):
    """A distribution: order values, delivery distances, durations. See :func:`histogram`."""

    kind = "histogram"

    def __init__(
        self, name: str, unit: str, description: str, buckets: tuple[float, ...] | None
    ) -> None:
        super().__init__(name, unit, description)
        self.buckets = buckets

    def _identity(self) -> tuple[Any, ...]:
        return (*super()._identity(), self.buckets)

    def _boundaries(self) -> Sequence[float] | None:
        if self.buckets is not None:
            return self.buckets
        if self.unit == UNIT_SECONDS:
            return STATE.duration_buckets
        return None

    def _create(self) -> Any:
        return get_meter().create_histogram(
            self.name,
            self.unit,
            self.description,
            explicit_bucket_boundaries_advisory=self._boundaries(),
        )

    def record(
        self, value: float, attributes: Attributes | None = None, /, **kw: AttributeValue
    ) -> None:
        """Record one value (>= 0) for the series named by the attributes.

        Example:
            >>> basket = histogram("docs.basket.value", unit="EUR", buckets=[10, 25, 50, 100])
            >>> basket.record(42.5, channel="web")
        """
        try:
            if self._generation != STATE.generation:
                self._bind()
            sdk = self._sdk
            if sdk is None:
                return
            if kw:
                attributes = _merge(attributes, kw)
            if attributes:
                key = attributes_key(attributes)
                if key not in self._seen:
                    attributes = self._admit(key, attributes)
            sdk.record(value, attributes)
        except Exception:
            report("watchkit histogram record")


class Gauge(_Instrument):
    """A current value: queue depth, couriers online. See :func:`gauge`.

    With a ``callback`` the gauge is observable: the callback is called at
    each metric collection. Without one, call :meth:`set`.
    """

    kind = "gauge"
    _create_observable: ClassVar[str] = "create_observable_gauge"

    def __init__(
        self,
        name: str,
        unit: str,
        description: str,
        callback: GaugeCallback | None,
        attributes: Attributes | None,
    ) -> None:
        super().__init__(name, unit, description)
        self.callback = callback
        self.attributes: Attributes = dict(attributes or {})
        self._callback_failed = False

    def _activate(self) -> None:
        if self.callback is not None:
            self._register()
            STATE.add_listener(self._on_pipeline_change)

    def _identity(self) -> tuple[Any, ...]:
        return (*super()._identity(), self.callback, tuple(sorted(self.attributes.items())))

    def _create(self) -> Any:
        return get_meter().create_gauge(self.name, self.unit, self.description)

    # Observable form ---------------------------------------------------------
    def _register(self) -> None:
        # The SDK ignores a second registration of the same instrument on one
        # provider, so registering on every pipeline change is idempotent.
        getattr(get_meter(), self._create_observable)(
            self.name, [self._observe], self.unit, self.description
        )

    def _on_pipeline_change(self) -> None:
        pipeline = STATE.pipeline
        if pipeline is not None and pipeline.enabled:
            self._register()

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        try:
            generation = STATE.generation
            if self._generation != generation:
                # Called by the SDK at collection, possibly while a pipeline shuts
                # down: reset the guard only; observing needs no SDK instrument.
                with self._lock:
                    self._reset_guard(generation)
            callback = self.callback
            assert callback is not None
            try:
                result = callback()
            except Exception:
                if not self._callback_failed:
                    self._callback_failed = True
                    internal_logger.warning(
                        "watchkit: the callback of %s %r raised; no value this time "
                        "(further failures are not logged)",
                        self.kind,
                        self.name,
                        exc_info=True,
                    )
                return []
            if isinstance(result, (int, float)):
                return [Observation(result, self._guard(self.attributes) or None)]
            observations = []
            for value, attributes in result:
                merged = {**self.attributes, **attributes} if self.attributes else attributes
                observations.append(Observation(value, self._guard(merged) if merged else None))
            return observations
        except Exception:
            report("watchkit gauge callback")
            return []

    # Synchronous form ----------------------------------------------------------
    def set(
        self, value: float, attributes: Attributes | None = None, /, **kw: AttributeValue
    ) -> None:
        """Set the current value of a gauge defined without a callback.

        Example:
            >>> couriers = gauge("docs.couriers.online", unit="{courier}")
            >>> couriers.set(12, zone="north")
        """
        try:
            if self.callback is not None:
                raise TypeError(
                    f"gauge {self.name!r} has a callback; set() is only for gauges without one"
                )
            if self._generation != STATE.generation:
                self._bind()
            sdk = self._sdk
            if sdk is None:
                return
            attributes = _merge(_merge(self.attributes, dict(attributes or {})), kw)
            if attributes:
                attributes = self._guard(attributes)
            sdk.set(value, attributes)
        except Exception:
            report("watchkit gauge set")


class ObservableUpDownCounter(Gauge):
    """Internal: an up-down counter whose value a callback reports (``watchkit.flow.active``)."""

    kind = "observable up-down counter"
    _create_observable = "create_observable_up_down_counter"


def _after_fork_in_child() -> None:
    # A lock another thread held at the fork stays held forever in the child:
    # the next rebinding or new series would deadlock the worker.
    global _registry_lock
    _registry_lock = threading.Lock()
    for instrument in list(_instruments):
        instrument._lock = threading.Lock()


fork.at_fork(fork.LOCKS, "metrics.locks", _after_fork_in_child)

_I = TypeVar("_I", bound=_Instrument)
_registry: dict[str, _Instrument] = {}


def _define(key: str, build: Callable[[], _I]) -> _I:
    candidate = build()
    with _registry_lock:
        existing = _registry.get(key)
        if existing is None:
            _registry[key] = candidate
    if existing is None:
        candidate._activate()
        return candidate
    if existing._identity() != candidate._identity():
        raise ValueError(
            f"metric name {existing.name!r} is already defined as {existing!r} "
            f"(description {existing.description!r}); define it once and reuse it, or "
            "use another name"
        )
    return cast(_I, existing)


def _check_user_name(name: object) -> str:
    valid = validate_name(name)
    if valid.lower().startswith(RESERVED_METRIC_PREFIX):
        raise ValueError(
            f"metric name {name!r} is invalid: names starting with "
            f"{RESERVED_METRIC_PREFIX!r} are reserved for watchkit's own metrics"
        )
    return valid


def counter(name: str, *, unit: str = "", description: str = "") -> Counter:
    """Define (or get) a counter: a total that only goes up.

    Args:
        name: instrument name, e.g. ``"orders.placed"`` (OpenTelemetry name rules).
        unit: UCUM unit, e.g. ``"{order}"``.
        description: one line shown by backends.

    Returns:
        The :class:`Counter`; the same object for the same name and settings.

    Raises:
        ValueError: the name, unit or description is invalid, or the name is
            already defined with another kind, unit or description.

    Example:
        >>> import watchkit
        >>> failed = watchkit.counter("payments.failed", unit="{payment}")
        >>> failed.add(1, {"payment.provider": "stripe", "error.type": "card_declined"})
    """
    checked = _check_user_name(name)
    unit = _validate_unit(unit)
    description = _validate_description(description)
    return _define(checked.lower(), lambda: Counter(checked, unit, description))


def up_down_counter(name: str, *, unit: str = "", description: str = "") -> UpDownCounter:
    """Define (or get) an up-down counter: a total that goes up and down.

    Raises:
        ValueError: as for :func:`counter`.

    Example:
        >>> import watchkit
        >>> open_carts = watchkit.up_down_counter("checkout.carts.open", unit="{cart}")
        >>> open_carts.add(1)
        >>> open_carts.add(-1)
    """
    checked = _check_user_name(name)
    unit = _validate_unit(unit)
    description = _validate_description(description)
    return _define(checked.lower(), lambda: UpDownCounter(checked, unit, description))


def histogram(
    name: str,
    *,
    unit: str = "",
    description: str = "",
    buckets: Sequence[float] | None = None,
) -> Histogram:
    """Define (or get) a histogram.

    Bucket boundaries: ``buckets`` if given; else, for unit ``"s"``, the
    duration buckets every watchkit duration histogram uses
    (``configure(duration_buckets=...)``); else the SDK's defaults.

    Raises:
        ValueError: as for :func:`counter`, or ``buckets`` are not strictly
            increasing finite numbers.

    Example:
        >>> import watchkit
        >>> prep = watchkit.histogram("kitchen.preparation.duration", unit="s")
        >>> prep.record(93.0, {"restaurant.tier": "gold"})
    """
    checked = _check_user_name(name)
    unit = _validate_unit(unit)
    description = _validate_description(description)
    bounds = _validate_buckets(buckets)
    return _define(checked.lower(), lambda: Histogram(checked, unit, description, bounds))


def gauge(
    name: str,
    *,
    callback: GaugeCallback | None = None,
    unit: str = "",
    description: str = "",
    attributes: Attributes | None = None,
) -> Gauge:
    """Define (or get) a gauge: a value sampled at collection time, or set by you.

    Args:
        name: instrument name (OpenTelemetry name rules).
        callback: called at each metric collection; returns a number, or
            ``(value, attributes)`` pairs. Exceptions it raises are logged once
            and that collection gets no value. Without a callback use
            :meth:`Gauge.set`.
        unit: UCUM unit.
        description: one line shown by backends.
        attributes: attributes added to every value.

    Raises:
        ValueError: as for :func:`counter`, or ``callback`` is not callable.

    Example:
        >>> import watchkit
        >>> pending = []
        >>> depth = watchkit.gauge("delivery.queue.depth", callback=lambda: len(pending))
    """
    checked = _check_user_name(name)
    unit = _validate_unit(unit)
    description = _validate_description(description)
    if callback is not None and not callable(callback):
        raise ValueError(f"callback {callback!r} is invalid: use a function with no arguments")
    return _define(checked.lower(), lambda: Gauge(checked, unit, description, callback, attributes))
