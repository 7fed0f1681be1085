"""Queue telemetry: one trace from producer to consumer, and the metrics of a queue.

Producer (:func:`send` as a context manager, :func:`producer` as a decorator,
sync and ``async``): a PRODUCER span ``send {destination}``, then the W3C trace
context, the baggage and the enqueue time (``watchkit-enqueued-at``, Unix
seconds) written into the headers mapping the caller passes, and one
``messaging.client.sent.messages`` when the block (or call) ends.

Consumer (:func:`process`, :func:`consumer`): the context is extracted from
the headers and the CONSUMER span ``process {destination}`` is its **child,
with a link** to it as well. The messaging conventions ask for the link (the
creation context of each message processed); parenting is what makes the web
request and the job it enqueued one trace, which is what a single message
handled once needs. ``continue_trace=False`` keeps the link only (a new trace):
use it for fan-out (one message, many consumers) or messages that wait hours,
where one trace would span them all. Baggage is current in both cases.

Metrics (names in :mod:`watchkit._internal.semconv`): ``messaging.process.duration``
(s), ``messaging.client.consumed.messages``, ``watchkit.queue.wait.duration``
(s, from the enqueue header, buckets to 30 minutes) and ``watchkit.queue.jobs``
by ``job.outcome`` (``success``, ``failure``, ``retry``, ``dead_lettered``;
Celery adds ``revoked``). ``watchkit.queue.depth`` is an observable gauge fed
by :func:`depth` callbacks. Message ids never become metric attributes.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from types import TracebackType
from typing import Any, Final, TypeVar

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import AttributeValue

from watchkit._internal import semconv
from watchkit._internal.errors import exception_type, safe_str
from watchkit._internal.guard import internal_logger, report
from watchkit._internal.scopes import SyncScope
from watchkit._internal.suppression import own_calls
from watchkit._internal.wrapping import instrument, unwrap_descriptor
from watchkit._metrics import Counter, Histogram, ObservableGauge, attributes_key, record
from watchkit._tracing import TRACER, error_type, record_error

__all__ = [
    "OUTCOMES",
    "Depth",
    "ProcessScope",
    "SendScope",
    "consumer",
    "current",
    "depth",
    "enqueued_at",
    "extract",
    "inject",
    "process",
    "producer",
    "record_job",
    "record_sent",
    "record_wait",
    "send",
]

F = TypeVar("F", bound=Callable[..., Any])

OUTCOMES: Final = frozenset(
    {
        semconv.JOB_OUTCOME_SUCCESS,
        semconv.JOB_OUTCOME_FAILURE,
        semconv.JOB_OUTCOME_RETRY,
        semconv.JOB_OUTCOME_REVOKED,
        semconv.JOB_OUTCOME_DEAD_LETTERED,
    }
)

_SENT = Counter(
    semconv.MESSAGING_CLIENT_SENT_MESSAGES, semconv.UNIT_MESSAGES,
    "Messages a producer sent.",
)  # fmt: skip
_CONSUMED = Counter(
    semconv.MESSAGING_CLIENT_CONSUMED_MESSAGES, semconv.UNIT_MESSAGES,
    "Messages delivered to a consumer.",
)  # fmt: skip
_PROCESS = Histogram(
    semconv.MESSAGING_PROCESS_DURATION, semconv.UNIT_SECONDS,
    "Duration of processing one message (a job's run time).",
    semconv.MESSAGING_PROCESS_DURATION_BUCKETS,
)  # fmt: skip
_WAIT = Histogram(
    semconv.WATCHKIT_QUEUE_WAIT_DURATION, semconv.UNIT_SECONDS,
    "Time a message waited in the queue, from enqueue to the start of processing.",
    semconv.QUEUE_WAIT_BUCKETS,
)  # fmt: skip
_JOBS = Counter(
    semconv.WATCHKIT_QUEUE_JOBS, semconv.UNIT_JOBS,
    "Finished deliveries of queued messages, by outcome.",
)  # fmt: skip

_series: dict[tuple[Any, ...], tuple[dict[str, AttributeValue], Any]] = {}
_SERIES_CACHE_LIMIT: Final = 4096  # the cardinality guard bounds the metric anyway


def _attributes(
    system: str,
    destination: str,
    operation: str | None = None,
    job: str | None = None,
    outcome: str | None = None,
    error: str | None = None,
) -> tuple[dict[str, AttributeValue], Any]:
    key = (system, destination, operation, job, outcome, error)
    found = _series.get(key)
    if found is None:
        attributes: dict[str, AttributeValue] = {
            semconv.MESSAGING_SYSTEM: system,
            semconv.MESSAGING_DESTINATION_NAME: destination,
        }
        if operation is not None:
            attributes[semconv.MESSAGING_OPERATION_NAME] = operation
        if job is not None:
            attributes[semconv.JOB_NAME] = job
        if outcome is not None:
            attributes[semconv.JOB_OUTCOME] = outcome
        if error is not None:
            attributes[semconv.ERROR_TYPE] = error
        found = (attributes, attributes_key(attributes))
        if len(_series) < _SERIES_CACHE_LIMIT:
            _series[key] = found
    return found


_zeroed: set[tuple[str, str, str | None]] = set()


def _start_at_zero(system: str, destination: str, job: str | None) -> None:
    # The failure ratio and the queue SLO read increase()/rate() of the failure
    # series, which misses its first sample: from a job's first outcome on,
    # its success and failure series exist at 0, so its first failure counts.
    found = (system, destination, job)
    if found in _zeroed or len(_zeroed) >= _SERIES_CACHE_LIMIT:
        return
    _zeroed.add(found)
    _JOBS.start_at_zero(
        *(
            _attributes(system, destination, job=job, outcome=outcome)[0]
            for outcome in (semconv.JOB_OUTCOME_SUCCESS, semconv.JOB_OUTCOME_FAILURE)
        )
    )


# Recording, shared by the helpers below and the Celery integration ----------------
def record_sent(system: str, destination: str, error: str | None = None) -> None:
    """One ``messaging.client.sent.messages`` (``error``: the failed send's ``error.type``)."""
    try:
        attributes, key = _attributes(
            system, destination, semconv.MESSAGING_OPERATION_SEND, error=error
        )
        record(_SENT, 1, attributes, key)
    except Exception:
        report("queue record_sent")


def record_wait(system: str, destination: str, job: str | None, seconds: float) -> None:
    """One ``watchkit.queue.wait.duration`` point (negative clock skew counts as 0)."""
    try:
        attributes, key = _attributes(system, destination, job=job)
        record(_WAIT, max(0.0, seconds), attributes, key)
    except Exception:
        report("queue record_wait")


def record_job(
    system: str,
    destination: str,
    job: str | None,
    outcome: str,
    duration: float | None,
    error: str | None = None,
) -> None:
    """One finished delivery: ``watchkit.queue.jobs`` and (if it ran) its process duration."""
    try:
        _start_at_zero(system, destination, job)
        attributes, key = _attributes(system, destination, job=job, outcome=outcome)
        record(_JOBS, 1, attributes, key)
        if duration is not None:
            attributes, key = _attributes(
                system, destination, semconv.MESSAGING_OPERATION_PROCESS, job, error=error
            )
            record(_PROCESS, duration, attributes, key)
    except Exception:
        report("queue record_job")


def _record_consumed(system: str, destination: str) -> None:
    attributes, key = _attributes(system, destination, semconv.MESSAGING_OPERATION_PROCESS)
    record(_CONSUMED, 1, attributes, key)


# Propagation ------------------------------------------------------------------------
class _HeaderGetter(Getter[Any]):
    """Reads str or bytes header values from a mapping (Kafka and AMQP send bytes)."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        try:
            value = carrier.get(key)
        except Exception:
            return None
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            return [bytes(value).decode("latin-1")]
        if isinstance(value, (list, tuple)):
            return [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in value]
        return [str(value)]

    def keys(self, carrier: Any) -> list[str]:
        try:
            return [str(k) for k in carrier]
        except Exception:
            return []


_GETTER: Final = _HeaderGetter()


def inject(headers: MutableMapping[str, Any], context: Context | None = None) -> None:
    """Write the current (or ``context``'s) trace context, baggage and the enqueue time.

    Example:
        >>> import watchkit.queue
        >>> headers = {}
        >>> watchkit.queue.inject(headers)
        >>> "watchkit-enqueued-at" in headers
        True
    """
    try:
        propagate.inject(headers, context)
        headers[semconv.QUEUE_ENQUEUED_AT_HEADER] = repr(time.time())
    except Exception:
        report("queue inject")


def extract(headers: Mapping[str, Any] | None) -> Context:
    """The context (trace and baggage) a producer wrote into ``headers``."""
    if not headers:
        return Context()
    try:
        return propagate.extract(headers, getter=_GETTER)
    except Exception:
        report("queue extract")
        return Context()


def enqueued_at(headers: Mapping[str, Any] | None) -> float | None:
    """The enqueue time (Unix seconds) :func:`inject` wrote, or None."""
    if not headers:
        return None
    try:
        value = headers.get(semconv.QUEUE_ENQUEUED_AT_HEADER)
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("ascii")
        return None if value is None else float(value)
    except (TypeError, ValueError, AttributeError):
        return None


# Producer ---------------------------------------------------------------------------
def _check(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


class _SendRun:
    __slots__ = ("span", "token")

    def __init__(self, span: trace.Span | None, token: object) -> None:
        self.span = span
        self.token = token


class _SendHooks:
    """Begin and end one send of ``destination`` (shared by the scope and the decorator)."""

    __slots__ = ("destination", "name", "span_attributes", "system")

    def __init__(self, destination: str, system: str) -> None:
        self.destination = destination
        self.system = system
        self.name = f"{semconv.MESSAGING_OPERATION_SEND} {destination}"
        self.span_attributes: dict[str, AttributeValue] = {
            semconv.MESSAGING_SYSTEM: system,
            semconv.MESSAGING_DESTINATION_NAME: destination,
            semconv.MESSAGING_OPERATION_NAME: semconv.MESSAGING_OPERATION_SEND,
            semconv.MESSAGING_OPERATION_TYPE: semconv.MESSAGING_OPERATION_SEND,
        }

    def begin(self, headers: MutableMapping[str, Any] | None, message_id: str | None) -> _SendRun:
        span = None
        token = None
        try:
            tracer = TRACER.get()
            if tracer is not None:
                attributes = self.span_attributes
                if message_id is not None:
                    attributes = {**attributes, semconv.MESSAGING_MESSAGE_ID: message_id}
                span = tracer.start_span(self.name, kind=SpanKind.PRODUCER, attributes=attributes)
                token = otel_context.attach(trace.set_span_in_context(span))
        except Exception:
            report("queue send begin")
        if headers is not None:
            inject(headers)
        return _SendRun(span, token)

    def end(self, run: _SendRun, error: BaseException | None) -> None:
        try:
            if run.token is not None:
                otel_context.detach(run.token)  # type: ignore[arg-type]
            kind = None if error is None else error_type(error)
            record_sent(self.system, self.destination, kind)
            if run.span is not None:
                if error is not None:
                    record_error(run.span, error, kind or semconv.ERROR_TYPE_OTHER)
                run.span.end()
        except Exception:
            report("queue send end")


class SendScope(SyncScope["SendScope"]):
    """One message sent; see :func:`send`."""

    __module__ = "watchkit.queue"
    __slots__ = ("_hooks", "_run", "headers", "message_id")

    def __init__(
        self,
        hooks: _SendHooks,
        headers: MutableMapping[str, Any],
        message_id: str | None,
    ) -> None:
        self._hooks = hooks
        self.headers = headers
        self.message_id = message_id
        self._run: _SendRun | None = None

    def __enter__(self) -> SendScope:
        self._run = self._hooks.begin(self.headers, self.message_id)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        run, self._run = self._run, None
        if run is not None:
            self._hooks.end(run, error)


def send(
    destination: str,
    headers: MutableMapping[str, Any],
    *,
    system: str = "custom",
    message_id: str | None = None,
) -> SendScope:
    """Send one message to ``destination``: a PRODUCER span, context written into ``headers``.

    Write the message inside the block, with ``headers`` as its headers. The
    block ending with an exception counts the send as failed (``error.type``).

    Raises:
        ValueError: ``destination`` or ``system`` is empty, or ``headers`` is
            not a mutable mapping.

    Example:
        >>> import watchkit.queue
        >>> outbox = []
        >>> headers = {}
        >>> with watchkit.queue.send("notifications", headers, system="redis"):
        ...     outbox.append({"headers": headers, "body": "booking confirmed"})
        >>> sorted(outbox[0]["headers"])[-1]
        'watchkit-enqueued-at'
    """
    _check("destination", destination)
    _check("system", system)
    if not isinstance(headers, MutableMapping):
        raise ValueError(
            f"headers must be a mutable mapping (a dict) the message carries, got {headers!r}"
        )
    return SendScope(_SendHooks(destination, system), headers, message_id)


class _HeadersArgument:
    """Finds (and supplies) the headers argument of a decorated function, bound once."""

    __slots__ = ("index", "method", "name")

    def __init__(self, fn: Any, name: str) -> None:
        target = unwrap_descriptor(fn)
        try:
            parameters = list(inspect.signature(target).parameters)
        except (TypeError, ValueError) as error:
            raise ValueError(f"cannot read the signature of {fn!r}: {error}") from None
        if name not in parameters:
            raise ValueError(
                f"{fn!r} has no parameter {name!r} for the message headers; name it with "
                f"headers='<parameter>' (its parameters: {parameters})"
            )
        self.name = name
        self.index = parameters.index(name)
        self.method = bool(parameters) and parameters[0] in ("self", "cls")

    def _position(self, instance: Any) -> int:
        return self.index - 1 if self.method and instance is not None else self.index

    def absent(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """The call did not pass the argument at all (so it can be passed as a keyword)."""
        return self.name not in kwargs and len(args) <= self._position(instance)

    def get(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.name in kwargs:
            return kwargs[self.name]
        position = self._position(instance)
        return args[position] if len(args) > position else None


class _ProducerHooks:
    """The wrapper factory's hooks for :func:`producer`."""

    __slots__ = ("argument", "hooks")

    def __init__(self, hooks: _SendHooks, argument: _HeadersArgument) -> None:
        self.hooks = hooks
        self.argument = argument

    def begin(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # Only kwargs can be changed in place: headers left out of the call are
        # passed as a keyword; None passed explicitly gets no context.
        try:
            headers = self.argument.get(instance, args, kwargs)
            if headers is None and self.argument.absent(instance, args, kwargs):
                headers = {}
                kwargs[self.argument.name] = headers
        except Exception:
            report("queue producer headers")
            headers = None
        return self.hooks.begin(headers if isinstance(headers, MutableMapping) else None, None)

    def end(self, run: _SendRun, error: BaseException | None) -> None:
        self.hooks.end(run, error)

    def pause(self, run: _SendRun) -> None:
        if run.token is not None:
            otel_context.detach(run.token)  # type: ignore[arg-type]
            run.token = None

    def resume(self, run: _SendRun) -> None:
        if run.span is not None:
            run.token = otel_context.attach(trace.set_span_in_context(run.span))


def producer(
    destination: str, *, system: str = "custom", headers: str = "headers"
) -> Callable[[F], F]:
    """Decorate the function that sends a message (sync or ``async def``).

    Each call is a send: the function's ``headers`` parameter (another name
    with ``headers=``) receives the trace context and enqueue time; a call
    that passes no headers gets a new dict.

    Raises:
        ValueError: empty ``destination``/``system``, or the function has no
            such parameter.

    Example:
        >>> import watchkit.queue
        >>> sent = []
        >>> @watchkit.queue.producer("sms", system="redis")
        ... def enqueue_sms(text: str, headers: dict | None = None) -> None:
        ...     sent.append((text, headers))
        >>> enqueue_sms("Your table is ready")
        >>> "traceparent" in sent[0][1] or "watchkit-enqueued-at" in sent[0][1]
        True
    """
    _check("destination", destination)
    _check("system", system)
    _check("headers", headers)
    send_hooks = _SendHooks(destination, system)

    def decorate(fn: F) -> F:
        return instrument(fn, _ProducerHooks(send_hooks, _HeadersArgument(fn, headers)))

    return decorate


# Consumer ---------------------------------------------------------------------------
class _ProcessRun:
    __slots__ = ("error", "log_tokens", "outcome", "span", "start", "token")

    def __init__(self) -> None:
        self.span: trace.Span | None = None
        self.token: object = None
        self.log_tokens: list[contextvars.Token[Any]] = []
        self.start = 0.0
        self.outcome: str | None = None
        self.error: str | None = None


_CURRENT: contextvars.ContextVar[ProcessScope | None] = contextvars.ContextVar(
    "watchkit.queue.current", default=None
)


class _ProcessHooks:
    """Begin and end processing one message of ``destination``."""

    __slots__ = ("continue_trace", "destination", "job", "name", "span_attributes", "system")

    def __init__(
        self, destination: str, system: str, job: str | None, continue_trace: bool
    ) -> None:
        self.destination = destination
        self.system = system
        self.job = job
        self.continue_trace = continue_trace
        self.name = f"{semconv.MESSAGING_OPERATION_PROCESS} {destination}"
        self.span_attributes: dict[str, AttributeValue] = {
            semconv.MESSAGING_SYSTEM: system,
            semconv.MESSAGING_DESTINATION_NAME: destination,
            semconv.MESSAGING_OPERATION_NAME: semconv.MESSAGING_OPERATION_PROCESS,
            semconv.MESSAGING_OPERATION_TYPE: semconv.MESSAGING_OPERATION_PROCESS,
        }
        if job is not None:
            self.span_attributes[semconv.JOB_NAME] = job

    def begin(self, headers: Mapping[str, Any] | None, message_id: str | None) -> _ProcessRun:
        run = _ProcessRun()
        try:
            _record_consumed(self.system, self.destination)
            sent_at = enqueued_at(headers)
            if sent_at is not None:
                record_wait(self.system, self.destination, self.job, time.time() - sent_at)
            extracted = extract(headers)
            tracer = TRACER.get()
            if tracer is not None:
                attributes = self.span_attributes
                if message_id is not None:
                    attributes = {**attributes, semconv.MESSAGING_MESSAGE_ID: message_id}
                producer_context = trace.get_current_span(extracted).get_span_context()
                links = [Link(producer_context)] if producer_context.is_valid else None
                parent = (
                    extracted
                    if self.continue_trace
                    else trace.set_span_in_context(trace.INVALID_SPAN, extracted)
                )
                run.span = tracer.start_span(
                    self.name, parent, SpanKind.CONSUMER, attributes, links
                )
                run.token = otel_context.attach(trace.set_span_in_context(run.span, extracted))
            values: dict[str, Any] = {semconv.LOG_QUEUE: self.destination}
            if message_id is not None:
                values[semconv.LOG_MESSAGE_ID] = message_id
            if self.job is not None:
                values[semconv.LOG_JOB_NAME] = self.job
            run.log_tokens = list(structlog.contextvars.bind_contextvars(**values).values())
        except Exception:
            report("queue process begin")
        run.start = time.perf_counter()
        return run

    def end(self, run: _ProcessRun, error: BaseException | None) -> None:
        try:
            duration = time.perf_counter() - run.start
            kind = run.error
            if error is not None:
                kind = error_type(error)
            outcome = run.outcome or (
                semconv.JOB_OUTCOME_FAILURE if error is not None else semconv.JOB_OUTCOME_SUCCESS
            )
            for token in reversed(run.log_tokens):
                token.var.reset(token)
            if run.token is not None:
                otel_context.detach(run.token)  # type: ignore[arg-type]
                run.token = None
            record_job(self.system, self.destination, self.job, outcome, duration, kind)
            span = run.span
            if span is not None:
                if span.is_recording():
                    span.set_attribute(semconv.JOB_OUTCOME, outcome)
                if error is not None:
                    record_error(span, error, kind or semconv.ERROR_TYPE_OTHER)
                elif kind is not None and span.is_recording():
                    span.set_attribute(semconv.ERROR_TYPE, kind)
                span.end()
        except Exception:
            report("queue process end")


class ProcessScope(SyncScope["ProcessScope"]):
    """Processing one message; see :func:`process`.

    Call :meth:`retry` or :meth:`dead_letter` to record what became of a
    message that was not processed successfully; an exception leaving the
    block without either is a ``failure``.
    """

    __module__ = "watchkit.queue"
    __slots__ = ("_hooks", "_reset", "_run", "headers", "message_id")

    def __init__(
        self, hooks: _ProcessHooks, headers: Mapping[str, Any] | None, message_id: str | None
    ) -> None:
        self._hooks = hooks
        self.headers = headers
        self.message_id = message_id
        self._run: _ProcessRun | None = None
        self._reset: contextvars.Token[ProcessScope | None] | None = None

    def retry(self, error: BaseException | str | None = None) -> None:
        """The message goes back to the queue for another attempt (outcome ``retry``)."""
        self._mark(semconv.JOB_OUTCOME_RETRY, error)

    def dead_letter(self, error: BaseException | str | None = None) -> None:
        """The message is given up and moved aside (outcome ``dead_lettered``)."""
        self._mark(semconv.JOB_OUTCOME_DEAD_LETTERED, error)

    def _mark(self, outcome: str, error: BaseException | str | None) -> None:
        run = self._run
        if run is None:
            return
        run.outcome = outcome
        if isinstance(error, BaseException):
            run.error = error_type(error)
        elif isinstance(error, str) and error:
            run.error = error

    def __enter__(self) -> ProcessScope:
        self._run = self._hooks.begin(self.headers, self.message_id)
        self._reset = _CURRENT.set(self)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        run, self._run = self._run, None
        reset, self._reset = self._reset, None
        if reset is not None:
            try:
                _CURRENT.reset(reset)
            except ValueError:  # exited in another context than it was entered
                _CURRENT.set(None)
        if run is not None:
            self._hooks.end(run, error)


def current() -> ProcessScope | None:
    """The message being processed in this context (inside :func:`process` or :func:`consumer`).

    Example:
        >>> import watchkit.queue
        >>> watchkit.queue.current() is None
        True
    """
    return _CURRENT.get()


def process(
    destination: str,
    headers: Mapping[str, Any] | None,
    *,
    system: str = "custom",
    message_id: str | None = None,
    job: str | None = None,
    continue_trace: bool = True,
) -> ProcessScope:
    """Process one message of ``destination``: a CONSUMER span in the producer's trace.

    Args:
        destination: the queue (or topic) the message came from.
        headers: the message's headers, as the producer wrote them (None: no context).
        system: ``messaging.system`` (``redis``, ``rabbitmq``, ``kafka``, ...).
        message_id: set on the span and the log lines, never on metrics.
        job: what the message asks for (``send_sms``): a low-cardinality name.
        continue_trace: True (default): the span is a child of the producer's
            and links to it; False: a new trace with the link only.

    Raises:
        ValueError: empty ``destination``, ``system`` or ``job``.

    Example:
        >>> import watchkit.queue
        >>> message = {"headers": {}, "body": "booking confirmed"}
        >>> with watchkit.queue.process("notifications", message["headers"]) as delivery:
        ...     if not message["body"]:
        ...         delivery.dead_letter("empty body")
    """
    _check("destination", destination)
    _check("system", system)
    if job is not None:
        _check("job", job)
    if not isinstance(continue_trace, bool):
        raise ValueError(f"continue_trace must be True or False, got {continue_trace!r}")
    return ProcessScope(
        _ProcessHooks(destination, system, job, continue_trace), headers, message_id
    )


class _ConsumerHooks:
    """The wrapper factory's hooks for :func:`consumer`."""

    __slots__ = ("argument", "hooks")

    def __init__(self, hooks: _ProcessHooks, argument: _HeadersArgument) -> None:
        self.hooks = hooks
        self.argument = argument

    def begin(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            headers = self.argument.get(instance, args, kwargs)
        except Exception:
            report("queue consumer headers")
            headers = None
        scope = ProcessScope(self.hooks, headers if isinstance(headers, Mapping) else None, None)
        return scope.__enter__()

    def end(self, scope: ProcessScope, error: BaseException | None) -> None:
        scope.__exit__(None if error is None else type(error), error, None)

    def pause(self, scope: ProcessScope) -> None:
        run = scope._run
        if run is not None and run.token is not None:
            otel_context.detach(run.token)  # type: ignore[arg-type]
            run.token = None

    def resume(self, scope: ProcessScope) -> None:
        run = scope._run
        if run is not None and run.span is not None:
            run.token = otel_context.attach(trace.set_span_in_context(run.span))


def consumer(
    destination: str,
    *,
    system: str = "custom",
    headers: str = "headers",
    job: str | None = None,
    continue_trace: bool = True,
) -> Callable[[F], F]:
    """Decorate the function that processes one message (sync or ``async def``).

    The function's ``headers`` parameter (another name with ``headers=``) is
    read for the producer's context. Inside, :func:`current` returns the
    delivery, for :meth:`ProcessScope.retry` and :meth:`ProcessScope.dead_letter`.

    Raises:
        ValueError: as for :func:`process`, or the function has no such parameter.

    Example:
        >>> import watchkit.queue
        >>> @watchkit.queue.consumer("sms", system="redis", job="send_sms")
        ... def handle(body: str, headers: dict) -> None:
        ...     if not body:
        ...         watchkit.queue.current().dead_letter("empty")
        >>> handle("Your table is ready", {})
    """
    _check("destination", destination)
    _check("system", system)
    _check("headers", headers)
    if job is not None:
        _check("job", job)
    if not isinstance(continue_trace, bool):
        raise ValueError(f"continue_trace must be True or False, got {continue_trace!r}")
    process_hooks = _ProcessHooks(destination, system, job, continue_trace)

    def decorate(fn: F) -> F:
        return instrument(fn, _ConsumerHooks(process_hooks, _HeadersArgument(fn, headers)))

    return decorate


# Depth ------------------------------------------------------------------------------
Collect = bool | Callable[[], bool]


class Depth:
    """One queue's depth source, registered by :func:`depth`; :meth:`remove` stops it."""

    __module__ = "watchkit.queue"
    __slots__ = ("attributes", "callback", "collect", "name")

    def __init__(
        self,
        name: str,
        callback: Callable[[], float | Iterable[tuple[float, Mapping[str, AttributeValue]]]],
        attributes: dict[str, AttributeValue],
        collect: Collect,
    ) -> None:
        self.name = name
        self.callback = callback
        self.attributes = attributes
        self.collect = collect

    def read(self) -> list[tuple[float, Mapping[str, AttributeValue]]]:
        """The values to report now (none when this process does not collect)."""
        collect = self.collect
        if collect is False or (callable(collect) and not collect()):
            return []
        value = self.callback()
        if isinstance(value, (int, float)):
            return [(float(value), self.attributes)]
        return [(float(v), {**self.attributes, **extra}) for v, extra in value]

    def remove(self) -> None:
        """Stop reporting this source."""
        _DEPTHS.remove(self)

    def __repr__(self) -> str:
        return f"<watchkit queue depth {self.name!r}>"


class _Depths:
    """Every registered source, read by the one ``watchkit.queue.depth`` gauge."""

    def __init__(self) -> None:
        self.sources: list[Depth] = []
        self.lock = threading.Lock()
        self.gauge: ObservableGauge | None = None
        # Queue name -> monotonic time of its last warning.
        self.warned: dict[str, float] = {}

    def add(self, source: Depth) -> None:
        with self.lock:
            self.sources.append(source)
            if self.gauge is None:
                self.gauge = ObservableGauge(
                    semconv.WATCHKIT_QUEUE_DEPTH,
                    semconv.UNIT_MESSAGES,
                    "Messages waiting in a queue.",
                    self.read,
                )
                self.gauge._activate()

    def remove(self, source: Depth) -> None:
        with self.lock:
            if source in self.sources:
                self.sources.remove(source)
            if all(other.name != source.name for other in self.sources):
                self.warned.pop(source.name, None)

    def read(self) -> list[tuple[float, Mapping[str, AttributeValue]]]:
        readings: list[tuple[float, Mapping[str, AttributeValue]]] = []
        for source in list(self.sources):
            try:
                # A depth read (LLEN, SELECT count(*)) is watchkit's own call, made
                # at every collection: not the application's database or Redis traffic.
                with own_calls():
                    readings.extend(source.read())
            except Exception as error:
                # One broken source (an unreachable Redis) must not hide the others.
                self._warn(source.name, error)
        return readings

    def _warn(self, name: str, error: Exception) -> None:
        """One short warning a minute per queue; the traceback only at debug level.

        A Redis that goes away (at every shutdown of a deployment) fails in every
        process at every collection: a traceback each time says nothing new.
        """
        now = time.monotonic()
        last = self.warned.get(name)
        if last is not None and now - last < _WARN_INTERVAL:
            return
        self.warned[name] = now
        internal_logger.warning(
            "watchkit: reading the depth of queue %r failed (%s: %s); it is left out of "
            "watchkit.queue.depth while it fails (logged at most once a minute)",
            name,
            exception_type(error),
            safe_str(error),
        )
        internal_logger.debug("watchkit: reading the depth of queue %r failed", name, exc_info=True)


_WARN_INTERVAL: Final = 60.0
_DEPTHS = _Depths()


def _check_collect(collect: object) -> Collect:
    if isinstance(collect, bool) or callable(collect):
        return collect
    raise ValueError(
        f"collect must be True, False or a function returning whether this process "
        f"reports (a lease), got {collect!r}"
    )


def depth(
    name: str,
    callback: Callable[[], float],
    *,
    system: str = "custom",
    collect: Collect = True,
) -> Depth:
    """Report the depth of queue ``name`` at each collection: ``watchkit.queue.depth``.

    A queue's depth is a property of the broker, not of a process: if every
    worker reported it, a sum over instances would count it N times. Report it
    from one process: register it only there (``collect=True``, the default,
    for a process you run once per deployment), or pass ``collect=`` a
    function that says whether this process reports now, such as
    :func:`watchkit.queue.redis_lease`, which elects one process among all
    hosts. A callback that raises is logged once; that queue is left out of
    that collection.

    Raises:
        ValueError: empty ``name``/``system``, ``callback`` not callable, or a
            bad ``collect``.

    Example:
        >>> import watchkit.queue
        >>> outbox = ["sms-1", "sms-2"]
        >>> source = watchkit.queue.depth("sms", lambda: len(outbox))
        >>> source.remove()
    """
    _check("name", name)
    _check("system", system)
    if not callable(callback):
        raise ValueError(f"callback must be a function with no arguments, got {callback!r}")
    source = Depth(
        name,
        callback,
        {semconv.MESSAGING_SYSTEM: system, semconv.MESSAGING_DESTINATION_NAME: name},
        _check_collect(collect),
    )
    _DEPTHS.add(source)
    return source


def add_depth_source(source: Depth) -> Depth:
    """Register a prepared source (the Redis built-in reports several queues in one)."""
    _DEPTHS.add(source)
    return source
