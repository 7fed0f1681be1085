"""The one wrapper factory behind ``@watchkit.traced`` and ``@watchkit.flow(...)``.

The kind of callable is decided once, at decoration time: plain function (and
method, classmethod, staticmethod), coroutine function, generator function or
async generator function. The wrapper is a :class:`wrapt.FunctionWrapper`, so
``inspect.signature``, ``__wrapped__``, ``__name__``, ``__doc__``,
``inspect.iscoroutinefunction`` and friends, method binding and stacking with
other decorators in either order keep working.

An :class:`Instrumentation` supplies four hooks; they never raise (they
report their own failures through the guard) and user exceptions pass through
unchanged:

- ``begin(instance, args, kwargs)`` starts the work and makes it current;
  ``None`` means "run the function uninstrumented" (disabled or failed);
- ``end(run, error)`` finishes it (``error`` is the exception leaving the
  function, or ``None``) and restores the previous context;
- ``pause(run)`` / ``resume(run)`` restore / re-install the context while a
  generator is suspended at a ``yield``, so the span is current only while the
  generator body runs and never leaks into the consumer's code.

Generators: the work begins at the first ``next()`` / ``send()`` /
``__anext__()`` (not when the generator object is created) and ends when the
iteration is exhausted, raises, or is closed (closing early is a normal end,
not an error). ``send``, ``throw`` and ``close`` (``asend``, ``athrow``,
``aclose``) are forwarded to the wrapped generator.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, Protocol, TypeVar, cast

import wrapt

__all__ = ["Instrumentation", "callable_kind", "instrument", "unwrap_descriptor"]

F = TypeVar("F", bound=Callable[..., Any])


class Instrumentation(Protocol):
    """The hooks a decorator provides to :func:`instrument`."""

    def begin(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...

    def end(self, run: Any, error: BaseException | None) -> None: ...

    def pause(self, run: Any) -> None: ...

    def resume(self, run: Any) -> None: ...


def unwrap_descriptor(fn: Any) -> Any:
    """The function inside a ``classmethod`` / ``staticmethod`` object, else ``fn``."""
    if isinstance(fn, (classmethod, staticmethod)):
        return fn.__func__
    return fn


def callable_kind(fn: Any) -> str:
    """``"async_generator"``, ``"coroutine"``, ``"generator"`` or ``"function"``."""
    target = unwrap_descriptor(fn)
    if inspect.isasyncgenfunction(target):
        return "async_generator"
    if inspect.iscoroutinefunction(target):
        return "coroutine"
    if inspect.isgeneratorfunction(target):
        return "generator"
    return "function"


def instrument(fn: F, hooks: Instrumentation) -> F:
    """Wrap ``fn`` so that every call (or iteration) runs inside ``hooks``."""
    if not callable(unwrap_descriptor(fn)):
        raise TypeError(f"cannot instrument {fn!r}: it is not callable")
    kind = callable_kind(fn)
    if kind == "async_generator":
        wrapper = _async_generator_wrapper(hooks)
    elif kind == "coroutine":
        wrapper = _coroutine_wrapper(hooks)
    elif kind == "generator":
        wrapper = _generator_wrapper(hooks)
    else:
        wrapper = _function_wrapper(hooks)
    return cast(F, wrapt.FunctionWrapper(fn, wrapper))


_Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]


def _function_wrapper(hooks: Instrumentation) -> _Wrapper:
    begin, end = hooks.begin, hooks.end

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = begin(instance, args, kwargs)
        if run is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            end(run, error)
            raise
        end(run, None)
        return result

    return wrapper


def _coroutine_wrapper(hooks: Instrumentation) -> _Wrapper:
    begin, end = hooks.begin, hooks.end

    # The wrapped coroutine is created inside ours, so a coroutine that is
    # cancelled before it starts leaves no never-awaited inner coroutine behind.
    async def wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        run = begin(instance, args, kwargs)
        if run is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            end(run, error)
            raise
        end(run, None)
        return result

    return wrapper


def _generator_wrapper(hooks: Instrumentation) -> _Wrapper:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # Created eagerly, as a plain generator function would be: wrong
        # arguments raise TypeError at the call, not at the first next().
        return _delegate(wrapped(*args, **kwargs), hooks, instance, args, kwargs)

    return wrapper


def _delegate(
    inner: Generator[Any, Any, Any],
    hooks: Instrumentation,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Generator[Any, Any, Any]:
    run = hooks.begin(instance, args, kwargs)
    if run is None:
        return (yield from inner)
    end, pause, resume = hooks.end, hooks.pause, hooks.resume
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            if thrown is None:
                item = inner.send(sent)
            else:
                error_in, thrown = thrown, None
                item = inner.throw(error_in)
        except StopIteration as stop:
            end(run, None)
            return stop.value
        except BaseException as error:
            end(run, error)
            raise
        pause(run)
        try:
            sent = yield item
        except GeneratorExit:
            resume(run)
            try:
                inner.close()
            except BaseException as error:
                end(run, error)
                raise
            end(run, None)
            raise
        except BaseException as error:
            thrown, sent = error, None
        resume(run)


def _async_generator_wrapper(hooks: Instrumentation) -> _Wrapper:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _adelegate(wrapped(*args, **kwargs), hooks, instance, args, kwargs)

    return wrapper


async def _adelegate(
    inner: AsyncGenerator[Any, Any],
    hooks: Instrumentation,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> AsyncGenerator[Any, Any]:
    run = hooks.begin(instance, args, kwargs)
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            if thrown is None:
                item = await inner.asend(sent)
            else:
                error_in, thrown = thrown, None
                item = await inner.athrow(error_in)
        except StopAsyncIteration:
            if run is not None:
                hooks.end(run, None)
            return
        except BaseException as error:
            if run is not None:
                hooks.end(run, error)
            raise
        if run is not None:
            hooks.pause(run)
        try:
            sent = yield item
        except GeneratorExit:
            if run is not None:
                hooks.resume(run)
            try:
                await inner.aclose()
            except BaseException as error:
                if run is not None:
                    hooks.end(run, error)
                raise
            if run is not None:
                hooks.end(run, None)
            raise
        except BaseException as error:
            thrown, sent = error, None
        if run is not None:
            hooks.resume(run)
