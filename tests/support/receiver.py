"""An in-process OTLP/HTTP receiver that records what a collector forwards.

The receiver plays the role of the telemetry *backend* in end-to-end tests:
the code under test exports to a real collector (see :mod:`tests.support.rotel`),
the collector exports to this receiver, and the test inspects what arrived.
Only the receiver proves delivery: an SDK's ``force_flush()`` may report
success even though the export failed.

Payloads are decoded with the official ``opentelemetry-proto`` messages, so
anything the receiver accepts is valid OTLP. Query helpers flatten the nested
``resource -> scope -> item`` structure into small immutable records
(:class:`ReceivedSpan`, :class:`ReceivedMetricPoint`, :class:`ReceivedLog`)
that are convenient to assert on.

Example:
    >>> with OtlpReceiver() as receiver:  # doctest: +SKIP
    ...     # point an exporter/collector at receiver.endpoint, emit telemetry
    ...     span = receiver.wait_for_span("checkout")
    ...     assert span.resource_attributes["service.name"] == "shop"
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Literal, TypeAlias, TypeVar, cast

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.metrics.v1.metrics_pb2 import (
        ExponentialHistogramDataPoint,
        HistogramDataPoint,
        Metric,
        NumberDataPoint,
        SummaryDataPoint,
    )

__all__ = [
    "AttributeValue",
    "Attributes",
    "OtlpReceiver",
    "ReceivedLog",
    "ReceivedMetricPoint",
    "ReceivedSpan",
    "ReceivedSpanEvent",
    "RequestRecord",
    "Signal",
]

# A decoded OTLP ``AnyValue``: scalars, bytes, nested arrays and key/value
# lists. ``None`` stands for an AnyValue with no field set ("empty").
AttributeValue: TypeAlias = (
    str | bool | int | float | bytes | list["AttributeValue"] | dict[str, "AttributeValue"] | None
)
Attributes: TypeAlias = dict[str, AttributeValue]
Signal: TypeAlias = Literal["traces", "metrics", "logs"]

_T = TypeVar("_T")

# The OTLP/HTTP default paths, which is also what rotel's otlp exporter uses.
_ROUTES: dict[str, Signal] = {
    "/v1/traces": "traces",
    "/v1/metrics": "metrics",
    "/v1/logs": "logs",
}
_REQUEST_TYPES: dict[Signal, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
# The success responses are empty messages; serialising them (rather than
# hard-coding b"") keeps the receiver honest should partial_success ever be set.
_RESPONSE_TYPES: dict[Signal, type[Message]] = {
    "traces": ExportTraceServiceResponse,
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
}
_PROTOBUF = "application/x-protobuf"
_OK = HTTPStatus.OK
# Older opentelemetry-proto releases predate LogRecord.event_name (field 12).
_HAS_EVENT_NAME = "event_name" in LogRecord.DESCRIPTOR.fields_by_name


@dataclass(frozen=True)
class ReceivedSpanEvent:
    """One event recorded on a span.

    Attributes:
        name: The event name.
        attributes: The event attributes, decoded to Python values.
    """

    name: str
    attributes: Attributes


@dataclass(frozen=True)
class ReceivedSpan:
    """A span as it arrived at the receiver, flattened with its resource and scope.

    Attributes:
        name: The span name.
        trace_id: 32 lowercase hex characters.
        span_id: 16 lowercase hex characters.
        parent_span_id: 16 hex characters, or ``""`` for a root span.
        kind: ``"internal"``, ``"server"``, ``"client"``, ``"producer"``,
            ``"consumer"`` or ``"unspecified"``. Strings rather than numbers
            because the proto enum is offset by one from the Python API's
            ``SpanKind`` (proto reserves 0 for UNSPECIFIED).
        status_code: ``"unset"``, ``"ok"`` or ``"error"``.
        status_message: The status description (usually empty).
        attributes: Span attributes decoded to Python values.
        events: Span events in recorded order.
        resource_attributes: Attributes of the enclosing resource.
        scope_name: Name of the instrumentation scope (tracer name).
        start_time_unix_nano: Start timestamp.
        end_time_unix_nano: End timestamp.
    """

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: str
    status_code: str
    status_message: str
    attributes: Attributes
    events: tuple[ReceivedSpanEvent, ...]
    resource_attributes: Attributes
    scope_name: str
    start_time_unix_nano: int
    end_time_unix_nano: int


@dataclass(frozen=True)
class ReceivedMetricPoint:
    """One data point of a metric, flattened with its metric, resource and scope.

    Which value fields are populated depends on ``kind``:

    * ``"sum"`` / ``"gauge"``: ``value`` (int or float, as sent).
    * ``"histogram"``: ``count``, ``sum``, ``bucket_counts``,
      ``explicit_bounds``, ``min``, ``max``.
    * ``"exponential_histogram"`` / ``"summary"``: ``count``, ``sum`` (and
      ``min``/``max`` for exponential histograms); buckets and quantiles are
      available through :meth:`OtlpReceiver.requests` if a test needs them.

    Attributes:
        name: The metric (instrument) name.
        description: The metric description.
        unit: The metric unit.
        kind: ``"sum"``, ``"gauge"``, ``"histogram"``,
            ``"exponential_histogram"`` or ``"summary"``.
        attributes: Data point attributes decoded to Python values.
        value: The number of a sum or gauge point (an ``int`` for integer
            points, a ``float`` otherwise), else ``None``.
        count: Population count of histogram-like points, else ``None``.
        sum: Sum of histogram-like points when present, else ``None``.
        bucket_counts: Explicit-bucket histogram counts (empty otherwise).
        explicit_bounds: Explicit-bucket histogram boundaries (empty otherwise).
        min: Minimum recorded value, if sent.
        max: Maximum recorded value, if sent.
        is_monotonic: For sums, whether the sum is monotonic; else ``None``.
        temporality: ``"cumulative"``, ``"delta"`` or ``"unspecified"`` for
            sums and histograms; ``None`` for gauges and summaries.
        resource_attributes: Attributes of the enclosing resource.
        scope_name: Name of the instrumentation scope (meter name).
        start_time_unix_nano: Start of the aggregation interval.
        time_unix_nano: Collection timestamp.
    """

    name: str
    description: str
    unit: str
    kind: str
    attributes: Attributes
    resource_attributes: Attributes
    scope_name: str
    start_time_unix_nano: int
    time_unix_nano: int
    value: float | None = None
    count: int | None = None
    sum: float | None = None
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()
    min: float | None = None
    max: float | None = None
    is_monotonic: bool | None = None
    temporality: str | None = None


@dataclass(frozen=True)
class ReceivedLog:
    """A log record, flattened with its resource and scope.

    Attributes:
        body: The body decoded to a Python value (``None`` if unset).
        severity_text: The severity text as sent (e.g. ``"WARN"``).
        severity_number: The OTLP severity number (e.g. 13 for WARN).
        attributes: Record attributes decoded to Python values.
        trace_id: 32 hex characters, or ``""`` outside a span context.
        span_id: 16 hex characters, or ``""`` outside a span context.
        event_name: The ``event_name`` field, ``""`` when unset or when the
            installed opentelemetry-proto predates the field.
        resource_attributes: Attributes of the enclosing resource.
        scope_name: Name of the instrumentation scope (logger name).
        time_unix_nano: Event timestamp (0 if the producer left it unset).
        observed_time_unix_nano: When the record was observed.
    """

    body: AttributeValue
    severity_text: str
    severity_number: int
    attributes: Attributes
    trace_id: str
    span_id: str
    event_name: str
    resource_attributes: Attributes
    scope_name: str
    time_unix_nano: int
    observed_time_unix_nano: int


@dataclass(frozen=True)
class RequestRecord:
    """Bookkeeping about one HTTP request, accepted or not.

    Attributes:
        path: The request path.
        signal: The signal the path maps to, ``None`` for unknown paths.
        status: The HTTP status the receiver answered with.
        content_encoding: The request's ``Content-Encoding`` (``""`` if none).
        content_type: The request's ``Content-Type``.
        size: Size of the body on the wire, in bytes.
        user_agent: The request's ``User-Agent``.
    """

    path: str
    signal: Signal | None
    status: int
    content_encoding: str
    content_type: str
    size: int
    user_agent: str


@dataclass
class _Store:
    """Mutable state shared between handler threads; guarded by ``cond``."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    requests: dict[Signal, list[Message]] = field(
        default_factory=lambda: {"traces": [], "metrics": [], "logs": []}
    )
    log: list[RequestRecord] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    """HTTP server that can close its keep-alive connections on shutdown."""

    # Non-daemon handler threads are joined by server_close(), so stop() never
    # leaves a thread (or its socket) behind for the next test to trip over.
    daemon_threads = False
    block_on_close = True
    # Lets a stopped receiver be restarted on the same port even while
    # connections from the previous incarnation linger in TIME_WAIT.
    allow_reuse_address = True

    def __init__(self, port: int, receiver: OtlpReceiver) -> None:
        self.receiver = receiver
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake up handler threads blocked reading idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # shutdown() rather than close(): the handler thread still owns the
            # socket and closes it itself. OSError means it is already gone.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Decodes OTLP/HTTP protobuf exports and hands them to the receiver."""

    server: _Server
    # HTTP/1.1 keep-alive mirrors how real exporters (hyper, urllib3) talk.
    protocol_version = "HTTP/1.1"
    # Bounds how long an idle keep-alive connection pins a handler thread.
    timeout = 5.0

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        self.server.untrack(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Silences per-request logging; :attr:`OtlpReceiver.request_log` has it."""

    def do_POST(self) -> None:
        """Handles one export request."""
        path = self.path.split("?", 1)[0]
        signal = _ROUTES.get(path)
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        content_type = self.headers.get("Content-Type") or ""
        raw = self._read_body()
        receiver = self.server.receiver

        status = int(_OK)
        message: Message | None = None
        if signal is None:
            status = HTTPStatus.NOT_FOUND
        elif receiver.status != _OK:
            # Simulated backend failure: refuse before decoding, like a
            # backend that is overloaded or down behind a load balancer.
            status = receiver.status
        elif content_type and content_type.split(";")[0].strip() != _PROTOBUF:
            # OTLP/JSON is deliberately unsupported: rotel always sends protobuf.
            status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
        else:
            try:
                message = _REQUEST_TYPES[signal].FromString(_decompress(raw, encoding))
            except (DecodeError, OSError, EOFError, ValueError, zlib.error):
                status = HTTPStatus.BAD_REQUEST

        receiver._record(  # Friend access: the handler feeds its receiver.
            RequestRecord(
                path=path,
                signal=signal,
                status=int(status),
                content_encoding=encoding,
                content_type=content_type,
                size=len(raw),
                user_agent=self.headers.get("User-Agent") or "",
            ),
            signal,
            message,
        )

        # Error bodies are google.rpc.Status per the OTLP spec; an empty body is
        # a valid all-default Status, which spares a googleapis dependency.
        body = b""
        if signal is not None and status == _OK:
            body = _RESPONSE_TYPES[signal]().SerializeToString()
        self.send_response(status)
        self.send_header("Content-Type", _PROTOBUF)
        self.send_header("Content-Length", str(len(body)))
        throttled = status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE)
        if throttled and receiver.retry_after is not None:
            self.send_header("Retry-After", str(receiver.retry_after))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        """Reads a Content-Length or chunked request body."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Consume optional trailers up to the terminating blank line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk.
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


def _decompress(raw: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity", "none"):
        return raw
    if encoding in ("gzip", "x-gzip"):
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    msg = f"unsupported Content-Encoding {encoding!r}"
    raise ValueError(msg)


def _any_value(value: AnyValue) -> AttributeValue:
    """Converts an OTLP AnyValue to the equivalent Python value."""
    match value.WhichOneof("value"):
        case "array_value":
            return [_any_value(item) for item in value.array_value.values]
        case "kvlist_value":
            return _attributes(value.kvlist_value.values)
        case None:
            return None
        case scalar:  # string_value, bool_value, int_value, double_value, bytes_value
            return cast("AttributeValue", getattr(value, scalar))


def _attributes(pairs: Iterable[KeyValue]) -> Attributes:
    return {pair.key: _any_value(pair.value) for pair in pairs}


def _hex_id(raw: bytes) -> str:
    # OTLP allows an absent id to be empty *or* all zeros; normalise both to "".
    return raw.hex() if raw.strip(b"\x00") else ""


def _enum_suffix(full_name: str, prefix: str) -> str:
    return full_name.removeprefix(prefix).lower()


class OtlpReceiver:
    """A threaded OTLP/HTTP (protobuf) receiver on ``127.0.0.1``.

    It accepts ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs`` with an
    optional ``gzip``/``deflate`` ``Content-Encoding``, stores the decoded
    ``Export*ServiceRequest`` messages and answers with the matching empty
    ``Export*ServiceResponse``. OTLP/JSON is answered with 415.

    The port is chosen by the OS on the first :meth:`start` and kept for
    later restarts, so a collector configured with :attr:`endpoint` keeps
    working across ``stop()``/``start()`` cycles.

    Set :attr:`status` to a non-200 code to make the receiver refuse every
    export without storing it, simulating a backend outage; refused requests
    still show up in :attr:`request_log`. rotel retries 429 and 5xx answers
    (so 503 models a temporary outage) but drops a batch answered with 400.

    Thread-safety: handler threads append under a lock; all query methods
    return snapshots and may be called from any thread.
    """

    def __init__(self) -> None:
        """Creates a stopped receiver; call :meth:`start` or use ``with``."""
        self.status: int = 200
        """HTTP status to answer exports with; anything but 200 refuses them."""
        self.retry_after: int | None = None
        """Seconds for a ``Retry-After`` header on 429/503 answers, if set."""
        self._store = _Store()
        self._port: int = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> OtlpReceiver:
        """Starts serving (idempotent), reusing the previous port if any.

        Returns:
            The receiver itself, for chaining.

        Raises:
            OSError: If a restart cannot re-bind the previous port.
        """
        if self._server is not None:
            return self
        server = _Server(self._port, self)
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},  # Bounds how long stop() waits.
            name=f"OtlpReceiver:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and joins all threads (idempotent). Stored data is kept."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        server.shutdown()  # Ends serve_forever(); no new connections accepted.
        server.close_connections()
        server.server_close()  # Closes the listener and joins handler threads.
        if thread is not None:
            thread.join()

    @property
    def running(self) -> bool:
        """Whether the receiver currently accepts connections."""
        return self._server is not None

    def __enter__(self) -> OtlpReceiver:
        """Starts the receiver."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stops the receiver."""
        self.stop()

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        """The TCP port; only meaningful once started."""
        if not self._port:
            msg = "OtlpReceiver has not been started"
            raise RuntimeError(msg)
        return self._port

    @property
    def endpoint(self) -> str:
        """Base URL without a signal path, e.g. ``http://127.0.0.1:40123``."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, signal: Signal) -> str:
        """Full URL for one signal, e.g. ``http://127.0.0.1:40123/v1/traces``."""
        return f"{self.endpoint}/v1/{signal}"

    # ------------------------------------------------------------------ storage

    def _record(
        self, record: RequestRecord, signal: Signal | None, message: Message | None
    ) -> None:
        with self._store.cond:
            self._store.log.append(record)
            if signal is not None and message is not None:
                self._store.requests[signal].append(message)
            self._store.cond.notify_all()

    def clear(self) -> None:
        """Forgets everything received so far, including the request log."""
        with self._store.cond:
            for requests in self._store.requests.values():
                requests.clear()
            self._store.log.clear()

    @property
    def request_log(self) -> list[RequestRecord]:
        """Every HTTP request seen (accepted or refused), oldest first."""
        with self._store.cond:
            return list(self._store.log)

    def requests(self, signal: Signal) -> list[Message]:
        """The raw decoded ``Export*ServiceRequest`` messages for a signal.

        Args:
            signal: ``"traces"``, ``"metrics"`` or ``"logs"``.

        Returns:
            A snapshot list; cast the items to the concrete request type.
        """
        with self._store.cond:
            return list(self._store.requests[signal])

    def trace_requests(self) -> list[ExportTraceServiceRequest]:
        """Decoded trace export requests, oldest first."""
        return [m for m in self.requests("traces") if isinstance(m, ExportTraceServiceRequest)]

    def metric_requests(self) -> list[ExportMetricsServiceRequest]:
        """Decoded metric export requests, oldest first."""
        return [m for m in self.requests("metrics") if isinstance(m, ExportMetricsServiceRequest)]

    def log_requests(self) -> list[ExportLogsServiceRequest]:
        """Decoded log export requests, oldest first."""
        return [m for m in self.requests("logs") if isinstance(m, ExportLogsServiceRequest)]

    # ------------------------------------------------------------------ queries

    def spans(self, name: str | None = None) -> list[ReceivedSpan]:
        """All received spans in arrival order.

        Args:
            name: If given, only spans with exactly this name.
        """
        result: list[ReceivedSpan] = []
        for request in self.trace_requests():
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        if name is not None and span.name != name:
                            continue
                        result.append(
                            ReceivedSpan(
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=_hex_id(span.parent_span_id),
                                kind=_enum_suffix(Span.SpanKind.Name(span.kind), "SPAN_KIND_"),
                                status_code=_enum_suffix(
                                    Status.StatusCode.Name(span.status.code), "STATUS_CODE_"
                                ),
                                status_message=span.status.message,
                                attributes=_attributes(span.attributes),
                                events=tuple(
                                    ReceivedSpanEvent(event.name, _attributes(event.attributes))
                                    for event in span.events
                                ),
                                resource_attributes=resource,
                                scope_name=scope_spans.scope.name,
                                start_time_unix_nano=span.start_time_unix_nano,
                                end_time_unix_nano=span.end_time_unix_nano,
                            )
                        )
        return result

    def metrics(self, name: str | None = None) -> list[ReceivedMetricPoint]:
        """All received metric data points in arrival order.

        Note that the SDK re-exports cumulative points on every collection, so
        the same series can appear several times; usually the last matching
        point is the interesting one.

        Args:
            name: If given, only points of the metric with exactly this name.
        """
        result: list[ReceivedMetricPoint] = []
        for request in self.metric_requests():
            for resource_metrics in request.resource_metrics:
                resource = _attributes(resource_metrics.resource.attributes)
                for scope_metrics in resource_metrics.scope_metrics:
                    scope = scope_metrics.scope.name
                    for metric in scope_metrics.metrics:
                        if name is None or metric.name == name:
                            result.extend(_metric_points(metric, resource, scope))
        return result

    def logs(self, body: AttributeValue = None) -> list[ReceivedLog]:
        """All received log records in arrival order.

        Args:
            body: If given, only records whose decoded body equals it.
        """
        result: list[ReceivedLog] = []
        for request in self.log_requests():
            for resource_logs in request.resource_logs:
                resource = _attributes(resource_logs.resource.attributes)
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        decoded = _any_value(record.body) if record.HasField("body") else None
                        if body is not None and decoded != body:
                            continue
                        result.append(
                            ReceivedLog(
                                body=decoded,
                                severity_text=record.severity_text,
                                severity_number=int(record.severity_number),
                                attributes=_attributes(record.attributes),
                                trace_id=_hex_id(record.trace_id),
                                span_id=_hex_id(record.span_id),
                                event_name=record.event_name if _HAS_EVENT_NAME else "",
                                resource_attributes=resource,
                                scope_name=scope_logs.scope.name,
                                time_unix_nano=record.time_unix_nano,
                                observed_time_unix_nano=record.observed_time_unix_nano,
                            )
                        )
        return result

    # ------------------------------------------------------------------ waiting

    def wait_for(
        self,
        predicate: Callable[[OtlpReceiver], _T],
        timeout: float = 10.0,
        interval: float = 0.02,
    ) -> _T:
        """Polls until ``predicate(self)`` is truthy and returns that value.

        Telemetry reaches the receiver asynchronously (SDK batch processor,
        then collector batching), so tests must wait with a deadline instead
        of asserting right after a flush. The predicate is re-evaluated on
        every arrival and at least every ``interval`` seconds. Exceptions it
        raises propagate, so write predicates that cope with missing data,
        e.g. ``lambda r: r.spans("work")`` rather than ``r.spans()[0]``.

        Args:
            predicate: Called with this receiver; its truthy result is returned.
            timeout: Seconds to wait before giving up.
            interval: Maximum seconds between evaluations.

        Returns:
            The first truthy value returned by ``predicate``.

        Raises:
            AssertionError: On timeout, with a summary of what did arrive.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self)
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                msg = f"condition not met within {timeout:.1f}s; receiver state:\n{self.summary()}"
                raise AssertionError(msg)
            with self._store.cond:
                self._store.cond.wait(min(interval, remaining))

    def wait_for_span(self, name: str, timeout: float = 10.0) -> ReceivedSpan:
        """Waits for a span with the given name and returns the first one."""
        return self.wait_for(lambda r: r.spans(name), timeout)[0]

    def wait_for_metric(self, name: str, timeout: float = 10.0) -> ReceivedMetricPoint:
        """Waits for a data point of the named metric and returns the latest one."""
        return self.wait_for(lambda r: r.metrics(name), timeout)[-1]

    def wait_for_log(self, body: AttributeValue, timeout: float = 10.0) -> ReceivedLog:
        """Waits for a log record with the given body and returns the first one."""
        return self.wait_for(lambda r: r.logs(body), timeout)[0]

    def summary(self, limit: int = 20) -> str:
        """A human-readable digest of what arrived, for assertion messages.

        Args:
            limit: Maximum number of names/bodies/requests listed per section.
        """
        spans = self.spans()
        points = self.metrics()
        logs = self.logs()
        requests = self.request_log
        statuses: dict[int, int] = {}
        for request in requests:
            statuses[request.status] = statuses.get(request.status, 0) + 1
        endpoint = self.endpoint if self._port else "(never started)"
        point_names = (f"{p.name}[{p.kind}]" for p in points)
        lines = [
            f"  endpoint: {endpoint} running={self.running} status={self.status}",
            f"  http requests: {len(requests)} by status {statuses}",
            f"  spans ({len(spans)}): {_head((s.name for s in spans), limit)}",
            f"  metric points ({len(points)}): {_head(point_names, limit)}",
            f"  log records ({len(logs)}): {_head((repr(r.body) for r in logs), limit)}",
        ]
        resources: list[Attributes] = [
            *(s.resource_attributes for s in spans),
            *(p.resource_attributes for p in points),
            *(r.resource_attributes for r in logs),
        ]
        if resources:
            services = sorted({str(attrs.get("service.name")) for attrs in resources})
            lines.append(f"  service.name values: {services}")
        lines.extend(
            f"    {request.status} POST {request.path} ({request.size} B,"
            f" encoding={request.content_encoding or 'none'}, ua={request.user_agent!r})"
            for request in requests[-limit:]
        )
        return "\n".join(lines)


def _head(items: Iterable[str], limit: int) -> str:
    values = list(items)
    shown = ", ".join(values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def _metric_points(metric: Metric, resource: Attributes, scope: str) -> list[ReceivedMetricPoint]:
    """Flattens one ``Metric`` proto into :class:`ReceivedMetricPoint` records."""
    kind = metric.WhichOneof("data") or ""
    template = ReceivedMetricPoint(
        name=metric.name,
        description=metric.description,
        unit=metric.unit,
        kind=kind,
        attributes={},
        resource_attributes=resource,
        scope_name=scope,
        start_time_unix_nano=0,
        time_unix_nano=0,
    )

    def at(
        dp: NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint | SummaryDataPoint,
    ) -> ReceivedMetricPoint:
        return replace(
            template,
            attributes=_attributes(dp.attributes),
            start_time_unix_nano=dp.start_time_unix_nano,
            time_unix_nano=dp.time_unix_nano,
        )

    def temporality(value: int) -> str:
        name = AggregationTemporality.Name(cast("AggregationTemporality.ValueType", value))
        return _enum_suffix(name, "AGGREGATION_TEMPORALITY_")

    if kind == "gauge":
        return [
            replace(at(dp), value=dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double)
            for dp in metric.gauge.data_points
        ]
    if kind == "sum":
        return [
            replace(
                at(dp),
                value=dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double,
                is_monotonic=metric.sum.is_monotonic,
                temporality=temporality(metric.sum.aggregation_temporality),
            )
            for dp in metric.sum.data_points
        ]
    if kind == "histogram":
        return [
            replace(
                at(hp),
                count=hp.count,
                sum=hp.sum if hp.HasField("sum") else None,
                bucket_counts=tuple(hp.bucket_counts),
                explicit_bounds=tuple(hp.explicit_bounds),
                min=hp.min if hp.HasField("min") else None,
                max=hp.max if hp.HasField("max") else None,
                temporality=temporality(metric.histogram.aggregation_temporality),
            )
            for hp in metric.histogram.data_points
        ]
    if kind == "exponential_histogram":
        return [
            replace(
                at(ep),
                count=ep.count,
                sum=ep.sum if ep.HasField("sum") else None,
                min=ep.min if ep.HasField("min") else None,
                max=ep.max if ep.HasField("max") else None,
                temporality=temporality(metric.exponential_histogram.aggregation_temporality),
            )
            for ep in metric.exponential_histogram.data_points
        ]
    if kind == "summary":
        return [replace(at(sp), count=sp.count, sum=sp.sum) for sp in metric.summary.data_points]
    return []
