"""Typing contract of the queue decorators (checked by mypy, run by pytest)."""

from __future__ import annotations

import asyncio

from typing_extensions import assert_type

import watchkit.queue


@watchkit.queue.producer("sms", system="redis")
def enqueue_sms(text: str, headers: dict[str, str] | None = None) -> int:
    return len(headers or {})


@watchkit.queue.consumer("sms", system="redis", job="send_sms")
async def deliver_sms(text: str, headers: dict[str, str]) -> bool:
    return bool(text)


def test_queue_decorators_keep_signatures() -> None:
    """producer() and consumer() keep parameter and return types, sync and async."""
    assert_type(enqueue_sms("hi"), int)
    assert enqueue_sms("hi") >= 1  # the enqueue time, at least
    assert_type(asyncio.run(deliver_sms("hi", {})), bool)
    enqueue_sms(3)  # type: ignore[arg-type]
    with watchkit.queue.send("sms", {}) as scope:
        assert_type(scope, watchkit.queue.SendScope)
    with watchkit.queue.process("sms", {}) as delivery:
        assert_type(delivery, watchkit.queue.ProcessScope)
