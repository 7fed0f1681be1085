"""``async with`` for scopes whose entering and leaving never wait."""

from __future__ import annotations

from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["SyncScope"]

_T = TypeVar("_T")


class SyncScope(Generic[_T]):
    """A context manager usable with ``async with`` too, by running its sync methods.

    For scopes (a flow, a span) that start and end without awaiting anything:
    async code writes ``async with`` as it would for any scope, and pays one
    coroutine frame. Subclasses define ``__enter__`` and ``__exit__``.
    """

    __slots__ = ()

    def __enter__(self) -> _T:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> _T:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
