"""Context propagation into thread pools: work stays in the caller's trace."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace

import watchkit
import watchkit.context
from watchkit.testing import TelemetryCapture

_LOG_FIELD: contextvars.ContextVar[str] = contextvars.ContextVar("log_field", default="-")


@watchkit.traced("route.compute")
def compute_route(order_id: str) -> str:
    return f"{order_id}:{threading.current_thread().name}:{_LOG_FIELD.get()}"


def _assert_child_of(telemetry: TelemetryCapture, parent_name: str, child_name: str) -> None:
    parent = telemetry.span(parent_name)
    for child in telemetry.spans(child_name):
        assert child.context.trace_id == parent.context.trace_id
        assert child.parent is not None and child.parent.span_id == parent.context.span_id


def test_plain_thread_pool_loses_the_trace(telemetry: TelemetryCapture) -> None:
    """The gap being fixed: without help, the worker's span starts a new trace."""
    with ThreadPoolExecutor(1) as pool, watchkit.flow("plan.plain"):
        pool.submit(compute_route, "o-1").result()
    assert telemetry.span("route.compute").parent is None


def test_wrap_keeps_the_callers_trace_and_context_vars(telemetry: TelemetryCapture) -> None:
    """wrap(fn): the worker's span is a child of the caller's span; other context vars follow."""
    _LOG_FIELD.set("req-7")
    with ThreadPoolExecutor(2) as pool, watchkit.flow("plan.wrapped"):
        result = pool.submit(watchkit.context.wrap(compute_route), "o-1").result()
    assert result.endswith(":req-7")
    assert "ThreadPoolExecutor" in result
    _assert_child_of(telemetry, "plan.wrapped", "route.compute")


def test_wrapped_function_can_run_concurrently(telemetry: TelemetryCapture) -> None:
    """One wrapped function called from several threads at once (fresh context copy per call)."""
    with ThreadPoolExecutor(4) as pool, watchkit.flow("plan.fanout"):
        task = watchkit.context.wrap(compute_route)
        results = list(pool.map(task, [f"o-{i}" for i in range(20)]))
    assert len(results) == 20
    assert len(telemetry.spans("route.compute")) == 20
    _assert_child_of(telemetry, "plan.fanout", "route.compute")


def test_context_executor_submit_and_map(telemetry: TelemetryCapture) -> None:
    """ContextExecutor needs no wrap(): submit and map carry the submitter's context."""
    with watchkit.context.ContextExecutor(max_workers=2) as pool, watchkit.flow("plan.executor"):
        pool.submit(compute_route, "o-1").result()
        assert len(list(pool.map(compute_route, ["o-2", "o-3"]))) == 2
    _assert_child_of(telemetry, "plan.executor", "route.compute")
    assert len(telemetry.spans("route.compute")) == 3


def test_submit_helper_on_any_executor(telemetry: TelemetryCapture) -> None:
    """context.submit(executor, fn, ...) works with an existing executor."""
    with ThreadPoolExecutor(1) as pool, watchkit.flow("plan.submit"):
        watchkit.context.submit(pool, compute_route, "o-1").result()
    _assert_child_of(telemetry, "plan.submit", "route.compute")


async def test_run_in_executor_keeps_the_trace(telemetry: TelemetryCapture) -> None:
    """await context.run_in_executor(None, fn, ...) from a flow: the child is in its trace."""
    async with watchkit.flow("plan.async"):
        await watchkit.context.run_in_executor(None, compute_route, "o-1")
        await asyncio.sleep(0)
    _assert_child_of(telemetry, "plan.async", "route.compute")
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_wrap_preserves_metadata() -> None:
    """wrap() keeps the name and docstring of the function."""
    wrapped = watchkit.context.wrap(compute_route)
    assert wrapped.__name__ == "compute_route"
    assert wrapped.__wrapped__ is compute_route  # type: ignore[attr-defined]


def test_exceptions_in_the_worker_reach_the_caller_unchanged() -> None:
    """wrap, submit and ContextExecutor re-raise the worker's exception object itself."""
    boom = KeyError("o-1")

    def fail() -> None:
        raise boom

    with ThreadPoolExecutor(1) as pool, watchkit.context.ContextExecutor(1) as own:
        for future in (
            pool.submit(watchkit.context.wrap(fail)),
            watchkit.context.submit(pool, fail),
            own.submit(fail),
        ):
            with pytest.raises(KeyError) as caught:
                future.result()
            assert caught.value is boom


@watchkit.traced("route.compute_async")
async def compute_route_async(order_id: str) -> str:
    await asyncio.sleep(0)
    return f"{order_id}:{_LOG_FIELD.get()}"


def test_wrap_of_a_coroutine_function_runs_its_body_in_the_callers_context(
    telemetry: TelemetryCapture,
) -> None:
    """An ``async def`` wrapped in one thread and awaited on a loop in another keeps the trace."""
    token = _LOG_FIELD.set("req-9")
    try:
        with watchkit.flow("plan.async_in_thread"):
            task = watchkit.context.wrap(compute_route_async)
    finally:
        _LOG_FIELD.reset(token)
    assert inspect.iscoroutinefunction(task)
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(asyncio.run, task("o-1")).result()
    assert result == "o-1:req-9"
    _assert_child_of(telemetry, "plan.async_in_thread", "route.compute_async")


async def test_wrapped_coroutine_leaves_the_awaiting_task_context_alone(
    telemetry: TelemetryCapture,
) -> None:
    """Awaited in a task, the captured values apply inside the call only."""
    _LOG_FIELD.set("captured")
    with watchkit.flow("plan.captured"):
        task = watchkit.context.wrap(compute_route_async)
    _LOG_FIELD.set("task")
    async with watchkit.flow("plan.awaiting"):
        assert await task("o-2") == "o-2:captured"
        assert _LOG_FIELD.get() == "task"
        assert trace.get_current_span().name == "plan.awaiting"  # type: ignore[attr-defined]
    _assert_child_of(telemetry, "plan.captured", "route.compute_async")
