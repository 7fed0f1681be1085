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

Cardinality guard: the OpenTelemetry Python SDK 1.45.1 keeps every attribute
set it sees forever, so a user id fed as an attribute grows memory without
bound (1.45.2 caps streams itself, silently; the guard keeps the bound, the
setting and the warning the same on both, for one set lookup per record).
Each watchkit instrument admits at most ``cardinality_limit`` distinct
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
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast, overload

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.util.types import AttributeValue

from watchkit._internal import fork
from watchkit._internal.guard import internal_logger, report
from watchkit._internal.semconv import (
    OTEL_METRIC_OVERFLOW,
    RESERVED_METRIC_PREFIX,
    SCOPE,
    UNIT_SECONDS,
)
from watchkit._internal.state import STATE, PerPipeline, bound, current_settings, get_meter

__all__ = [
    "Attributes",
    "Counter",
    "Gauge",
    "GaugeCallback",
    "Histogram",
    "InFlight",
    "ObservableCounter",
    "ObservableGauge",
    "ObservableUpDownCounter",
    "Slot",
    "UpDownCounter",
    "counter",
    "gauge",
    "histogram",
    "record",
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
    return current_settings().cardinality_limit


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


class _Binding:
    """What one instrument holds for one pipeline: the SDK call and the guard's series."""

    __slots__ = ("limit", "record", "seen", "warned")

    def __init__(self, record: Callable[..., None] | None, limit: int) -> None:
        self.record = record
        """The SDK instrument's ``add``/``record``/``set``; None when telemetry is off."""
        self.seen: set[Any] = set()
        self.limit = limit
        self.warned = False


def _warn_limit(kind: str, name: str, limit: int) -> None:
    internal_logger.warning(
        "watchkit: %s %r reached its cardinality limit of %d attribute sets; further "
        "new attribute sets are recorded as one series with otel.metric.overflow=true. "
        "Remove high-cardinality attributes (ids, raw paths) or raise "
        "configure(cardinality_limit=...).",
        kind,
        name,
        limit,
    )


class _Instrument:
    """Shared machinery: definition, one binding per pipeline, cardinality guard."""

    kind: ClassVar[str] = "instrument"

    def __init__(self, name: str, unit: str, description: str, *, scope: str = SCOPE) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self.scope = scope
        self._binding: PerPipeline[_Binding] = bound(self._bind)
        self._lock = threading.Lock()
        _instruments.add(self)

    def _identity(self) -> tuple[Any, ...]:
        return (type(self), self.unit, self.description)

    def _create(self) -> Callable[..., None] | None:
        """The SDK call this instrument records with, in the current pipeline."""
        return None

    def _activate(self) -> None:
        """Called once when the definition is accepted (observables register here)."""

    def _bind(self) -> _Binding:
        # A new pipeline starts with no series, so the guard starts afresh.
        return _Binding(self._create() if STATE.enabled else None, cardinality_limit())

    def _admit(self, binding: _Binding, key: Any, attributes: Attributes) -> Attributes:
        """Slow path of the guard: a new attribute set. Returns what to record."""
        with self._lock:
            seen = binding.seen
            if key in seen:
                return attributes
            if len(seen) < binding.limit:
                seen.add(key)
                return attributes
            warn = not binding.warned
            binding.warned = True
        if warn:
            _warn_limit(self.kind, self.name, binding.limit)
        return _OVERFLOW

    @property
    def series(self) -> int:
        """Distinct attribute sets admitted in the current pipeline (for diagnostics)."""
        binding = self._binding.peek()
        return 0 if binding is None else len(binding.seen)

    def __repr__(self) -> str:
        return f"<watchkit {self.kind} {self.name!r} unit={self.unit!r}>"


def record(
    instrument: Counter | UpDownCounter | Histogram | Gauge,
    value: float,
    attributes: Attributes | None,
    key: Any = None,
    context: Context | None = None,
) -> None:
    """The one record path of every synchronous instrument (internal).

    Binds to the current pipeline, applies the cardinality guard and calls the
    SDK. ``key`` identifies the attribute set for the guard, when the caller
    has one already (flows and events keep ``attributes_key(attributes)``;
    HTTP the inputs its cached attributes were built from); all callers of one
    instrument must use the same kind of key. ``context`` is the SDK's (an
    empty one: no exemplar). Raises what the SDK raises: callers on a request
    path wrap it in ``except Exception: report(...)``.
    """
    binding = instrument._binding.get()
    sdk = binding.record
    if sdk is None:
        return
    if attributes:
        if key is None:
            key = attributes_key(attributes)
        if key not in binding.seen:
            attributes = instrument._admit(binding, key, attributes)
    if context is None:
        sdk(value, attributes)
    else:
        sdk(value, attributes, context)


class Counter(_Instrument):
    """A monotonic sum: orders placed, payments failed. Create with :func:`counter`."""

    __module__ = "watchkit"

    kind = "counter"

    _zeros: dict[Any, Attributes] | None = None
    """Series reported at 0 in every pipeline (see :meth:`start_at_zero`)."""

    def _create(self) -> Callable[..., None]:
        return get_meter(self.scope).create_counter(self.name, self.unit, self.description).add

    def start_at_zero(self, *attribute_sets: Attributes) -> None:
        """Report each of these series as 0 from now on, before its first :meth:`add`.

        Prometheus' ``increase()`` and ``rate()`` compare a series with its
        earlier samples, so a series whose first sample is already 1 shows no
        increase: an alert on ``increase(payments_failed_total[10m]) > 0``
        misses a process's first failure. Call this where the attribute values
        are known in advance (at import time is fine): the series are recorded
        at 0, through the cardinality guard, in the current pipeline and again
        in every later one (``configure()``, a test capture). Calling it again
        with the same sets is harmless; sets beyond the cardinality limit are
        left out.

        Args:
            attribute_sets: attribute mappings, one per series.

        Raises:
            ValueError: an argument is not a mapping.

        Example:
            >>> import watchkit
            >>> failed = watchkit.counter("docs.payments.failed", unit="{payment}")
            >>> failed.start_at_zero({"payment.provider": "stripe"}, {"payment.provider": "adyen"})
        """
        sets: list[tuple[Any, Attributes]] = []
        for attributes in attribute_sets:
            if not isinstance(attributes, Mapping):
                raise ValueError(
                    f"attribute set {attributes!r} is invalid: use a mapping of attribute "
                    "names to values"
                )
            own = dict(attributes)
            sets.append((attributes_key(own), own))
        with STATE.lock:
            zeros = self._zeros
            if zeros is None:
                zeros = self._zeros = {}
                STATE.add_listener(self._record_zeros)
            # Bounded: past the cardinality limit the series would overflow anyway.
            room = max(0, cardinality_limit() - len(zeros))
            zeros.update(sets[:room])
            self._record_zeros()

    def _record_zeros(self) -> None:
        # Runs under STATE.lock, after each pipeline change: each new pipeline
        # gets its own 0 samples, before anything can add 1 to them.
        for key, attributes in list((self._zeros or {}).items()):
            record(self, 0, attributes, key)

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
            record(self, amount, _merge(attributes, kw) if kw else attributes)
        except Exception:
            report("watchkit counter add")


class UpDownCounter(_Instrument):
    """A sum that goes up and down: items in a queue, open carts. See :func:`up_down_counter`."""

    __module__ = "watchkit"

    kind = "up-down counter"

    def _create(self) -> Callable[..., None]:
        meter = get_meter(self.scope)
        return meter.create_up_down_counter(self.name, self.unit, self.description).add

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
            record(self, amount, _merge(attributes, kw) if kw else attributes)
        except Exception:
            report("watchkit up_down_counter add")


class Histogram(_Instrument):
    """A distribution: order values, delivery distances, durations. See :func:`histogram`."""

    __module__ = "watchkit"

    kind = "histogram"

    def __init__(
        self,
        name: str,
        unit: str,
        description: str,
        buckets: tuple[float, ...] | None,
        *,
        scope: str = SCOPE,
    ) -> None:
        super().__init__(name, unit, description, scope=scope)
        self.buckets = buckets

    def _identity(self) -> tuple[Any, ...]:
        return (*super()._identity(), self.buckets)

    def _boundaries(self) -> Sequence[float] | None:
        if self.buckets is not None:
            return self.buckets
        if self.unit == UNIT_SECONDS:
            return STATE.duration_buckets
        return None

    def _create(self) -> Callable[..., None]:
        return (
            get_meter(self.scope)
            .create_histogram(
                self.name,
                self.unit,
                self.description,
                explicit_bucket_boundaries_advisory=self._boundaries(),
            )
            .record
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
            record(self, value, _merge(attributes, kw) if kw else attributes)
        except Exception:
            report("watchkit histogram record")


class Gauge(_Instrument):
    """A current value you set: couriers online, last batch size. See :func:`gauge`.

    A gauge defined with a ``callback`` is an :class:`ObservableGauge` instead,
    which has no :meth:`set`.
    """

    __module__ = "watchkit"

    kind = "gauge"

    def __init__(
        self,
        name: str,
        unit: str,
        description: str,
        attributes: Attributes | None = None,
        *,
        scope: str = SCOPE,
    ) -> None:
        super().__init__(name, unit, description, scope=scope)
        self.attributes: Attributes = dict(attributes or {})

    def _identity(self) -> tuple[Any, ...]:
        return (*super()._identity(), tuple(sorted(self.attributes.items())))

    def _create(self) -> Callable[..., None]:
        return get_meter(self.scope).create_gauge(self.name, self.unit, self.description).set

    def set(
        self, value: float, attributes: Attributes | None = None, /, **kw: AttributeValue
    ) -> None:
        """Set the current value for the series named by the attributes.

        Example:
            >>> couriers = gauge("docs.couriers.online", unit="{courier}")
            >>> couriers.set(12, zone="north")
        """
        try:
            merged = _merge(self.attributes, dict(attributes)) if attributes else self.attributes
            record(self, value, _merge(merged, kw) if kw else merged)
        except Exception:
            report("watchkit gauge set")


class ObservableGauge(_Instrument):
    """A gauge whose ``callback`` is called at each collection. See :func:`gauge`.

    Nothing records into it directly, so it has no ``set()``: misusing one is
    a type error rather than a call that silently does nothing.
    """

    __module__ = "watchkit"

    kind = "gauge"
    _create_observable: ClassVar[str] = "create_observable_gauge"

    def __init__(
        self,
        name: str,
        unit: str,
        description: str,
        callback: GaugeCallback,
        attributes: Attributes | None = None,
        *,
        scope: str = SCOPE,
    ) -> None:
        super().__init__(name, unit, description, scope=scope)
        self.callback = callback
        self.attributes: Attributes = dict(attributes or {})
        self._callback_failed = False

    def _identity(self) -> tuple[Any, ...]:
        return (*super()._identity(), self.callback, tuple(sorted(self.attributes.items())))

    def _activate(self) -> None:
        self._on_pipeline_change()
        STATE.add_listener(self._on_pipeline_change)

    def _on_pipeline_change(self) -> None:
        # Runs under STATE.lock: the guard is rebound here, never from the
        # callback, which the SDK calls from its reader thread.
        self._binding.get()
        pipeline = STATE.pipeline
        if pipeline is not None and pipeline.enabled:
            # The SDK ignores a second registration of the same instrument on
            # one provider, so registering on every pipeline change is idempotent.
            getattr(get_meter(self.scope), self._create_observable)(
                self.name, [self._observe], self.unit, self.description
            )

    if not TYPE_CHECKING:
        # Hidden from type checkers, so ``set()`` on an observable is a type
        # error; untyped code that calls it anyway is reported, never crashed.
        def set(self, *args: Any, **kwargs: Any) -> None:
            try:
                raise TypeError(
                    f"gauge {self.name!r} has a callback; set() is only for gauges without one"
                )
            except TypeError:
                report("watchkit gauge set")

    def _guard(self, binding: _Binding, attributes: Attributes) -> Attributes:
        key = attributes_key(attributes)
        if key in binding.seen:
            return attributes
        return self._admit(binding, key, attributes)

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        try:
            binding = self._binding.peek()
            if binding is None:  # pragma: no cover - bound by _activate
                return []
            try:
                result = self.callback()
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
                own = self.attributes
                return [Observation(result, self._guard(binding, own) if own else None)]
            observations = []
            for value, attributes in result:
                merged = {**self.attributes, **attributes} if self.attributes else attributes
                observations.append(
                    Observation(value, self._guard(binding, merged) if merged else None)
                )
            return observations
        except Exception:
            report("watchkit gauge callback")
            return []


class ObservableCounter(ObservableGauge):
    """Internal: a monotonic total read by a callback (``process.cpu.time``)."""

    kind = "observable counter"
    _create_observable = "create_observable_counter"


class ObservableUpDownCounter(ObservableGauge):
    """Internal: a sum read by a callback (``db.client.connection.count``)."""

    kind = "observable up-down counter"
    _create_observable = "create_observable_up_down_counter"


class Slot(list[None]):
    """One series of an :class:`InFlight`: one item per operation in progress."""

    __slots__ = ("attributes", "generation")

    def __init__(self, attributes: Attributes) -> None:
        super().__init__()
        self.attributes = attributes
        self.generation = -1


class InFlight:
    """Operations in progress (flows, HTTP requests) as an observable up-down counter.

    Internal. The hot path appends to and pops from a :class:`Slot` (both
    atomic in CPython), so it takes no lock and costs no SDK call; the count is
    read at collection. A series is reported to a pipeline once an operation
    of it ran there, and from then on at every export of that pipeline, 0
    included, up to its last export at shutdown: a backend must see the count
    come back to 0, not keep the last non-zero value. Series of another
    pipeline (an earlier test) stay out unless something of theirs is in
    progress. Attribute sets beyond the cardinality limit share one overflow
    series, with one warning naming the instrument.
    """

    kind: ClassVar[str] = "up-down counter"

    def __init__(self, name: str, unit: str, description: str, *, scope: str = SCOPE) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self.scope = scope
        self._slots: dict[Any, Slot] = {}
        self._overflow = Slot(_OVERFLOW)
        # Meter provider -> ids of the slots used while it was the current one.
        self._touched: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()
        self._warned = False
        self._lock = threading.Lock()
        _in_flight.add(self)
        with STATE.lock:
            self._register()
            STATE.add_listener(self._register)

    def slot(self, attributes: Attributes, key: Any = None) -> Slot:
        """The series for ``attributes`` (``key`` identifies them; default: the attributes)."""
        if key is None:
            key = attributes_key(attributes)
        found = self._slots.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._slots.get(key)
            if found is not None:
                return found
            limit = cardinality_limit()
            if len(self._slots) >= limit:
                warn, self._warned = not self._warned, True
                if warn:
                    _warn_limit(self.kind, self.name, limit)
                return self._overflow
            found = self._slots[key] = Slot(dict(attributes))
            return found

    def enter(self, slot: Slot) -> None:
        """One more operation of ``slot`` in progress."""
        slot.append(None)
        if slot.generation != STATE.generation:
            self._touch(slot)

    @staticmethod
    def leave(slot: Slot) -> None:
        """One operation of ``slot`` finished."""
        if slot:  # empty only for an operation begun before a fork, ended in the child
            slot.pop()

    def _touch(self, slot: Slot) -> None:
        with self._lock:
            generation = STATE.generation
            pipeline = STATE.pipeline
            if pipeline is not None:
                touched = self._touched.get(pipeline.meter_provider)
                if touched is None:
                    touched = self._touched[pipeline.meter_provider] = set()
                touched.add(id(slot))
            slot.generation = generation

    def _register(self) -> None:
        pipeline = STATE.pipeline
        if pipeline is None or not pipeline.enabled:
            return
        provider = pipeline.meter_provider
        with self._lock:
            touched = self._touched.get(provider)
            if touched is None:
                touched = self._touched[provider] = set()

        # Bound to this provider's touched set, so its last collection, at its
        # shutdown (after the pipeline stopped being current), still sees them.
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return self._observe(touched)

        get_meter(self.scope).create_observable_up_down_counter(
            self.name, [observe], self.unit, self.description
        )

    def _observe(self, touched: set[int]) -> Iterable[Observation]:
        try:
            slots = [*self._slots.values(), self._overflow]
            return [Observation(len(s), s.attributes) for s in slots if s or id(s) in touched]
        except Exception:
            report("watchkit in-flight callback")
            return []

    def after_fork_in_child(self) -> None:
        # Operations in progress in the parent are not in progress in the
        # child (its other threads are gone); the lock may have been held.
        self._lock = threading.Lock()
        for slot in [*self._slots.values(), self._overflow]:
            slot.clear()

    def __repr__(self) -> str:
        return f"<watchkit in-flight {self.kind} {self.name!r} unit={self.unit!r}>"


_in_flight: weakref.WeakSet[InFlight] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A lock another thread held at the fork stays held forever in the child:
    # the next new series would deadlock the worker.
    global _registry_lock
    _registry_lock = threading.Lock()
    for instrument in list(_instruments):
        instrument._lock = threading.Lock()
    for in_flight in list(_in_flight):
        in_flight.after_fork_in_child()


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


def own_metric_names() -> frozenset[str]:
    """Names of watchkit's own instruments: every one not defined through :func:`counter` & co.

    For output that puts the application's metrics first (the console summary).
    """
    with _registry_lock:
        user = {id(instrument) for instrument in _registry.values()}
    own = {i.name for i in list(_instruments) if id(i) not in user}
    own.update(i.name for i in list(_in_flight))
    return frozenset(own)


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


@overload
def gauge(
    name: str,
    *,
    callback: GaugeCallback,
    unit: str = "",
    description: str = "",
    attributes: Attributes | None = None,
) -> ObservableGauge: ...


@overload
def gauge(
    name: str,
    *,
    callback: None = None,
    unit: str = "",
    description: str = "",
    attributes: Attributes | None = None,
) -> Gauge: ...


def gauge(
    name: str,
    *,
    callback: GaugeCallback | None = None,
    unit: str = "",
    description: str = "",
    attributes: Attributes | None = None,
) -> Gauge | ObservableGauge:
    """Define (or get) a gauge: a value set by you, or sampled at collection time.

    Args:
        name: instrument name (OpenTelemetry name rules).
        callback: called at each metric collection; returns a number, or
            ``(value, attributes)`` pairs. Exceptions it raises are logged once
            and that collection gets no value. With a callback the result is an
            :class:`ObservableGauge` (which has no ``set()``); without one, a
            :class:`Gauge`, whose :meth:`Gauge.set` you call.
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
    if callback is None:
        return _define(checked.lower(), lambda: Gauge(checked, unit, description, attributes))
    if not callable(callback):
        raise ValueError(f"callback {callback!r} is invalid: use a function with no arguments")
    observed = callback
    return _define(
        checked.lower(),
        lambda: ObservableGauge(checked, unit, description, observed, attributes),
    )
