"""Typing contract of `watchkit.span`, `watchkit.current` and `watchkit.is_configured`.

Checked by mypy (``tests/typing`` is in its files, ``warn_unused_ignores`` is on, so every
ignore below must be needed) and run by pytest.
"""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import Span
from typing_extensions import assert_type

import watchkit


def test_span_gives_an_opentelemetry_span() -> None:
    scope = watchkit.span("pricing.quote", currency="EUR", items=3, ratio=0.5, express=True)
    assert_type(scope, watchkit.SpanScope)
    with scope as current:
        assert_type(current, Span)


def test_async_span_gives_an_opentelemetry_span() -> None:
    async def main() -> None:
        async with watchkit.span("pricing.remote") as current:
            assert_type(current, Span)

    asyncio.run(main())


def test_span_attributes_are_attribute_values() -> None:
    # A type error for mypy; at run time (test switch on) a ValueError at the call.
    with pytest.raises(ValueError, match="attribute 'order'"):  # noqa: SIM117
        with watchkit.span("checkout", order=object()):  # type: ignore[arg-type]
            pass


def test_life_cycle_queries() -> None:
    assert_type(watchkit.is_configured(), bool)
    assert_type(watchkit.current(), "watchkit.Telemetry | None")
