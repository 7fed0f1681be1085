"""The one wrapper factory behind ``@watchkit.traced`` and ``@watchkit.flow(...)``.

The kind of callable is decided once, at decoration time: plain function (and
method, classmethod, staticmethod), coroutine function, generator function or
async generator function (for an instance of a class with ``__call__``, the kind
of that method). A plain function that returns an awaitable is a plain function:
its span ends when the awaitable is returned, not when it is awaited. The
wrapper is a :class:`wrapt.FunctionWrapper`, so
``inspect.signature``, ``__wrapped__``, ``__name__``, ``__doc__``,
``inspect.iscoroutinefunction`` and friends, method binding and stacking with
other decorators in either order keep working; like a plain function, a
decorated module-level function (or method) pickles by reference and ``copy``
returns it unchanged.

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

import functools
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
    if callable(target) and not (
        inspect.isroutine(target)
        or isinstance(target, (type, functools.partial))
        or inspect.iscoroutinefunction(target)
    ):
        # An instance whose class defines ``async def __call__`` (or a
        # generator ``__call__``): its kind is the kind of that method.
        target = type(target).__call__
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
    return cast(F, _FunctionWrapper(fn, wrapper))


class _BoundFunctionWrapper(wrapt.BoundFunctionWrapper[..., Any]):
    """A decorated function bound to an instance or class (what ``obj.method`` gives)."""

    def __reduce_ex__(self, protocol: Any) -> Any:
        # As a bound method pickles: look the method up again on its object.
        owner = getattr(self.__wrapped__, "__self__", None)
        if owner is None:  # a function or staticmethod read from its class
            owner = self._self_owner
        if owner is None:
            return self.__qualname__
        return getattr, (owner, self.__name__)

    __reduce__ = __reduce_ex__  # type: ignore[assignment]

    # copy / deepcopy go through __reduce_ex__, as for a plain bound method.
    __copy__ = __deepcopy__ = None  # type: ignore[assignment]


class _FunctionWrapper(wrapt.FunctionWrapper[..., Any]):
    """``wrapt.FunctionWrapper`` that pickles and copies as the function it wraps.

    A plain function is pickled by reference (module and qualified name) and
    ``copy`` returns it unchanged; wrapt's proxies refuse both, which broke
    ``ProcessPoolExecutor.submit(decorated_fn)``, ``multiprocessing`` and
    ``copy.deepcopy`` of objects holding a decorated function.
    """

    __bound_function_wrapper__ = _BoundFunctionWrapper

    def __reduce_ex__(self, protocol: Any) -> Any:
        # A string makes pickle save a global reference: module + qualified
        # name, checked to resolve to this very object (PicklingError if not).
        return self.__qualname__

    __reduce__ = __reduce_ex__  # type: ignore[assignment]

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: Any) -> Any:
        return self


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
