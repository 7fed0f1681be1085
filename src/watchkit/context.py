"""Keep work handed to other threads in the caller's trace.

A thread pool runs tasks in the worker thread's own context, so a span started
there would begin a new trace (opentelemetry-python-contrib#1009;
``loop.run_in_executor`` has the same gap). These helpers carry the caller's
context (the current span, and every other context variable, such as bound
log fields) along with the work::

    import watchkit.context

    with watchkit.flow("delivery.plan_route"):
        future = pool.submit(watchkit.context.wrap(compute_route), order)

    with watchkit.context.ContextExecutor(max_workers=4) as pool:
        pool.submit(compute_route, order)            # no wrap() needed

    route = await watchkit.context.run_in_executor(None, compute_route, order)

Each call of a wrapped function runs in a fresh copy of the context captured
when :func:`wrap` was called, so it may run in several threads at once and
changes it makes to context variables stay inside that call. A wrapped
``async def`` runs its body with the captured values (wherever the coroutine is
awaited, e.g. ``asyncio.run`` in a worker thread) and restores the awaiting
task's values when it finishes.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar, cast

__all__ = ["ContextExecutor", "run_in_executor", "submit", "wrap"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def wrap(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Bind ``fn`` to the current context: wherever it is called, it runs in that context.

    Example:
        >>> from concurrent.futures import ThreadPoolExecutor
        >>> import watchkit.context
        >>> with ThreadPoolExecutor(1) as pool:
        ...     pool.submit(watchkit.context.wrap(sum), [1, 2]).result()
        3
    """
    captured = contextvars.copy_context()
    if inspect.iscoroutinefunction(fn):
        return cast(Callable[_P, _R], _wrap_coroutine_function(fn, captured))

    @functools.wraps(fn)
    def in_context(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        return captured.copy().run(fn, *args, **kwargs)

    return in_context


def _wrap_coroutine_function(
    fn: Callable[..., Awaitable[Any]], captured: contextvars.Context
) -> Callable[..., Coroutine[Any, Any, Any]]:
    # Calling an ``async def`` only creates the coroutine; its body runs later,
    # in the context of whichever task awaits it. So the captured values are
    # installed around the body itself, and restored when it finishes.
    @functools.wraps(fn)
    async def in_context(*args: Any, **kwargs: Any) -> Any:
        tokens = [(var, var.set(value)) for var, value in captured.items()]
        try:
            return await fn(*args, **kwargs)
        finally:
            for var, token in reversed(tokens):
                var.reset(token)

    return in_context


def submit(
    executor: Executor, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs
) -> Future[_R]:
    """``executor.submit(fn, ...)`` with the caller's context, for any executor.

    Example:
        >>> from concurrent.futures import ThreadPoolExecutor
        >>> import watchkit.context
        >>> with ThreadPoolExecutor(1) as pool:
        ...     watchkit.context.submit(pool, max, 2, 7).result()
        7
    """
    return executor.submit(functools.partial(contextvars.copy_context().run, fn, *args, **kwargs))


class ContextExecutor(ThreadPoolExecutor):
    """A :class:`~concurrent.futures.ThreadPoolExecutor` whose tasks run in the submitter's context.

    ``submit`` and ``map`` capture the context at the call, so spans started
    by the task are children of the span that was current when it was submitted.

    Example:
        >>> import watchkit.context
        >>> with watchkit.context.ContextExecutor(max_workers=2) as pool:
        ...     list(pool.map(abs, [-1, -2]))
        [1, 2]
    """

    def submit(self, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_R]:
        return super().submit(
            functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        )


async def run_in_executor(executor: Executor | None, fn: Callable[..., _R], /, *args: Any) -> _R:
    """``loop.run_in_executor`` that keeps the caller's context (``None``: the default pool).

    Example:
        >>> import asyncio
        >>> import watchkit.context
        >>> asyncio.run(watchkit.context.run_in_executor(None, pow, 2, 5))
        32
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, contextvars.copy_context().run, fn, *args)
