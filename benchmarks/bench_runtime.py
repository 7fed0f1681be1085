"""Cost of one collection of the default runtime metrics, next to prometheus_client's collectors.

Both read ``/proc/self`` once per collection. watchkit's row calls every
default callback (ten series groups: CPU time and utilization, memory, file
descriptors, threads, uptime, three GC counters, event-loop lag); the peer
row runs prometheus_client's ``ProcessCollector`` and ``GCCollector``
(six groups). This runs in the SDK's reader thread at each export, never on a
request path.
"""

from __future__ import annotations

from benchmarks.harness import Budget, Suite


def suites() -> list[Suite]:
    import prometheus_client

    import watchkit.runtime
    from watchkit import _runtime

    watchkit.runtime.enable()
    defaults = [i.callback for i in _runtime._instruments if not i.name.startswith("system.")]
    registry = prometheus_client.CollectorRegistry()
    process = prometheus_client.ProcessCollector(registry=registry)
    gc_collector = prometheus_client.GCCollector(registry=registry)

    def watchkit_collect() -> object:
        return [list(callback()) for callback in defaults]  # type: ignore[operator]

    def prometheus_collect() -> object:
        return [*process.collect(), *gc_collector.collect()]

    return [
        Suite(
            "Runtime metrics: one collection of the default set",
            cases={
                "prometheus_client ProcessCollector + GCCollector": prometheus_collect,
                "watchkit runtime (default set)": watchkit_collect,
            },
            budgets=[
                Budget(
                    "watchkit runtime (default set)",
                    "prometheus_client ProcessCollector + GCCollector",
                    2.0,
                )
            ],
            teardown=watchkit.runtime.disable,
            number=300,
            rounds=11,
        )
    ]
