"""Django's cache framework: every backend in ``django.core.cache.caches`` as a watchkit cache.

Backends are created lazily, one per alias and thread (or async context), by
the ``caches`` handler; :func:`install` wraps the handler's
``create_connection`` on the ``caches`` object itself, so every backend it
creates from then on gets recording methods (instance attributes: the
backend's class, ``isinstance`` checks and unwrapped backends elsewhere are
untouched). ``cache.name`` is the alias.

- ``get`` asks the backend with a private sentinel as the default, so a cached
  ``None`` is a hit and only an absent key is a miss (the caller's default is
  returned then); ``get_many`` counts each key; ``get_or_set`` (and its async
  form) is one ``get`` hit or miss;
- writes (``set``, ``add``, ``set_many``, ``touch``, ``incr``, ``decr``),
  deletions and ``clear`` are recorded without a result; ``has_key`` likewise;
- an exception is recorded as ``error`` and re-raised.

Django's default implementations call each other (``get_many`` calls ``get``,
``decr`` calls ``incr``, the async methods run the sync ones in a thread): only
the outermost call is recorded, through a context variable.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

from watchkit._cache import ERROR, HIT, MISS, record_operation
from watchkit._internal.guard import report

__all__ = ["install", "instrument_backend", "uninstall"]

_MARK: Final = "_watchkit_cache"
_MISSING: Final = object()
_WRITES: Final = (
    "set", "add", "set_many", "touch", "incr", "decr",
    "delete", "delete_many", "clear", "has_key",
)  # fmt: skip


class _Outer:
    """The operation being recorded in this context; nested backend calls are not."""

    __slots__ = ("first_get",)

    def __init__(self, first_get: bool = False) -> None:
        # get_or_set: its first inner get() is the lookup that counts.
        self.first_get = first_get


_outer: contextvars.ContextVar[_Outer | None] = contextvars.ContextVar(
    "watchkit_django_cache", default=None
)
_lock = threading.Lock()
_aliases: frozenset[str] | None = None
_installed = False


def _get(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def get(key: Any, default: Any = None, version: Any = None) -> Any:
        outer = _outer.get()
        if outer is not None:
            if not outer.first_get:
                return method(key, default, version=version)
            outer.first_get = False
            token = None
        else:
            token = _outer.set(_Outer())
        start = time.perf_counter()
        try:
            value = method(key, _MISSING, version=version)
        except Exception:
            record_operation(name, "get", ERROR, time.perf_counter() - start)
            raise
        finally:
            if token is not None:
                _outer.reset(token)
        record_operation(
            name, "get", MISS if value is _MISSING else HIT, time.perf_counter() - start
        )
        return default if value is _MISSING else value

    return get


def _get_many(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def get_many(keys: Iterable[Any], version: Any = None) -> Any:
        if _outer.get() is not None:
            return method(keys, version=version)
        keys = list(keys)
        token = _outer.set(_Outer())
        start = time.perf_counter()
        try:
            found = method(keys, version=version)
        except Exception:
            record_operation(name, "get_many", ERROR, time.perf_counter() - start)
            raise
        finally:
            _outer.reset(token)
        duration = time.perf_counter() - start
        if keys:
            hits = len(found)
            share = duration / len(keys)
            for index in range(len(keys)):
                record_operation(name, "get_many", HIT if index < hits else MISS, share)
        return found

    return get_many


def _get_or_set(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def get_or_set(*args: Any, **kwargs: Any) -> Any:
        if _outer.get() is not None:
            return method(*args, **kwargs)
        token = _outer.set(_Outer(first_get=True))
        try:
            return method(*args, **kwargs)
        finally:
            _outer.reset(token)

    return get_or_set


def _aget_or_set(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def aget_or_set(*args: Any, **kwargs: Any) -> Any:
        if _outer.get() is not None:
            return await method(*args, **kwargs)
        token = _outer.set(_Outer(first_get=True))
        try:
            return await method(*args, **kwargs)
        finally:
            _outer.reset(token)

    return aget_or_set


def _other(name: str, operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        if _outer.get() is not None:
            return method(*args, **kwargs)
        token = _outer.set(_Outer())
        start = time.perf_counter()
        try:
            result = method(*args, **kwargs)
        except Exception:
            record_operation(name, operation, ERROR, time.perf_counter() - start)
            raise
        finally:
            _outer.reset(token)
        record_operation(name, operation, None, time.perf_counter() - start)
        return result

    return call


def instrument_backend(backend: Any, name: str) -> Any:
    """Record ``backend``'s operations as cache ``name`` (idempotent); return ``backend``."""
    if backend.__dict__.get(_MARK) is not None:
        return backend
    backend.get = _get(name, backend.get)
    backend.get_many = _get_many(name, backend.get_many)
    backend.get_or_set = _get_or_set(name, backend.get_or_set)
    backend.aget_or_set = _aget_or_set(name, backend.aget_or_set)
    for operation in _WRITES:
        method = getattr(backend, operation, None)
        if method is not None:
            setattr(backend, operation, _other(name, operation, method))
    backend.__dict__[_MARK] = name
    return backend


def _create_connection(original: Callable[[str], Any]) -> Callable[[str], Any]:
    @functools.wraps(original)
    def create_connection(alias: str) -> Any:
        backend = original(alias)
        if _installed and (_aliases is None or alias in _aliases):
            try:
                instrument_backend(backend, alias)
            except Exception:
                report("django cache hook")
        return backend

    create_connection.__dict__[_MARK] = True
    return create_connection


def install(aliases: Iterable[str] | None = None) -> None:
    """Record the backends of ``aliases`` (default: every alias) from now on (idempotent).

    Raises:
        ValueError: an alias is not in ``settings.CACHES``.
    """
    global _aliases, _installed
    from django.core.cache import caches  # type: ignore[import-untyped]

    chosen: frozenset[str] | None = None
    if aliases is not None:
        if isinstance(aliases, str):
            raise ValueError(f"aliases must be a list of cache aliases, got {aliases!r}")
        chosen = frozenset(aliases)
        unknown = sorted(chosen - set(caches.settings))
        if unknown:
            accepted = sorted(caches.settings)
            raise ValueError(
                f"aliases: {unknown!r} not in settings.CACHES (accepted: {accepted!r})"
            )
    with _lock:
        _aliases = chosen
        current = caches.__dict__.get("create_connection")
        if current is None or not getattr(current, _MARK, False):
            caches.create_connection = _create_connection(
                type(caches).create_connection.__get__(caches)
            )
        _installed = True
    # Backends this thread created before: wrap them too.
    for alias in caches.settings:
        backend = getattr(caches._connections, alias, None)
        if backend is not None and (chosen is None or alias in chosen):
            instrument_backend(backend, alias)


def uninstall() -> None:
    """Stop wrapping new backends and drop this thread's backends (they are re-created plain)."""
    global _installed
    from django.core.cache import caches

    with _lock:
        _installed = False
        caches.__dict__.pop("create_connection", None)
    for alias in caches.settings:
        backend = getattr(caches._connections, alias, None)
        if backend is not None and backend.__dict__.get(_MARK) is not None:
            backend.close()
            delattr(caches._connections, alias)
