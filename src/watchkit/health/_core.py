"""Health checks: declaration, concurrent execution with timeouts, caching, background runs.

Execution contract (what a probe can rely on):

* Every check of a probe starts at once; the probe waits at most for the
  longest ``timeout`` among them, never longer, whatever a check does.
* An async check runs on the caller's event loop (or, for a synchronous
  probe, on a private loop in a worker thread) and is cancelled at its
  timeout. A sync check runs in a daemon thread, which cannot be cancelled:
  past its timeout it is reported ``fail`` and no second copy is started
  while it still hangs, so a stuck dependency costs one thread, not one per
  probe, and never blocks interpreter exit.
* Concurrent probes join the run in progress (coalescing). With ``ttl`` a
  finished result is served for ``ttl`` seconds without running the check.
  With ``interval`` only the background scheduler runs the check; probes get
  its last result (with the time it was taken), ``fail`` until the first.
* Each settled run records ``watchkit.health.check.status`` and
  ``watchkit.health.check.duration``; a log line is written only when a
  check's status changes (the first result only if it is not ``pass``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import math
import queue
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, overload

from watchkit._internal import fork
from watchkit._internal.errors import exception_type, safe_str
from watchkit._internal.guard import report
from watchkit._internal.semconv import (
    HEALTH_CHECK_DURATION,
    HEALTH_CHECK_KIND,
    HEALTH_CHECK_NAME,
    HEALTH_CHECK_RESULT,
    HEALTH_CHECK_STATUS,
    HEALTH_STATUS_VALUES,
    UNIT_SECONDS,
)
from watchkit._internal.suppression import own_calls
from watchkit._metrics import Gauge, Histogram

__all__ = [
    "Check",
    "CheckFunction",
    "CheckResult",
    "ComponentType",
    "HealthRegistry",
    "Kind",
    "Observation",
    "Probe",
    "Report",
    "Status",
    "Warn",
]

Kind = Literal["liveness", "readiness", "startup"]
Status = Literal["pass", "warn", "fail"]
Probe = Literal["livez", "readyz", "healthz", "startupz"]
ComponentType = Literal["component", "datastore", "system"]
KINDS: tuple[Kind, ...] = get_args(Kind)
PROBES: tuple[Probe, ...] = get_args(Probe)
_COMPONENT_TYPES: tuple[ComponentType, ...] = get_args(ComponentType)

DEFAULT_TIMEOUT = 0.8
"""Seconds: a whole response then fits a kubelet's default 1 s probe timeout."""

# Which kinds each probe evaluates. Readiness includes liveness: a process that
# is not alive cannot serve; liveness never includes dependencies.
_PROBE_KINDS: dict[str, frozenset[str]] = {
    "livez": frozenset({"liveness"}),
    "readyz": frozenset({"liveness", "readiness"}),
    "startupz": frozenset({"startup"}),
    "healthz": frozenset(KINDS),
}

_logger = logging.getLogger("watchkit.health")


class Warn(Exception):
    """Raise from a check to report ``warn`` (degraded but serving) with a message."""


@dataclass(frozen=True)
class Observation:
    """What a check may return to report a measurement other than its response time.

    Attributes:
        value: the observed value (``observedValue``), e.g. ``83.5``.
        unit: its unit (``observedUnit``), e.g. ``"percent"``.
        measurement: the measurement name in the ``component:measurement`` key,
            e.g. ``"utilization"`` (default ``"responseTime"``).
        status: ``"pass"``, ``"warn"`` or ``"fail"``.
        output: a short explanation, shown only with details enabled.
    """

    value: float | None = None
    unit: str | None = None
    measurement: str | None = None
    status: Status = "pass"
    output: str | None = None


CheckFunction = Callable[[], bool | Observation | Awaitable[bool | Observation | None] | None]
"""A check: no arguments; returns None/True (pass), False (fail) or an
:class:`Observation`; raises :class:`Warn` for warn and anything else for fail.
May be ``async def``."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one run of a check."""

    name: str
    kind: Kind
    critical: bool
    component_type: ComponentType
    status: Status
    duration: float
    """Seconds the run took (the timeout, for a run that timed out)."""
    time: float
    """Wall-clock time (epoch seconds) the result was taken."""
    measurement: str = "responseTime"
    observed_value: float | None = None
    observed_unit: str | None = None
    error_type: str | None = None
    """Short error class (``TimeoutError``, ``ConnectionRefusedError``); safe to show."""
    detail: str | None = None
    """Exception text or the check's output; shown only when details are enabled."""


@dataclass(frozen=True)
class Report:
    """The result of one probe: the aggregate status and each check's result."""

    probe: Probe
    status: Status
    results: tuple[CheckResult, ...]
    shutting_down: bool = False

    @property
    def http_status(self) -> int:
        """200 for pass and warn, 503 for fail."""
        return 503 if self.status == "fail" else 200


def _aggregate(results: Iterable[CheckResult]) -> Status:
    status: Status = "pass"
    for result in results:
        if result.status == "fail" and result.critical:
            return "fail"
        if result.status != "pass":
            status = "warn"
    return status


_Outcome = tuple[Status, float, Observation | None, BaseException | None]


@dataclass
class _Run:
    started: float
    deadline: float
    future: concurrent.futures.Future[
        tuple[Status, float, Observation | None, BaseException | None]
    ]
    settled: CheckResult | None = None


_STATUS_GAUGE = Gauge(
    HEALTH_CHECK_STATUS,
    "1",
    "watchkit health check status: 1 pass, 0.5 warn, 0 fail.",
)
_DURATION = Histogram(
    HEALTH_CHECK_DURATION, UNIT_SECONDS, "Duration of watchkit health check runs.", None
)


def _number(value: object, parameter: str, *, positive: bool, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        number = float(value)  # type: ignore[arg-type]
        ok = math.isfinite(number) and (number > 0 if positive else number >= 0)
    if not ok:
        accepted = "a positive number of seconds" + (" or None" if allow_none else "")
        raise ValueError(f"{parameter}={value!r} is invalid: use {accepted}")
    return number


class Check:
    """A declared health check. Create with :meth:`HealthRegistry.add` or ``@check``."""

    def __init__(
        self,
        name: str,
        function: CheckFunction,
        *,
        kind: Kind = "readiness",
        critical: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        ttl: float | None = None,
        interval: float | None = None,
        component_type: ComponentType = "component",
    ) -> None:
        if not isinstance(name, str) or not name or ":" in name or len(name) > 100:
            raise ValueError(
                f"name={name!r} is invalid: use a non-empty string of at most 100 "
                "characters without ':' (it becomes the 'component' of 'component:measurement')"
            )
        if not callable(function):
            raise ValueError(f"function {function!r} is invalid: use a callable with no arguments")
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r} is invalid: use one of {', '.join(KINDS)}")
        if not isinstance(critical, bool):
            raise ValueError(f"critical={critical!r} is invalid: use True or False")
        if component_type not in _COMPONENT_TYPES:
            raise ValueError(
                f"component_type={component_type!r} is invalid: use one of "
                f"{', '.join(_COMPONENT_TYPES)}"
            )
        self.name = name
        self.function = function
        self.kind: Kind = kind
        self.critical = critical
        self.timeout = _number(timeout, "timeout", positive=True, allow_none=False) or 0.0
        self.ttl = _number(ttl, "ttl", positive=False, allow_none=True)
        self.interval = _number(interval, "interval", positive=True, allow_none=True)
        self.component_type: ComponentType = component_type
        self.is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None)  # noqa: B004 - async __call__ objects
        )
        self._lock = threading.Lock()
        self._run: _Run | None = None
        self._last: CheckResult | None = None
        self._last_at = float("-inf")
        self._state: Status | None = None
        self._next_due = 0.0
        self._attrs = {HEALTH_CHECK_NAME: name, HEALTH_CHECK_KIND: kind}

    def __repr__(self) -> str:
        return f"<health check {self.name!r} kind={self.kind} critical={self.critical}>"

    # Execution -----------------------------------------------------------------
    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._run = None  # its thread did not survive the fork
        self._next_due = 0.0

    def _cached(self, now: float) -> CheckResult | None:
        if self.ttl is not None and self._last is not None and now - self._last_at < self.ttl:
            return self._last
        return None

    def _join_or_start(self, loop: asyncio.AbstractEventLoop | None) -> _Run | CheckResult:
        """Under the lock: a fresh cached result, the run in flight, or a new run."""
        now = time.monotonic()
        with self._lock:
            cached = self._cached(now)
            if cached is not None:
                return cached
            run = self._run
            if run is not None and (run.settled is None or not run.future.done()):
                # Still running (or hung past its deadline): never a second copy.
                return run if run.settled is None else run.settled
            run = _Run(now, now + self.timeout, concurrent.futures.Future())
            run.future.set_running_or_notify_cancel()  # a waiter's cancel() must not stop it
            self._run = run
        run.future.add_done_callback(lambda _: self._settle(run))
        try:
            self._start(run, loop)
        except Exception as error:  # e.g. no thread can be started at interpreter exit
            run.future.set_result(("fail", 0.0, None, error))
        return run

    def _start(self, run: _Run, loop: asyncio.AbstractEventLoop | None) -> None:
        if self.is_async and loop is not None:
            loop.create_task(self._call_async(run))
            return
        target = self._call_async_in_thread if self.is_async else self._call_sync
        _WORKERS.submit(target, run)

    def _outcome(
        self, value: object, started: float
    ) -> tuple[Status, float, Observation | None, BaseException | None]:
        duration = time.perf_counter() - started
        if isinstance(value, Observation):
            return value.status, duration, value, None
        if value is False:
            return "fail", duration, None, None
        return "pass", duration, None, None

    @staticmethod
    def _failed(
        error: BaseException, started: float
    ) -> tuple[Status, float, Observation | None, BaseException | None]:
        status: Status = "warn" if isinstance(error, Warn) else "fail"
        return status, time.perf_counter() - started, None, error

    def _call_sync(self, run: _Run) -> None:
        started = time.perf_counter()
        try:
            with own_calls():  # a probe of a dependency is not traffic to it
                value = self.function()
            outcome = self._outcome(value, started)
        except BaseException as error:  # the check's failure is its result
            outcome = self._failed(error, started)
        run.future.set_result(outcome)

    async def _call_async(self, run: _Run) -> None:
        started = time.perf_counter()
        try:
            with own_calls():  # this task's context only: the probe's caller is unaffected
                value = await asyncio.wait_for(self.function(), self.timeout)  # type: ignore[arg-type]
            outcome = self._outcome(value, started)
        except asyncio.TimeoutError as error:
            outcome = ("fail", self.timeout, None, error)
        except Exception as error:
            outcome = self._failed(error, started)
        run.future.set_result(outcome)

    def _call_async_in_thread(self, run: _Run) -> None:
        try:
            asyncio.run(self._call_async(run))
        except BaseException as error:
            if not run.future.done():
                run.future.set_result(("fail", 0.0, None, error))

    def _settle(self, run: _Run) -> CheckResult:
        """Turn a run into its result once (at completion or at its deadline)."""
        with self._lock:
            done = run.future.done()
            result = run.settled
            if result is None:
                # Async runs enforce their timeout themselves; a sync run that
                # finished after its deadline was already reported as timed out
                # to its waiters and stays that way (a small grace absorbs jitter).
                if done and (self.is_async or time.monotonic() <= run.deadline + 0.05):
                    status, duration, observation, error = run.future.result()
                else:
                    status, duration, observation, error = (
                        "fail", self.timeout, None, TimeoutError(),
                    )  # fmt: skip
                result = self._result(status, duration, observation, error)
                run.settled = result
                self._last, self._last_at = result, time.monotonic()
                previous, self._state = self._state, status
                # Recorded under the lock: a probe that finds the run settled
                # then returns after its telemetry, and two settlements cannot
                # write the gauge or the state-change lines out of order.
                self._record(result, previous)
            if done and self._run is run:
                self._run = None
        return result

    def _result(
        self,
        status: Status,
        duration: float,
        observation: Observation | None,
        error: BaseException | None,
    ) -> CheckResult:
        kind_of_error = None
        detail = None
        if error is not None:
            if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
                kind_of_error = "TimeoutError"
                detail = f"no answer within {self.timeout:g} s"
            elif isinstance(error, Warn):
                detail = safe_str(error) or None
            else:
                kind_of_error = exception_type(error)
                detail = safe_str(error) or kind_of_error
        elif status == "fail" and observation is None:
            kind_of_error = "CheckFailed"
        measurement, value, unit = "responseTime", round(duration * 1000.0, 3), "ms"
        if observation is not None:
            detail = observation.output or detail
            if observation.measurement is not None or observation.value is not None:
                measurement = observation.measurement or measurement
                value, unit = observation.value, observation.unit  # type: ignore[assignment]
        return CheckResult(
            name=self.name,
            kind=self.kind,
            critical=self.critical,
            component_type=self.component_type,
            status=status,
            duration=duration,
            time=time.time(),
            measurement=measurement,
            observed_value=value,
            observed_unit=unit,
            error_type=kind_of_error,
            detail=detail,
        )

    def _record(self, result: CheckResult, previous: Status | None) -> None:
        try:
            _STATUS_GAUGE.set(HEALTH_STATUS_VALUES[result.status], self._attrs)
            _DURATION.record(
                result.duration,
                {HEALTH_CHECK_NAME: self.name, HEALTH_CHECK_RESULT: result.status},
            )
        except Exception:
            report("health check telemetry")
        if result.status != previous and (previous is not None or result.status != "pass"):
            level = logging.INFO if result.status == "pass" else logging.WARNING
            reason = f" ({result.error_type})" if result.error_type else ""
            _logger.log(
                level,
                "watchkit: health check %r is now %s (was %s)%s",
                self.name,
                result.status,
                previous or "unknown",
                reason,
                extra={"health.check.name": self.name, "health.check.status": result.status},
            )

    def _waiting(self) -> CheckResult:
        """An interval check's result before its first background run."""
        return CheckResult(
            name=self.name,
            kind=self.kind,
            critical=self.critical,
            component_type=self.component_type,
            status="fail",
            duration=0.0,
            time=time.time(),
            error_type="NoResultYet",
            detail="the background check has not completed its first run",
        )


class _Workers:
    """Daemon worker threads for sync checks: reused, started on demand, gone when idle.

    Not a ThreadPoolExecutor: its threads are joined at interpreter exit, so a
    hung check would block the process from exiting. Coalescing keeps at most
    one run per check in flight, which bounds the threads a hung dependency holds.
    """

    def __init__(self, idle_timeout: float = 30.0) -> None:
        self.idle_timeout = idle_timeout
        self._tasks: queue.SimpleQueue[tuple[Callable[[_Run], None], _Run]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, target: Callable[[_Run], None], run: _Run) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1  # this task is that idle worker's
        self._tasks.put((target, run))
        if start:
            threading.Thread(target=self._work, name="watchkit-health-check", daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                target, run = self._tasks.get(timeout=self.idle_timeout)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0 and self._tasks.empty():
                        self._idle -= 1
                        return
                continue
            target(run)
            with self._lock:
                self._idle += 1

    def after_fork_in_child(self) -> None:
        # The parent's workers do not exist here; queued work went with them.
        self._lock = threading.Lock()
        self._tasks = queue.SimpleQueue()
        self._idle = 0


_WORKERS = _Workers()
_C = TypeVar("_C", bound=Callable[..., Any])


class HealthRegistry:
    """A set of health checks and the probes that run them.

    ``watchkit.health`` has one default registry behind its module functions;
    create your own to keep separate sets (in tests, for example).
    """

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._lock = threading.Lock()
        self._shutting_down = False
        self._scheduler: threading.Thread | None = None
        self._wake = threading.Event()
        _REGISTRIES.add(self)

    # Declaration ---------------------------------------------------------------
    def add(
        self,
        name: str,
        function: CheckFunction,
        *,
        kind: Kind = "readiness",
        critical: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        ttl: float | None = None,
        interval: float | None = None,
        component_type: ComponentType = "component",
    ) -> Check:
        """Declare a check; see :func:`watchkit.health.add`."""
        check = Check(
            name,
            function,
            kind=kind,
            critical=critical,
            timeout=timeout,
            ttl=ttl,
            interval=interval,
            component_type=component_type,
        )
        with self._lock:
            if name in self._checks:
                raise ValueError(
                    f"name={name!r} is invalid: a health check of that name already exists "
                    "(remove() it first to replace it)"
                )
            self._checks[name] = check
        if check.interval is not None:
            self._ensure_scheduler()
            self._wake.set()
        return check

    @overload
    def check(self, function: _C, /) -> _C: ...

    @overload
    def check(
        self,
        name: str | None = None,
        /,
        *,
        kind: Kind = "readiness",
        critical: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        ttl: float | None = None,
        interval: float | None = None,
        component_type: ComponentType = "component",
    ) -> Callable[[_C], _C]: ...

    def check(
        self,
        name: Any = None,
        /,
        *,
        kind: Kind = "readiness",
        critical: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        ttl: float | None = None,
        interval: float | None = None,
        component_type: ComponentType = "component",
    ) -> Any:
        """Decorator form of :meth:`add`; see :func:`watchkit.health.check`."""

        def decorate(function: _C) -> _C:
            self.add(
                check_name or function.__name__,
                function,
                kind=kind,
                critical=critical,
                timeout=timeout,
                ttl=ttl,
                interval=interval,
                component_type=component_type,
            )
            return function

        if callable(name):
            check_name = None
            return decorate(name)
        check_name = name
        return decorate

    def remove(self, name: str) -> None:
        """Remove the check called ``name`` (no error if there is none)."""
        with self._lock:
            self._checks.pop(name, None)

    def clear(self) -> None:
        """Remove every check and forget a shutdown in progress (for tests)."""
        with self._lock:
            self._checks.clear()
            self._shutting_down = False

    def checks(self, probe: Probe = "healthz") -> list[Check]:
        """The checks ``probe`` evaluates, in declaration order."""
        kinds = _PROBE_KINDS[probe]
        return [check for check in list(self._checks.values()) if check.kind in kinds]

    # Shutdown ------------------------------------------------------------------
    def begin_shutdown(self) -> None:
        """Turn readiness to ``fail`` (liveness stays ``pass``) so load balancers drain us."""
        if not self._shutting_down:
            self._shutting_down = True
            _logger.info("watchkit: shutting down; readiness now fails, liveness still passes")

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`begin_shutdown` was called."""
        return self._shutting_down

    # Probes --------------------------------------------------------------------
    def _begin(
        self, probe: Probe, loop: asyncio.AbstractEventLoop | None
    ) -> Report | list[tuple[Check, _Run | CheckResult]]:
        """Validate ``probe`` and start its checks: the report at once while shutting down."""
        if probe not in PROBES:
            raise ValueError(f"probe={probe!r} is invalid: use one of {', '.join(PROBES)}")
        if self._shutting_down and probe in ("readyz", "startupz"):
            return Report(probe, "fail", (), shutting_down=True)
        started: list[tuple[Check, _Run | CheckResult]] = []
        for check in self.checks(probe):
            if check.interval is not None:
                self._ensure_scheduler()
                last = check._last
                started.append((check, last if last is not None else check._waiting()))
            else:
                started.append((check, check._join_or_start(loop)))
        return started

    @staticmethod
    def _finish(probe: Probe, started: list[tuple[Check, _Run | CheckResult]]) -> Report:
        """The report, once every run is done or past its deadline (late ones time out)."""
        results = [
            item if isinstance(item, CheckResult) else check._settle(item)
            for check, item in started
        ]
        return Report(probe, _aggregate(results), tuple(results))

    @staticmethod
    def _budget(waiting: Iterable[_Run]) -> float:
        """Seconds until the first deadline of the runs still waited for."""
        return min(run.deadline for run in waiting) - time.monotonic()

    async def run(self, probe: Probe = "healthz") -> Report:
        """Run the checks of ``probe`` concurrently on the running event loop."""
        started = self._begin(probe, asyncio.get_running_loop())
        if isinstance(started, Report):
            return started
        waiting = {
            asyncio.wrap_future(item.future): item for _, item in started if isinstance(item, _Run)
        }
        while waiting and (budget := self._budget(waiting.values())) > 0:
            done, _ = await asyncio.wait(
                waiting, timeout=budget, return_when=asyncio.FIRST_COMPLETED
            )
            now = time.monotonic()
            waiting = {f: run for f, run in waiting.items() if f not in done and run.deadline > now}
        return self._finish(probe, started)

    def run_sync(self, probe: Probe = "healthz") -> Report:
        """Run the checks of ``probe`` concurrently from synchronous code (WSGI, Django)."""
        started = self._begin(probe, None)
        if isinstance(started, Report):
            return started
        waiting = {item.future: item for _, item in started if isinstance(item, _Run)}
        while waiting and (budget := self._budget(waiting.values())) > 0:
            done, _ = concurrent.futures.wait(
                waiting, timeout=budget, return_when=concurrent.futures.FIRST_COMPLETED
            )
            now = time.monotonic()
            waiting = {f: run for f, run in waiting.items() if f not in done and run.deadline > now}
        return self._finish(probe, started)

    # Background scheduler --------------------------------------------------------
    def _ensure_scheduler(self) -> None:
        thread = self._scheduler
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            thread = self._scheduler
            if thread is not None and thread.is_alive():
                return
            thread = threading.Thread(
                target=self._schedule, name="watchkit-health-scheduler", daemon=True
            )
            self._scheduler = thread
        thread.start()

    def _schedule(self) -> None:
        me = threading.current_thread()
        while self._scheduler is me:
            # Cleared before the tick, so a wake-up during it is not lost.
            self._wake.clear()
            try:
                wake = self._tick()
            except Exception:
                report("health scheduler")
                wake = 1.0
            self._wake.wait(wake)

    def _tick(self) -> float:
        now = time.monotonic()
        wake = 60.0
        for check in list(self._checks.values()):
            interval = check.interval
            if interval is None:
                continue
            run = check._run
            if run is not None and run.settled is None:
                if now >= run.deadline:
                    check._settle(run)
                else:
                    wake = min(wake, run.deadline - now)
                    continue
            if now >= check._next_due and (run is None or run.future.done()):
                check._next_due = now + interval
                started = check._join_or_start(None)
                if isinstance(started, _Run):
                    # Wake when it finishes (to schedule the next run from then).
                    started.future.add_done_callback(lambda _: self._wake.set())
                    wake = min(wake, check.timeout)
            wake = min(wake, max(check._next_due - now, 0.01))
        return max(wake, 0.01)

    def stop_scheduler(self) -> None:
        """Stop the background thread (it restarts when needed)."""
        self._scheduler = None
        self._wake.set()

    def _fresh_locks(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._scheduler = None  # its thread did not survive the fork
        for check in list(self._checks.values()):
            check._reset_after_fork()

    def _restart_after_fork(self) -> None:
        if any(check.interval is not None for check in self._checks.values()):
            self._ensure_scheduler()


@dataclass
class _Registries:
    items: weakref.WeakSet[HealthRegistry] = field(default_factory=weakref.WeakSet)

    def add(self, registry: HealthRegistry) -> None:
        self.items.add(registry)

    def fresh_locks(self) -> None:
        _WORKERS.after_fork_in_child()
        for registry in list(self.items):
            registry._fresh_locks()

    def restart(self) -> None:
        for registry in list(self.items):
            registry._restart_after_fork()


_REGISTRIES = _Registries()
fork.at_fork(fork.LOCKS, "health.locks", _REGISTRIES.fresh_locks)
fork.at_fork(fork.SERVICES, "health.scheduler", _REGISTRIES.restart)
