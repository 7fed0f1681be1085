"""Synthetic journeys: scripted multi-step HTTP checks of critical user flows.

A journey is an ``async def`` taking a :class:`Journey`. Each request is a
named step; steps share ``journey.state`` (a token from "login" used by
"place order") and one httpx client (cookies persist). Every step asserts a
2xx status unless told otherwise, and can assert JSON fields and a latency
budget; the first failing step fails the run, which says which step and why.

Telemetry of a run: one INTERNAL span ``synthetic <journey>`` with a CLIENT
span per step whose ``traceparent`` is sent, so the server's span joins the
trace; ``watchkit.synthetic.runs`` (counter: journey, result),
``watchkit.synthetic.duration`` and ``watchkit.synthetic.step.duration``. Why
a run failed (``error.type``, the step, the reason) is on its spans and in the
:class:`RunResult`, not on the counter: its series are known when the journey
is declared, so they start at 0 and an alert on ``increase()`` sees a journey's
first failure.
Requests carry ``User-Agent: watchkit-synthetic/<version>``, which watchkit's
HTTP middleware marks ``user_agent.synthetic.type=test``.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, StatusCode

from watchkit._internal import semconv
from watchkit._internal.errors import exception_type, safe_str
from watchkit._internal.guard import report
from watchkit._internal.state import bound, get_tracer
from watchkit._internal.suppression import own_calls
from watchkit._metrics import Counter, Histogram
from watchkit._version import __version__

if TYPE_CHECKING:
    import httpx

__all__ = [
    "Journey",
    "JourneyDefinition",
    "Result",
    "RunResult",
    "StepFailed",
    "StepResult",
    "journey",
    "journeys",
    "run",
    "user_agent",
]

_USER_AGENT = f"{semconv.SYNTHETIC_USER_AGENT_PREFIX}{__version__}"


def user_agent() -> str:
    """The ``User-Agent`` synthetic requests send: ``watchkit-synthetic/<version>``.

    Example:
        >>> user_agent().startswith("watchkit-synthetic/")
        True
    """
    return _USER_AGENT


Result = Literal["pass", "warn", "fail"]
_RESULTS: tuple[Result, ...] = ("pass", "warn", "fail")
_MISSING = object()

_TRACER = bound(get_tracer)
_RUNS = Counter(semconv.SYNTHETIC_RUNS, semconv.SYNTHETIC_RUNS_UNIT, "Synthetic journey runs.")
_DURATION = Histogram(
    semconv.SYNTHETIC_DURATION, semconv.UNIT_SECONDS, "Duration of synthetic journey runs.", None
)
_STEP_DURATION = Histogram(
    semconv.SYNTHETIC_STEP_DURATION, semconv.UNIT_SECONDS, "Duration of synthetic steps.", None
)


class StepFailed(AssertionError):
    """A step's assertion failed: ``step`` names it, ``error_type`` is low-cardinality."""

    def __init__(self, step: str, reason: str, error_type: str) -> None:
        super().__init__(f"step {step!r} failed: {reason}")
        self.step = step
        self.reason = reason
        self.error_type = error_type


@dataclass(frozen=True)
class StepResult:
    """One step of a run."""

    name: str
    result: Result
    duration: float
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    """One run of a journey."""

    journey: str
    result: Result
    duration: float
    steps: tuple[StepResult, ...]
    failed_step: str | None = None
    error: str | None = None
    error_type: str | None = None

    @property
    def ok(self) -> bool:
        """True unless the run failed."""
        return self.result != "fail"

    def __str__(self) -> str:
        head = f"{self.journey}: {self.result} in {self.duration * 1000:.0f} ms"
        if self.failed_step is not None:
            return f"{head} (step {self.failed_step!r}: {self.error})"
        return head


JourneyFunction = Callable[["Journey"], Awaitable[None]]


@dataclass
class JourneyDefinition:
    """A declared journey: its function and options."""

    name: str
    function: JourneyFunction
    interval: float | None = None
    timeout: float = 30.0
    degraded_after: float | None = None
    base_url: str | None = None


def _lookup(document: Any, path: str) -> Any:
    value = document
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


@dataclass
class Journey:
    """What a journey function receives: the client, shared state and the step methods."""

    name: str
    client: httpx.AsyncClient
    state: dict[str, Any] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)

    async def get(self, step: str, url: str, **options: Any) -> httpx.Response:
        """A GET step; see :meth:`request`."""
        return await self.request(step, "GET", url, **options)

    async def post(self, step: str, url: str, **options: Any) -> httpx.Response:
        """A POST step; see :meth:`request`."""
        return await self.request(step, "POST", url, **options)

    async def request(
        self,
        step: str,
        method: str,
        url: str,
        *,
        expect_status: int | Callable[[int], bool] | None = None,
        expect_json: Mapping[str, Any] | None = None,
        max_latency: float | None = None,
        **options: Any,
    ) -> httpx.Response:
        """Send one request as the step called ``step`` and check it.

        Args:
            step: the step's name (span, metric attribute, failure message).
            method: HTTP method.
            url: absolute, or relative to the journey's base URL.
            expect_status: the status wanted, or a predicate; default any 2xx.
            expect_json: ``{"dotted.path": expected}``; ``expected`` may be a
                predicate. Paths index lists with numbers (``items.0.id``).
            max_latency: seconds the response may take (e.g. ``0.2``).
            **options: passed to ``httpx.AsyncClient.request`` (``json=``,
                ``headers=``, ``params=`` ...).

        Raises:
            StepFailed: an assertion failed (the run fails, naming this step).
        """
        tracer = _TRACER.get()
        headers = dict(options.pop("headers", None) or {})
        started = time.perf_counter()
        status_code = None
        with tracer.start_as_current_span(
            f"synthetic step {step}",
            kind=SpanKind.CLIENT,
            attributes={
                semconv.SYNTHETIC_JOURNEY: self.name,
                semconv.SYNTHETIC_STEP: step,
                semconv.HTTP_REQUEST_METHOD: method,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            propagate.inject(headers)  # the server's span joins this trace
            try:
                # This step's span is the CLIENT span; the client's own hooks would
                # add a second one and count the request as dependency traffic.
                with own_calls():
                    response = await self.client.request(method, url, headers=headers, **options)
                elapsed = time.perf_counter() - started
                status_code = response.status_code
                span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, status_code)
                self._check(step, response, elapsed, expect_status, expect_json, max_latency)
            except Exception as error:  # cancellation (a journey timeout) passes through
                elapsed = time.perf_counter() - started
                failure = (
                    error
                    if isinstance(error, StepFailed)
                    else StepFailed(
                        step, safe_str(error) or exception_type(error), exception_type(error)
                    )
                )
                span.set_status(StatusCode.ERROR, failure.reason)
                span.set_attribute(semconv.ERROR_TYPE, failure.error_type)
                self._record_step(step, "fail", elapsed, status_code, failure.reason)
                if failure is error:
                    raise
                raise failure from error
        self._record_step(step, "pass", elapsed, status_code, None)
        return response

    @staticmethod
    def _check(
        step: str,
        response: httpx.Response,
        elapsed: float,
        expect_status: int | Callable[[int], bool] | None,
        expect_json: Mapping[str, Any] | None,
        max_latency: float | None,
    ) -> None:
        code = response.status_code
        if expect_status is None:
            ok = 200 <= code < 300
        elif callable(expect_status):
            ok = bool(expect_status(code))
        else:
            ok = code == expect_status
        if not ok:
            wanted = "2xx" if expect_status is None else str(expect_status)
            raise StepFailed(step, f"HTTP {code}, expected {wanted}", str(code))
        if max_latency is not None and elapsed > max_latency:
            raise StepFailed(
                step,
                f"took {elapsed * 1000:.0f} ms, budget {max_latency * 1000:.0f} ms",
                "latency_budget",
            )
        if expect_json:
            try:
                document = response.json()
            except ValueError:
                raise StepFailed(step, "response is not JSON", "json_mismatch") from None
            for path, expected in expect_json.items():
                actual = _lookup(document, path)
                if actual is _MISSING:
                    raise StepFailed(step, f"JSON field {path!r} missing", "json_mismatch")
                good = expected(actual) if callable(expected) else actual == expected
                if not good:
                    raise StepFailed(
                        step, f"JSON field {path!r} is {actual!r}, expected {expected!r}",
                        "json_mismatch",
                    )  # fmt: skip

    def _record_step(
        self, step: str, result: Result, duration: float, code: int | None, error: str | None
    ) -> None:
        self.steps.append(StepResult(step, result, duration, code, error))
        try:
            _STEP_DURATION.record(
                duration,
                {
                    semconv.SYNTHETIC_JOURNEY: self.name,
                    semconv.SYNTHETIC_STEP: step,
                    semconv.SYNTHETIC_RESULT: result,
                },
            )
        except Exception:
            report("synthetic step telemetry")


_JOURNEYS: dict[str, JourneyDefinition] = {}


def _positive(value: object, parameter: str, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{parameter}={value!r} is invalid: use a positive number of seconds")
    return float(value)


def journey(
    name: str | None = None,
    *,
    interval: float | None = None,
    timeout: float = 30.0,
    degraded_after: float | None = None,
    base_url: str | None = None,
) -> Callable[[JourneyFunction], JourneyFunction]:
    """Declare a journey: ``@synthetic.journey("track order", interval=300)``.

    Args:
        name: the journey's name (default: the function's).
        interval: seconds between runs for the scheduler and the CLI's default.
        timeout: seconds a whole run may take before it fails.
        degraded_after: a passing run slower than this is ``warn``.
        base_url: the base of relative step URLs (the CLI's ``--base-url`` wins).

    Raises:
        ValueError: a bad argument, a non-async function or a duplicate name.
    """
    checked_interval = _positive(interval, "interval", True)
    checked_timeout = _positive(timeout, "timeout", False) or 30.0
    checked_degraded = _positive(degraded_after, "degraded_after", True)

    def decorate(function: JourneyFunction) -> JourneyFunction:
        if not inspect.iscoroutinefunction(function):
            raise ValueError(
                f"journey {function!r} is invalid: use an async def taking the Journey"
            )
        journey_name = name or function.__name__
        if journey_name in _JOURNEYS and _JOURNEYS[journey_name].function is not function:
            raise ValueError(f"name={journey_name!r} is invalid: a journey of that name exists")
        _JOURNEYS[journey_name] = JourneyDefinition(
            journey_name, function, checked_interval, checked_timeout, checked_degraded, base_url
        )
        _start_at_zero(journey_name)
        return function

    return decorate


def _start_at_zero(name: str) -> None:
    # Prometheus' increase() needs a 0 before a series' first 1: without it a
    # journey's first failure in a process would not fire the synthetic rule.
    _RUNS.start_at_zero(
        *({semconv.SYNTHETIC_JOURNEY: name, semconv.SYNTHETIC_RESULT: r} for r in _RESULTS)
    )


def journeys() -> dict[str, JourneyDefinition]:
    """Every declared journey, by name."""
    return dict(_JOURNEYS)


async def run(
    definition: JourneyDefinition | str,
    *,
    base_url: str | None = None,
    client: httpx.AsyncClient | None = None,
) -> RunResult:
    """Run one journey once; never raises for a failing journey (see the result).

    Args:
        definition: the journey or its name.
        base_url: base of relative URLs (default: the journey's ``base_url``).
        client: an httpx client to use (default: a fresh one per run, so no
            cookie survives from one run to the next).
    """
    import httpx

    if isinstance(definition, str):
        found = _JOURNEYS.get(definition)
        if found is None:
            raise ValueError(f"journey {definition!r} is not declared")
        definition = found
    base = base_url or definition.base_url or ""
    own = client is None
    if client is None:
        client = httpx.AsyncClient(
            base_url=base, headers={"User-Agent": _USER_AGENT}, timeout=definition.timeout
        )
    state = Journey(definition.name, client)
    tracer = _TRACER.get()
    started = time.perf_counter()
    failed_step = error = kind = None
    result: Result = "pass"
    try:
        with tracer.start_as_current_span(
            f"synthetic {definition.name}",
            attributes={semconv.SYNTHETIC_JOURNEY: definition.name},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await asyncio.wait_for(definition.function(state), definition.timeout)
            except StepFailed as failure:
                result, failed_step, error, kind = (
                    "fail",
                    failure.step,
                    failure.reason,
                    failure.error_type,
                )
            except asyncio.TimeoutError:
                result, error, kind = (
                    "fail",
                    f"no result within {definition.timeout:g} s",
                    "timeout",
                )
            except Exception as failure:
                result, error, kind = "fail", safe_str(failure), exception_type(failure)
            duration = time.perf_counter() - started
            if (
                result == "pass"
                and definition.degraded_after is not None
                and duration > definition.degraded_after
            ):
                result = "warn"
            span.set_attribute(semconv.SYNTHETIC_RESULT, result)
            if result == "fail":
                span.set_status(StatusCode.ERROR, error)
                span.set_attribute(semconv.ERROR_TYPE, kind or "_OTHER")
    finally:
        if own:
            await client.aclose()
    attrs: dict[str, Any] = {
        semconv.SYNTHETIC_JOURNEY: definition.name,
        semconv.SYNTHETIC_RESULT: result,
    }
    try:
        _DURATION.record(duration, attrs)
        _RUNS.add(1, attrs)
    except Exception:
        report("synthetic run telemetry")
    return RunResult(
        definition.name, result, duration, tuple(state.steps), failed_step, error, kind
    )
