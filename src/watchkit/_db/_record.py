"""The one record path of a database operation: span, duration metric, slow query, N+1.

Every database hook (the DB-API wrapper, SQLAlchemy's events, Django's execute
wrapper) describes where it sends queries with one :class:`Target` and calls
:func:`begin` before and :meth:`Operation.finish` after each operation, so all
of them emit the same telemetry:

- a CLIENT span named after ``db.query.summary`` (``SELECT orders``), else the
  operation, else ``db.system.name``, with the sanitised ``db.query.text``
  (spans only, never on metrics);
- ``db.client.operation.duration`` (s) with ``db.system.name``,
  ``db.operation.name``, ``db.collection.name``, ``db.namespace``,
  ``server.address``, ``server.port`` and ``error.type``; a batch
  (``executemany``) is one operation;
- above :attr:`Target.slow_query_threshold`, a WARN log line with the sanitised
  query, the duration, the caller's code location and the trace id, at most
  :data:`SLOW_LOG_LIMIT` lines per :data:`SLOW_LOG_WINDOW` seconds per process;
- N+1: within one span (the request's, a flow's, a traced function's),
  :attr:`Target.n_plus_one_count` or more queries of the same sanitised shape
  taking more than :attr:`Target.n_plus_one_duration` together give one event
  on that span and one log line.

Queries are not made the current span: nothing runs inside them that could be
their child, and not attaching a context saves a microsecond per query.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import weakref
from types import FrameType
from typing import Any, Final, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation import _SPAN_KEY as _CURRENT_SPAN_KEY

from watchkit._db._sql import MAX_QUERY_TEXT, QueryInfo, analyse
from watchkit._internal import fork
from watchkit._internal.guard import internal_logger, report
from watchkit._internal.semconv import (
    CODE_FILE_PATH,
    CODE_FUNCTION_NAME,
    CODE_LINE_NUMBER,
    DB_CLIENT_OPERATION_DURATION,
    DB_COLLECTION_NAME,
    DB_DURATION_BUCKETS,
    DB_NAMESPACE,
    DB_OPERATION_BATCH_SIZE,
    DB_OPERATION_NAME,
    DB_QUERY_SUMMARY,
    DB_QUERY_TEXT,
    DB_SYSTEM_NAME,
    ERROR_TYPE,
    SERVER_ADDRESS,
    SERVER_PORT,
    UNIT_SECONDS,
    WATCHKIT_DB_N_PLUS_ONE_EVENT,
    WATCHKIT_DB_QUERY_COUNT,
    WATCHKIT_DB_QUERY_DURATION_TOTAL,
    WATCHKIT_DB_SLOW,
    WATCHKIT_DB_SLOW_QUERY_EVENT,
)
from watchkit._internal.suppression import OWN_CALL_KEY
from watchkit._metrics import Histogram, attributes_key, record
from watchkit._tracing import TRACER, error_type
from watchkit.logs import get_logger

__all__ = [
    "Operation",
    "QueryOptions",
    "Target",
    "begin",
    "check_thresholds",
    "namespace_of",
    "suppressing_context",
]

SLOW_LOG_LIMIT: Final = 10
_SQLITE: Final = "sqlite"
SLOW_LOG_WINDOW: Final = 60.0
_MAX_SHAPES_PER_SPAN: Final = 256
# Raw statement texts each Target maps to their shape (the hot ones are few).
_MAX_TEXTS: Final = 512
# Frames of these modules are the database machinery, not the caller to blame.
_MACHINERY: Final = (
    "watchkit.",
    "sqlalchemy.",
    "django.db.",
    "psycopg",
    "sqlite3",
    "opentelemetry.",
    "wrapt.",
    "contextlib",
    "asyncio.",
)

_DURATION = Histogram(
    DB_CLIENT_OPERATION_DURATION,
    UNIT_SECONDS,
    "Duration of database client operations.",
    DB_DURATION_BUCKETS,
)
_log = get_logger("watchkit.db")
_CLIENT = SpanKind.CLIENT

# OpenTelemetry's own instrumentations (contrib dbapi, sqlalchemy, psycopg ...)
# skip their work while this context key is set: the one switch they share.
# It is private to opentelemetry-api and pinned by tests/db/test_coexistence.py.
_SUPPRESS_KEY = otel_context._SUPPRESS_INSTRUMENTATION_KEY
_get_current = otel_context.get_current
# trace.get_current_span() without its call and INVALID_SPAN fallback.
_SPAN_KEY = _CURRENT_SPAN_KEY


def suppressing_context() -> otel_context.Context:
    """The current context with OpenTelemetry's contrib instrumentations switched off."""
    return otel_context.set_value(_SUPPRESS_KEY, True)


def check_thresholds(
    slow_query_threshold: float, n_plus_one_count: int, n_plus_one_duration: float
) -> None:
    """Raise ValueError naming the first threshold out of range."""
    for name, value in (
        ("slow_query_threshold", slow_query_threshold),
        ("n_plus_one_duration", n_plus_one_duration),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (math.isfinite(value) and value >= 0)
        ):
            raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    if (
        isinstance(n_plus_one_count, bool)
        or not isinstance(n_plus_one_count, int)
        or (n_plus_one_count < 2)
    ):
        raise ValueError(f"n_plus_one_count must be an int >= 2, got {n_plus_one_count!r}")


def namespace_of(system: str, name: str | None) -> str | None:
    """``db.namespace`` for a database ``name``: a SQLite file's base name, extension kept.

    The semantic conventions define ``db.namespace`` as the database's name
    within its server; a SQLite file has no server, and its path says where
    the disk is (a machine path, one series per directory), not which
    database: ``/srv/app/data/orders.db``, ``file:orders.db?mode=ro`` and
    ``orders.db`` are all ``orders.db``. The extension stays, so ``orders.db``
    and ``orders.sqlite3`` remain two databases. Every path (DB-API,
    SQLAlchemy, Django) passes through here, so they agree.

    Example:
        >>> namespace_of("sqlite", "/srv/app/data/orders.db")
        'orders.db'
        >>> namespace_of("postgresql", "orders")
        'orders'
    """
    if not name:
        return None
    if system != _SQLITE:
        return name
    if name.startswith("file:"):  # a SQLite URI filename: the path, without its query
        name = name[len("file:") :].split("?", 1)[0].split("#", 1)[0]
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or None


class QueryOptions(NamedTuple):
    """What the user gave about a connection's queries (the public functions' keywords).

    ``system``, ``namespace``, ``server_address`` and ``server_port`` win over
    what the driver or the engine's URL says; :meth:`target` combines them.
    """

    system: str | None = None
    namespace: str | None = None
    server_address: str | None = None
    server_port: int | None = None
    slow_query_threshold: float = 0.1
    n_plus_one_count: int = 5
    n_plus_one_duration: float = 0.05

    def checked(self) -> QueryOptions:
        """These options, once their thresholds are known to be in range (else ValueError)."""
        check_thresholds(self.slow_query_threshold, self.n_plus_one_count, self.n_plus_one_duration)
        return self

    def target(
        self,
        system: str,
        namespace: str | None,
        server: str | None,
        port: int | None,
        suppress_contrib: bool,
    ) -> Target:
        """A :class:`Target` with these thresholds and the values found (explicit ones applied)."""
        return Target(
            self.system or system,
            namespace=namespace,
            server=server,
            port=port,
            slow_query_threshold=self.slow_query_threshold,
            n_plus_one_count=self.n_plus_one_count,
            n_plus_one_duration=self.n_plus_one_duration,
            suppress_contrib=suppress_contrib,
        )


class Target:
    """Where a hook sends queries, and how it reports them; built once per connection/engine."""

    __slots__ = (
        "_by_sql",
        "_metric_attributes",
        "_shapes",
        "_span_attributes",
        "n_plus_one_count",
        "n_plus_one_duration",
        "namespace",
        "port",
        "server",
        "slow_query_threshold",
        "suppress_contrib",
        "system",
    )

    def __init__(
        self,
        system: str,
        *,
        namespace: str | None = None,
        server: str | None = None,
        port: int | None = None,
        slow_query_threshold: float = 0.1,
        n_plus_one_count: int = 5,
        n_plus_one_duration: float = 0.05,
        suppress_contrib: bool = False,
    ) -> None:
        namespace = namespace_of(system, namespace)
        self.system = system
        self.namespace = namespace
        self.server = server
        self.port = port
        self.slow_query_threshold = slow_query_threshold
        self.n_plus_one_count = n_plus_one_count
        self.n_plus_one_duration = n_plus_one_duration
        self.suppress_contrib = suppress_contrib
        base: dict[str, Any] = {DB_SYSTEM_NAME: system}
        if namespace:
            base[DB_NAMESPACE] = namespace
        if server:
            base[SERVER_ADDRESS] = server
        if port:
            base[SERVER_PORT] = port
        self._span_attributes = base
        self._metric_attributes: dict[tuple[str, str, str | None], tuple[dict[str, Any], Any]] = {}
        self._shapes: dict[QueryInfo, Shape] = {}
        self._by_sql: dict[str, Shape] = {}

    def shape_of(self, sql: str) -> Shape:
        """The :class:`Shape` of a statement's raw text (cached per text, bounded).

        One lookup keyed by the driver's string, whose hash Python keeps: the
        analysis and the per-shape lookup (which hashes a tuple) run once per text.
        Only texts up to :data:`MAX_QUERY_TEXT` characters are kept, so a
        connection holds at most about a megabyte of them.
        """
        shape = self._by_sql.get(sql)
        if shape is None:
            shape = self.shape(analyse(sql))
            if len(sql) <= MAX_QUERY_TEXT:
                # Texts with inline literals come and go: drop them wholesale.
                if len(self._by_sql) >= _MAX_TEXTS:
                    self._by_sql.clear()
                self._by_sql[sql] = shape
        return shape

    def shape(self, info: QueryInfo) -> Shape:
        """Everything recorded for one query shape that does not change per query (cached)."""
        shape = self._shapes.get(info)
        if shape is None:
            shape = Shape(info, self.span_name(info), self.span_attributes(info),
                          self.metric_series(info, None))  # fmt: skip
            # Bounded like the analysis cache: shapes with inline literals come and go.
            if len(self._shapes) >= 4096:
                self._shapes.clear()
            self._shapes[info] = shape
        return shape

    def metric_attributes(self, info: QueryInfo, error: str | None) -> dict[str, Any]:
        """The duration metric's attributes for one query shape (built once per shape)."""
        return self.metric_series(info, error)[0]

    def metric_series(self, info: QueryInfo, error: str | None) -> tuple[dict[str, Any], Any]:
        """The duration metric's attributes and their guard key (built once per shape)."""
        key = (info.operation, info.collection, error)
        series = self._metric_attributes.get(key)
        if series is None:
            attributes = dict(self._span_attributes)
            if info.operation:
                attributes[DB_OPERATION_NAME] = info.operation
            if info.collection:
                attributes[DB_COLLECTION_NAME] = info.collection
            if error is not None:
                attributes[ERROR_TYPE] = error
            series = (attributes, attributes_key(attributes))
            # Bounded by the cardinality guard too; this only avoids rebuilding.
            if len(self._metric_attributes) < 4096:
                self._metric_attributes[key] = series
        return series

    def span_attributes(self, info: QueryInfo) -> dict[str, Any]:
        """A new attribute dict for one query's span."""
        attributes = self.metric_attributes(info, None).copy()
        if info.summary:
            attributes[DB_QUERY_SUMMARY] = info.summary
        if info.text:
            attributes[DB_QUERY_TEXT] = info.text
        return attributes

    def span_name(self, info: QueryInfo) -> str:
        """``db.query.summary``, else ``db.operation.name``, else ``db.system.name``."""
        return info.summary or info.operation or self.system


class Shape(NamedTuple):
    """A query shape's analysis, span name, span attributes (shared: never mutated), series."""

    info: QueryInfo
    name: str
    span_attributes: dict[str, Any]
    series: tuple[dict[str, Any], Any]


class Operation:
    """One database operation in flight (see :func:`begin`)."""

    __slots__ = ("batch", "context", "info", "parent", "series", "span", "start", "target", "token")

    def __init__(
        self,
        target: Target,
        info: QueryInfo,
        batch: int | None,
        series: tuple[dict[str, Any], Any],
        span: trace.Span | None,
        parent: trace.Span | None,
        context: otel_context.Context,
    ) -> None:
        self.target = target
        self.info = info
        self.batch = batch
        self.series = series
        self.span = span
        self.parent = parent
        self.context = context
        self.token: object = None
        self.start = 0.0

    def finish(self, error: BaseException | None = None) -> None:
        """Record the operation: call exactly once, also when it failed."""
        try:
            duration = time.perf_counter() - self.start
            if self.token is not None:
                otel_context.detach(self.token)  # type: ignore[arg-type]
            target, info = self.target, self.info
            kind = None if error is None else error_type(error)
            series = self.series if kind is None else target.metric_series(info, kind)
            # The context the operation began in (the same task's, so the same
            # trace): exemplars link to the span the query ran under, and the
            # SDK does not look the current context up again.
            record(_DURATION, duration, series[0], series[1], self.context)
            span = self.span
            slow = duration >= target.slow_query_threshold
            if span is not None:
                if slow:
                    span.set_attribute(WATCHKIT_DB_SLOW, True)
                if error is not None:
                    span.record_exception(error, escaped=True)
                    span.set_attribute(ERROR_TYPE, kind)
                    span.set_status(Status(StatusCode.ERROR, kind))
                span.end()
            if slow:
                _slow_query(target, info, duration, span)
            parent = self.parent
            if parent is not None:
                _count_shape(parent, target, info, duration)
        except Exception:
            report("database operation record")


def begin(target: Target, sql: Any, batch: int | None = None) -> Operation | None:
    """Start recording one operation on ``target``; None if it cannot be recorded.

    ``sql`` is the statement as passed to the driver (``str``, ``bytes`` or an
    object whose ``str()`` is SQL); ``batch`` is the number of parameter sets of
    an ``executemany``.
    """
    try:
        # One context read for everything below; the SDK is handed it too, so
        # start_span and its sampler do not read it twice more.
        context = _get_current()
        if context.get(OWN_CALL_KEY):
            return None  # a health probe's SELECT 1 is not the application's traffic
        if not isinstance(sql, str):
            sql = sql.decode("utf-8", "replace") if isinstance(sql, bytes) else str(sql)
        shape = target.shape_of(sql)
        span: trace.Span | None = None
        parent: trace.Span | None = None
        tracer = TRACER.get()
        if tracer is not None:
            current: trace.Span | None = context.get(_SPAN_KEY)  # type: ignore[assignment]
            if current is not None and current.is_recording():
                parent = current
            attributes = shape.span_attributes  # the SDK copies it
            if batch is not None:
                attributes = {**attributes, DB_OPERATION_BATCH_SIZE: batch}
            span = tracer.start_span(shape.name, context, kind=_CLIENT, attributes=attributes)
        operation = Operation(target, shape.info, batch, shape.series, span, parent, context)
        if target.suppress_contrib:
            operation.token = otel_context.attach(suppressing_context())
        operation.start = time.perf_counter()
        return operation
    except Exception:
        report("database operation start")
        return None


# --------------------------------------------------------------- slow queries

_slow_lock = threading.Lock()
_slow_window_start = 0.0
_slow_logged = 0
_slow_suppressed = 0


def _after_fork() -> None:
    global _slow_lock, _slow_logged, _slow_suppressed
    _slow_lock = threading.Lock()
    _slow_logged = _slow_suppressed = 0


fork.at_fork(fork.LOCKS, "db.slow_query_lock", _after_fork)


def caller_location() -> tuple[str, int, str] | None:
    """File, line and function of the innermost frame outside the database machinery."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(_MACHINERY):
            code = frame.f_code
            # co_qualname is new in Python 3.11.
            return code.co_filename, frame.f_lineno, getattr(code, "co_qualname", code.co_name)
        frame = frame.f_back
    return None


def _slow_query(target: Target, info: QueryInfo, duration: float, span: trace.Span | None) -> None:
    global _slow_window_start, _slow_logged, _slow_suppressed
    now = time.monotonic()
    with _slow_lock:
        if now - _slow_window_start >= SLOW_LOG_WINDOW:
            _slow_window_start, _slow_logged = now, 0
        if _slow_logged >= SLOW_LOG_LIMIT:
            _slow_suppressed += 1
            return
        _slow_logged += 1
        suppressed, _slow_suppressed = _slow_suppressed, 0
    fields: dict[str, Any] = {
        DB_SYSTEM_NAME: target.system,
        DB_QUERY_TEXT: info.text,
        "duration_ms": round(duration * 1000, 3),
        "threshold_ms": round(target.slow_query_threshold * 1000, 3),
    }
    if info.summary:
        fields[DB_QUERY_SUMMARY] = info.summary
    location = caller_location()
    if location is not None:
        fields[CODE_FILE_PATH], fields[CODE_LINE_NUMBER], fields[CODE_FUNCTION_NAME] = location
    if suppressed:
        fields["suppressed_since_last"] = suppressed
    # The trace id comes from the active context; the query span is not current,
    # so name it explicitly too.
    if span is not None:
        context = span.get_span_context()
        if context.is_valid:
            fields["db_span_id"] = format(context.span_id, "016x")
    _log.warning(WATCHKIT_DB_SLOW_QUERY_EVENT, **fields)


# ------------------------------------------------------------------------ N+1


class _Shapes:
    __slots__ = ("__weakref__", "lock", "shapes")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.shapes: dict[str, list[Any]] = {}


_by_span: weakref.WeakKeyDictionary[trace.Span, _Shapes] = weakref.WeakKeyDictionary()
_by_span_lock = threading.Lock()


def _after_fork_shapes() -> None:
    global _by_span_lock
    _by_span_lock = threading.Lock()
    _by_span.clear()


fork.at_fork(fork.LOCKS, "db.n_plus_one_lock", _after_fork_shapes)


def _count_shape(parent: trace.Span, target: Target, info: QueryInfo, duration: float) -> None:
    shapes = _by_span.get(parent)
    if shapes is None:
        with _by_span_lock:
            shapes = _by_span.setdefault(parent, _Shapes())
    with shapes.lock:
        entry = shapes.shapes.get(info.text)
        if entry is None:
            if len(shapes.shapes) >= _MAX_SHAPES_PER_SPAN:
                return
            entry = shapes.shapes[info.text] = [0, 0.0, False]
        entry[0] += 1
        entry[1] += duration
        if entry[2] or entry[0] < target.n_plus_one_count:
            return
        if entry[1] <= target.n_plus_one_duration:
            return
        entry[2] = True
        count, total = entry[0], entry[1]
    attributes: dict[str, Any] = {
        DB_SYSTEM_NAME: target.system,
        DB_QUERY_TEXT: info.text,
        WATCHKIT_DB_QUERY_COUNT: count,
        WATCHKIT_DB_QUERY_DURATION_TOTAL: round(total, 6),
    }
    if info.summary:
        attributes[DB_QUERY_SUMMARY] = info.summary
    parent.add_event(WATCHKIT_DB_N_PLUS_ONE_EVENT, attributes)
    fields: dict[str, Any] = {
        DB_QUERY_TEXT: info.text,
        "count": count,
        "duration_ms": round(total * 1000, 3),
    }
    location = caller_location()
    if location is not None:
        fields[CODE_FILE_PATH], fields[CODE_LINE_NUMBER], fields[CODE_FUNCTION_NAME] = location
    _log.warning(WATCHKIT_DB_N_PLUS_ONE_EVENT, **fields)


def warn_once(key: str, message: str) -> None:
    """Log ``message`` at WARNING once per process for ``key``."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    internal_logger.warning(message)


_warned: set[str] = set()
_warned_lock = threading.Lock()
