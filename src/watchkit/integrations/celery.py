"""Celery: one trace from the web request through the task, job metrics, queue depths.

:func:`instrument` connects to Celery's signals (they are process-wide, so
every Celery app of the process is covered):

- ``before_task_publish``: a PRODUCER span ``send {task}``, whose context, the
  baggage and the enqueue time go into the message headers;
  ``after_task_publish`` ends it and counts ``messaging.client.sent.messages``.
  A publish that raised never sees ``after_task_publish``: it is ended as
  failed at the next publish of the same thread.
- ``task_prerun``: a CONSUMER span ``process {task}``, child of the producer's
  span (and linked to it, as the messaging conventions ask), current while the
  task runs; ``task_id``, ``task_name`` and ``queue`` bound to watchkit's log
  context, so every structlog line the task writes carries them and its trace
  id; the queue wait from the enqueue time (from the ETA, for a task scheduled
  later) into ``watchkit.queue.wait.duration``.
- ``task_failure`` / ``task_retry`` record the exception; ``task_postrun`` ends
  the span and records ``messaging.process.duration`` and ``watchkit.queue.jobs``
  (``job.outcome`` = success | failure | retry); ``task_revoked`` counts
  ``revoked``.
- Prefork children: the fork registry already gave each child a fresh
  ``service.instance.id``, fresh locks and working export threads when billiard
  forked it (``worker_process_init`` only checks that it ran). Before a child
  exits (``max_tasks_per_child``, ``max_memory_per_child``, a warm shutdown),
  ``worker_process_shutdown`` flushes its spans, logs and metrics, which the
  batch processor would otherwise lose. At a warm shutdown the main process
  waits for every child before it exits, so nothing cuts that flush short
  (bounded by ``shutdown_timeout``); a child that never exits (it hung) is what
  loses telemetry, when the worker is killed and Celery's parent-death signal
  takes the children with it. The log-line lock is held across each fork for
  that reason (see :mod:`watchkit._internal.fork`).
- Queue depths of a Redis broker (``redis://``, ``rediss://``), priority lists
  included, reported by one process among all through a lease in the broker.

Coexistence: when opentelemetry-instrumentation-celery is active, it owns the
spans (and the context in the headers): watchkit warns once and records its
metrics and log context only, so no task is traced twice.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Final

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import AttributeValue

from watchkit._internal import fork, semconv
from watchkit._internal.guard import internal_logger, report
from watchkit._internal.pipeline import flush_pipeline
from watchkit._internal.state import STATE
from watchkit._queue import (
    enqueued_at,
    extract,
    inject,
    record_job,
    record_sent,
    record_wait,
)
from watchkit._tracing import TRACER, error_type, record_error

try:
    from celery import signals
except ImportError as _error:  # pragma: no cover - depends on the environment
    if _error.name not in ("celery", None):
        raise
    raise ImportError(
        "watchkit.integrations.celery needs Celery: pip install 'watchkit[celery]'"
    ) from _error

__all__ = ["instrument", "is_instrumented", "uninstrument"]

_SYSTEM: Final = semconv.MESSAGING_SYSTEM_CELERY
_UID: Final = "watchkit.celery"
_FLUSH_TIMEOUT: Final = 5.0
_OUTCOMES: Final = {
    "SUCCESS": semconv.JOB_OUTCOME_SUCCESS,
    "FAILURE": semconv.JOB_OUTCOME_FAILURE,
    "RETRY": semconv.JOB_OUTCOME_RETRY,
    "REVOKED": semconv.JOB_OUTCOME_REVOKED,
}


class _Publish:
    __slots__ = ("queue", "span", "task_id")

    def __init__(self, task_id: str | None, queue: str) -> None:
        self.task_id = task_id
        self.queue = queue
        self.span: trace.Span | None = None


class _Run:
    __slots__ = ("error", "log_tokens", "queue", "span", "start", "token")

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.span: trace.Span | None = None
        self.token: object = None
        self.log_tokens: list[Any] = []
        self.start = time.perf_counter()
        self.error: str | None = None


class _State:
    def __init__(self) -> None:
        self.connected = False
        self.apps: weakref.WeakSet[Any] = weakref.WeakSet()
        self.local = threading.local()
        self.runs: dict[str, _Run] = {}
        self.contrib_warned = False
        self.hooks_pid = os.getpid()
        self.depths: list[Any] = []


_STATE = _State()


def _hooks_ran() -> None:
    _STATE.hooks_pid = os.getpid()
    _STATE.local = threading.local()
    _STATE.runs = {}


# Per-process state: a forked child starts with no publish or task in progress.
fork.at_fork(fork.STATE, "celery.runs", _hooks_ran)


def _contrib_active() -> bool:
    """Whether opentelemetry-instrumentation-celery is instrumenting (it then owns the spans)."""
    module = sys.modules.get("opentelemetry.instrumentation.celery")
    if module is None:
        return False
    try:
        active = bool(module.CeleryInstrumentor().is_instrumented_by_opentelemetry)
    except Exception:
        return False
    if active and not _STATE.contrib_warned:
        _STATE.contrib_warned = True
        internal_logger.warning(
            "watchkit: opentelemetry-instrumentation-celery is active, so it traces Celery "
            "tasks; watchkit records the task metrics and log context only (no second span). "
            "Uninstrument it to get watchkit's spans."
        )
    return active


def _queue_of(routing_key: Any, exchange: Any) -> str:
    for value in (routing_key, exchange):
        if isinstance(value, str) and value:
            return value
    return "celery"


# Publish --------------------------------------------------------------------------
def _end_publish(publish: _Publish, error: str | None) -> None:
    record_sent(_SYSTEM, publish.queue, error)
    span = publish.span
    if span is not None:
        if error is not None and span.is_recording():
            span.set_attribute(semconv.ERROR_TYPE, error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, error))
        span.end()


def _before_publish(
    sender: Any = None,
    headers: Any = None,
    routing_key: Any = None,
    exchange: Any = None,
    **_: Any,
) -> None:
    try:
        local = _STATE.local
        stale = getattr(local, "publish", None)
        if stale is not None:
            local.publish = None
            _end_publish(stale, semconv.ERROR_TYPE_OTHER)
        if not isinstance(headers, dict):
            return  # task protocol 1: no headers to carry the context
        task_id = headers.get("id")
        task_name = str(sender) if sender else str(headers.get("task", "unknown"))
        publish = _Publish(task_id, _queue_of(routing_key, exchange))
        tracer = None if _contrib_active() else TRACER.get()
        if tracer is not None:
            attributes: dict[str, AttributeValue] = {
                semconv.MESSAGING_SYSTEM: _SYSTEM,
                semconv.MESSAGING_DESTINATION_NAME: publish.queue,
                semconv.MESSAGING_OPERATION_NAME: semconv.MESSAGING_OPERATION_SEND,
                semconv.MESSAGING_OPERATION_TYPE: semconv.MESSAGING_OPERATION_SEND,
                semconv.JOB_NAME: task_name,
            }
            if task_id:
                attributes[semconv.MESSAGING_MESSAGE_ID] = str(task_id)
            publish.span = tracer.start_span(
                f"{semconv.MESSAGING_OPERATION_SEND} {task_name}",
                kind=SpanKind.PRODUCER,
                attributes=attributes,
            )
            # Injected from a context that holds the span, never attached: a publish
            # that raises skips after_task_publish, and an attached span would stay
            # current in the caller's thread after the exception.
            inject(headers, trace.set_span_in_context(publish.span))
        else:
            headers[semconv.QUEUE_ENQUEUED_AT_HEADER] = repr(time.time())
        local.publish = publish
    except Exception:
        report("celery before_task_publish")


def _after_publish(**_: Any) -> None:
    try:
        local = _STATE.local
        publish = getattr(local, "publish", None)
        if publish is not None:
            local.publish = None
            _end_publish(publish, None)
    except Exception:
        report("celery after_task_publish")


# Run --------------------------------------------------------------------------------
class _RequestHeaders(Mapping[str, Any]):
    """The message headers of a task request, as a mapping for extraction.

    Celery copies the message headers onto ``task.request`` as attributes (and
    keeps headers given to ``apply_async(headers=...)`` under ``.headers``).
    """

    __slots__ = ("request",)

    def __init__(self, request: Any) -> None:
        self.request = request

    def __getitem__(self, key: str) -> Any:
        value = getattr(self.request, key, None)
        if value is None:
            nested = getattr(self.request, "headers", None)
            if isinstance(nested, dict):
                value = nested.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(list(vars(self.request)))

    def __len__(self) -> int:
        return len(vars(self.request))


def _request_queue(request: Any) -> str:
    info = getattr(request, "delivery_info", None) or {}
    return _queue_of(info.get("routing_key"), info.get("exchange"))


def _eta_seconds(request: Any) -> float | None:
    eta = getattr(request, "eta", None)
    if not eta:
        return None
    try:
        if isinstance(eta, datetime):
            return eta.timestamp()
        return datetime.fromisoformat(str(eta)).timestamp()
    except (TypeError, ValueError):
        return None


def _prerun(sender: Any = None, task_id: Any = None, task: Any = None, **_: Any) -> None:
    try:
        task = task if task is not None else sender
        if task is None or task_id is None:
            return
        request = task.request
        queue = _request_queue(request)
        name = str(task.name)
        run = _Run(queue)
        headers = _RequestHeaders(request)
        sent_at = enqueued_at(headers)
        if sent_at is not None:
            # A task scheduled for later (eta, countdown) waits from then on.
            eta = _eta_seconds(request)
            start_from = sent_at if eta is None else max(sent_at, eta)
            record_wait(_SYSTEM, queue, name, time.time() - start_from)
        tracer = None if _contrib_active() else TRACER.get()
        if tracer is not None:
            extracted = extract(headers)
            producer = trace.get_current_span(extracted).get_span_context()
            run.span = tracer.start_span(
                f"{semconv.MESSAGING_OPERATION_PROCESS} {name}",
                extracted,
                SpanKind.CONSUMER,
                {
                    semconv.MESSAGING_SYSTEM: _SYSTEM,
                    semconv.MESSAGING_DESTINATION_NAME: queue,
                    semconv.MESSAGING_OPERATION_NAME: semconv.MESSAGING_OPERATION_PROCESS,
                    semconv.MESSAGING_OPERATION_TYPE: semconv.MESSAGING_OPERATION_PROCESS,
                    semconv.MESSAGING_MESSAGE_ID: str(task_id),
                    semconv.JOB_NAME: name,
                },
                [Link(producer)] if producer.is_valid else None,
            )
            run.token = otel_context.attach(trace.set_span_in_context(run.span, extracted))
        run.log_tokens = list(
            structlog.contextvars.bind_contextvars(
                **{
                    semconv.LOG_TASK_ID: str(task_id),
                    semconv.LOG_TASK_NAME: name,
                    semconv.LOG_QUEUE: queue,
                }
            ).values()
        )
        run.start = time.perf_counter()
        _STATE.runs[str(task_id)] = run
    except Exception:
        report("celery task_prerun")


def _failure(task_id: Any = None, exception: Any = None, **_: Any) -> None:
    try:
        run = _STATE.runs.get(str(task_id))
        if run is None or not isinstance(exception, BaseException):
            return
        run.error = error_type(exception)
        if run.span is not None:
            record_error(run.span, exception, run.error)
    except Exception:
        report("celery task_failure")


def _retry(request: Any = None, reason: Any = None, **_: Any) -> None:
    try:
        run = _STATE.runs.get(str(getattr(request, "id", None)))
        if run is None:
            return
        if isinstance(reason, BaseException):
            run.error = error_type(reason)
            if run.span is not None:
                record_error(run.span, reason, run.error)
    except Exception:
        report("celery task_retry")


def _postrun(
    sender: Any = None, task_id: Any = None, task: Any = None, state: Any = None, **_: Any
) -> None:
    try:
        run = _STATE.runs.pop(str(task_id), None)
        if run is None:
            return
        duration = time.perf_counter() - run.start
        task = task if task is not None else sender
        outcome = _OUTCOMES.get(str(state), semconv.JOB_OUTCOME_FAILURE)
        if outcome == semconv.JOB_OUTCOME_SUCCESS:
            run.error = None
        elif run.error is None and outcome == semconv.JOB_OUTCOME_FAILURE:
            run.error = semconv.ERROR_TYPE_OTHER
        for token in reversed(run.log_tokens):
            token.var.reset(token)
        if run.token is not None:
            otel_context.detach(run.token)  # type: ignore[arg-type]
        record_job(
            _SYSTEM, run.queue, str(getattr(task, "name", None)), outcome, duration, run.error
        )
        span = run.span
        if span is not None:
            if span.is_recording():
                span.set_attribute(semconv.JOB_OUTCOME, outcome)
            span.end()
    except Exception:
        report("celery task_postrun")


def _revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
    try:
        name = getattr(sender, "name", None) or getattr(request, "task_name", None)
        if name is None and request is not None:
            name = getattr(request, "task", None)
        queue = _request_queue(request) if request is not None else "celery"
        record_job(
            _SYSTEM, queue, None if name is None else str(name), semconv.JOB_OUTCOME_REVOKED, None
        )
    except Exception:
        report("celery task_revoked")


# Prefork children -------------------------------------------------------------------
def _process_init(**_: Any) -> None:
    # billiard forks with os.fork(), which runs the registry; a child started
    # some other way (execv, spawn) has no hooks to run and configures afresh.
    if _STATE.hooks_pid != os.getpid() and hasattr(os, "register_at_fork"):
        fork.run_child_hooks()


def _process_shutdown(**_: Any) -> None:
    # The child leaves through os._exit(): no atexit, and the batch processor's
    # schedule delay would lose whatever it still holds.
    try:
        from watchkit.integrations._redis_queue import release_leases

        release_leases()
    except Exception:
        internal_logger.debug("watchkit: releasing queue leases failed", exc_info=True)
    pipeline = STATE.pipeline
    if pipeline is not None:
        timeout = _FLUSH_TIMEOUT
        if pipeline.settings is not None:
            timeout = pipeline.settings.shutdown_timeout
        flush_pipeline(pipeline, timeout)


_HANDLERS: Final = (
    (signals.before_task_publish, _before_publish),
    (signals.after_task_publish, _after_publish),
    (signals.task_prerun, _prerun),
    (signals.task_failure, _failure),
    (signals.task_retry, _retry),
    (signals.task_postrun, _postrun),
    (signals.task_revoked, _revoked),
    (signals.worker_process_init, _process_init),
    (signals.worker_process_shutdown, _process_shutdown),
)


def _broker_depth(app: Any, queues: Any) -> None:
    url = app.conf.broker_url or ""
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://")):
        internal_logger.info(
            "watchkit: Celery queue depth is read from Redis brokers only; %s is not one",
            url.split("://", 1)[0] or "the broker",
        )
        return
    from watchkit.integrations._redis_queue import (
        DEFAULT_PRIORITY_STEPS,
        DEFAULT_SEPARATOR,
        list_depth,
    )

    options = app.conf.broker_transport_options or {}
    if queues is None:
        configured = app.conf.task_queues
        queues = (
            [q.name for q in configured]
            if configured
            else [app.conf.task_default_queue or "celery"]
        )
    _STATE.depths.append(
        list_depth(
            url.split(";", 1)[0],
            list(queues),
            system=_SYSTEM,
            priority_steps=options.get("priority_steps", DEFAULT_PRIORITY_STEPS),
            separator=options.get("sep", DEFAULT_SEPARATOR),
            prefix=options.get("global_keyprefix", ""),
        )
    )


def instrument(app: Any, *, queue_depth: bool = True, queues: Any = None) -> Any:
    """Trace and measure ``app``'s tasks (and every Celery app of the process); return ``app``.

    Call it where the app is defined, so web processes (producers) and workers
    both run it; instrumenting twice is harmless.

    Args:
        app: the ``celery.Celery`` application.
        queue_depth: report ``watchkit.queue.depth`` for the app's queues when
            the broker is Redis (one process among all reports; see
            :func:`watchkit.queue.redis_depth`).
        queues: queue names to measure (default: ``task_queues``, else
            ``task_default_queue``).

    Raises:
        TypeError: ``app`` is not a Celery application.
    """
    from celery import Celery

    if not isinstance(app, Celery):
        raise TypeError(f"instrument() needs a celery.Celery application, got {app!r}")
    if not _STATE.connected:
        for signal, handler in _HANDLERS:
            signal.connect(handler, weak=False, dispatch_uid=f"{_UID}.{handler.__name__}")
        _STATE.connected = True
    if app not in _STATE.apps:
        _STATE.apps.add(app)
        if app.conf.worker_hijack_root_logger:
            # The worker would drop every root handler, watchkit's among them:
            # standard-library records (Celery's own, the tasks') would leave
            # watchkit's chain, its context fields and its export.
            app.conf.worker_hijack_root_logger = False
            internal_logger.info(
                "watchkit: worker_hijack_root_logger switched off for Celery app %r "
                "(watchkit's handler formats and exports the worker's log records)",
                app.main,
            )
        if app.conf.worker_redirect_stdouts:
            # watchkit writes log lines to sys.stdout; the worker would turn that
            # into a logging proxy whose records come back to watchkit's handler,
            # which writes to sys.stdout again: an endless loop that hangs the worker.
            app.conf.worker_redirect_stdouts = False
            internal_logger.info(
                "watchkit: worker_redirect_stdouts switched off for Celery app %r "
                "(watchkit already sends log lines to stdout)",
                app.main,
            )
        if queue_depth:
            _broker_depth(app, queues)
        _contrib_active()
    return app


def uninstrument(app: Any = None) -> None:
    """Disconnect every handler and stop the depth readings."""
    for signal, handler in _HANDLERS:
        signal.disconnect(handler, dispatch_uid=f"{_UID}.{handler.__name__}")
    _STATE.connected = False
    while _STATE.depths:
        _STATE.depths.pop().remove()
    _STATE.apps = weakref.WeakSet()


def is_instrumented() -> bool:
    """Whether :func:`instrument` connected the handlers."""
    return _STATE.connected
