"""Per-message cost of ``watchkit.queue`` and the Celery hooks, next to bare code and contrib.

Generic helpers: producing one message is building its headers and appending it
to an in-process list; consuming one is popping it and running an empty
handler. The watchkit rows add the PRODUCER/CONSUMER span, the context and
enqueue time in the headers, and the messaging metrics.

Celery: the publish hooks (``before_task_publish`` + ``after_task_publish``)
and the run hooks (``task_prerun`` + ``task_postrun``) of watchkit and of
opentelemetry-instrumentation-celery, called with the arguments Celery sends,
for a real task of a real app (no broker: its round trip would hide both).
Budget: watchkit's per-message overhead at most 1.5x contrib's, which records
fewer metrics (one histogram) and binds no log context.
"""

from __future__ import annotations

import uuid
from typing import Any

from benchmarks._providers import Providers
from benchmarks.harness import Budget, Suite


def _generic(providers: Providers) -> Suite:
    import watchkit.queue

    queue: list[tuple[dict[str, str], str]] = []

    def bare_produce() -> None:
        headers: dict[str, str] = {}
        queue.append((headers, "booking confirmed"))

    def our_produce() -> None:
        headers: dict[str, str] = {}
        with watchkit.queue.send("notifications", headers, system="redis"):
            queue.append((headers, "booking confirmed"))

    def bare_consume() -> None:
        if not queue:
            our_produce()
        _headers, body = queue.pop()
        len(body)

    def our_consume() -> None:
        if not queue:
            our_produce()
        headers, body = queue.pop()
        with watchkit.queue.process("notifications", headers, system="redis", job="send_email"):
            len(body)

    def start() -> None:
        providers.install()
        for _ in range(4000):
            our_produce()

    return Suite(
        "Queue: per message, generic helpers",
        cases={
            "bare produce (headers + append)": bare_produce,
            "watchkit.queue.send": our_produce,
            "bare consume (pop + handler)": bare_consume,
            "watchkit.queue.process": our_consume,
        },
        setup=start,
        teardown=lambda: (queue.clear(), providers.uninstall()),
        number=1000,
        rounds=9,
    )


def _celery(providers: Providers) -> Suite:
    from celery import Celery
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    from watchkit.integrations import celery as ours

    app = Celery("bench", broker="memory://", set_as_current=False)

    @app.task(name="send_email", shared=False)
    def send_email(address: str) -> str:
        return address

    contrib = CeleryInstrumentor()

    def publish_kwargs() -> dict[str, Any]:
        task_id = uuid.uuid4().hex
        return {
            "sender": "send_email",
            "body": ((), {}, {}),
            "exchange": "",
            "routing_key": "emails",
            "headers": {"id": task_id, "task": "send_email"},
            "properties": {},
            "declare": [],
            "retry_policy": None,
        }

    def run_hooks(prerun: Any, postrun: Any, kwargs: dict[str, Any]) -> None:
        task_id = kwargs["headers"]["id"]
        send_email.push_request(
            {**kwargs["headers"], "delivery_info": {"routing_key": "emails", "exchange": ""}}
        )
        try:
            run = {"sender": send_email, "task_id": task_id, "task": send_email}
            prerun(**run, args=(), kwargs={})
            postrun(**run, args=(), kwargs={}, retval="x", state="SUCCESS")
        finally:
            send_email.pop_request()

    def bare() -> None:
        kwargs = publish_kwargs()
        run_hooks(lambda **_: None, lambda **_: None, kwargs)

    def watchkit_hooks() -> None:
        kwargs = publish_kwargs()
        ours._before_publish(**kwargs)
        ours._after_publish(**kwargs)
        run_hooks(ours._prerun, ours._postrun, kwargs)

    def contrib_hooks() -> None:
        kwargs = publish_kwargs()
        contrib._trace_before_publish(**kwargs)
        contrib._trace_after_publish(**kwargs)
        run_hooks(contrib._trace_prerun, contrib._trace_postrun, kwargs)

    def start() -> None:
        providers.install()
        # Contrib's handlers, set up but not marked as instrumenting (watchkit
        # would otherwise leave the spans to it) and not connected to the
        # signals: each row calls its own handlers directly.
        contrib._instrument(
            tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
        )
        contrib._uninstrument()

    return Suite(
        "Celery: per message, publish + run hooks",
        cases={
            "bare (no hooks)": bare,
            "opentelemetry-instrumentation-celery hooks": contrib_hooks,
            "watchkit.integrations.celery hooks": watchkit_hooks,
        },
        budgets=[
            Budget(
                "watchkit.integrations.celery hooks",
                "opentelemetry-instrumentation-celery hooks",
                1.5,
                overhead_of="bare (no hooks)",
            )
        ],
        setup=start,
        teardown=lambda: (app.close(), providers.uninstall()),
        number=500,
        rounds=9,
    )


def suites() -> list[Suite]:
    return [_generic(Providers()), _celery(Providers())]
