"""Health checks: declaration errors, statuses, concurrency, timeouts, caching, telemetry."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
import time

import pytest

from watchkit import health
from watchkit.health import HealthRegistry, Observation, Warn
from watchkit.testing import TelemetryCapture


@pytest.fixture
def registry():
    return HealthRegistry()


def _statuses(report):
    return {result.name: result.status for result in report.results}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "alive"}, "kind='alive' is invalid: use one of liveness, readiness, startup"),
        ({"timeout": 0}, "timeout=0 is invalid: use a positive number of seconds"),
        ({"timeout": True}, "timeout=True is invalid"),
        ({"ttl": -1}, "ttl=-1 is invalid"),
        ({"interval": float("nan")}, "interval=nan is invalid"),
        ({"critical": "yes"}, "critical='yes' is invalid"),
        ({"component_type": "db"}, "component_type='db' is invalid"),
    ],
)
def test_bad_declarations_raise_value_error_naming_the_parameter(registry, kwargs, message):
    """A wrong argument fails where the check is declared, naming parameter and choices."""
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        registry.add("x", lambda: None, **kwargs)


def test_bad_names_and_duplicates_are_rejected(registry):
    """Names are non-empty, without ':'; a second check of one name is refused."""
    for name in ("", "db:x", 3):
        with pytest.raises(ValueError, match="name="):
            registry.add(name, lambda: None)
    registry.add("db", lambda: None)
    with pytest.raises(ValueError, match="already exists"):
        registry.add("db", lambda: None)
    with pytest.raises(ValueError, match="function"):
        registry.add("other", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="probe='ready' is invalid"):
        registry.run_sync("ready")  # type: ignore[arg-type]


def test_decorator_forms_keep_the_function(registry):
    """`@check` and `@check(name, ...)` both register and return the function unchanged."""

    @registry.check
    def plain() -> None:
        return None

    @registry.check("named", kind="liveness")
    async def other() -> None:
        return None

    assert plain() is None
    assert asyncio.iscoroutinefunction(other)
    assert [c.name for c in registry.checks()] == ["plain", "named"]
    assert [c.name for c in registry.checks("livez")] == ["named"]


def test_statuses_aggregate_pass_warn_fail(registry):
    """Return values and exceptions map to statuses; non-critical failures only warn."""
    registry.add("none", lambda: None)
    registry.add("true", lambda: True)
    registry.add("observation", lambda: Observation(42.0, "percent", "utilization", "warn"))

    def warns() -> None:
        raise Warn("slow disk")

    registry.add("warns", warns)
    assert registry.run_sync("readyz").status == "warn"
    registry.add("optional", lambda: False, critical=False)
    report = registry.run_sync("readyz")
    assert report.status == "warn"
    assert report.http_status == 200

    def broken() -> None:
        raise ConnectionRefusedError("db.internal:5432 refused")

    registry.add("broken", broken)
    report = registry.run_sync("readyz")
    assert report.status == "fail"
    assert report.http_status == 503
    assert _statuses(report) == {
        "none": "pass",
        "true": "pass",
        "observation": "warn",
        "warns": "warn",
        "optional": "fail",
        "broken": "fail",
    }
    by_name = {r.name: r for r in report.results}
    assert by_name["broken"].error_type == "ConnectionRefusedError"
    assert by_name["observation"].measurement == "utilization"
    assert by_name["observation"].observed_value == 42.0


def test_liveness_never_runs_readiness_checks(registry):
    """/livez evaluates liveness checks only: a dead dependency does not restart the pod."""
    ran = []
    registry.add("db", lambda: ran.append("db") or False)
    registry.add("loop", lambda: ran.append("loop") and None, kind="liveness")
    assert registry.run_sync("livez").status == "pass"
    assert ran == ["loop"]
    assert registry.run_sync("readyz").status == "fail"


def test_checks_run_concurrently_and_a_hung_check_cannot_hold_the_probe(registry):
    """Three 0.3 s checks and a hung one cut at 0.5 s: ~0.5 s together, never the sum.

    Run one after the other they would take 0.9 + 0.5 s; the upper bound leaves
    0.5 s for a loaded machine and still fails on sequential execution.
    """
    for name in ("a", "b", "c"):
        registry.add(name, lambda: time.sleep(0.3))
    release = threading.Event()
    registry.add("hung", release.wait, timeout=0.5)
    started = time.monotonic()
    report = registry.run_sync("readyz")
    elapsed = time.monotonic() - started
    assert 0.45 < elapsed < 1.0, elapsed
    assert _statuses(report) == {"a": "pass", "b": "pass", "c": "pass", "hung": "fail"}
    hung = next(r for r in report.results if r.name == "hung")
    assert hung.error_type == "TimeoutError"
    # While it still hangs no second copy starts, and the probe answers at once.
    threads = threading.active_count()
    started = time.monotonic()
    registry.remove("a"), registry.remove("b"), registry.remove("c")
    assert registry.run_sync("readyz").status == "fail"
    assert time.monotonic() - started < 0.4  # a second copy would wait its 0.5 s timeout
    assert threading.active_count() == threads
    release.set()


async def test_async_checks_are_cancelled_at_their_timeout(registry):
    """An async check that never finishes is cancelled; the probe returns in its budget."""
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    registry.add("hangs", hangs, timeout=0.2)
    started = time.monotonic()
    report = await registry.run("readyz")
    assert time.monotonic() - started < 1.0  # the check itself would take 60 s
    assert report.status == "fail"
    await asyncio.wait_for(cancelled.wait(), 1)


def test_async_check_from_a_sync_probe(registry):
    """A WSGI probe runs async checks on a private loop in a worker thread."""

    async def ok() -> Observation:
        await asyncio.sleep(0.01)
        return Observation(1.0, "{x}", "items")

    registry.add("ok", ok)
    report = registry.run_sync("healthz")
    assert report.status == "pass"
    assert report.results[0].observed_value == 1.0


async def test_ttl_caches_and_concurrent_probes_coalesce(registry):
    """Ten concurrent probes run a check once; within the ttl nothing runs again."""
    calls = []

    async def slow() -> None:
        calls.append(1)
        await asyncio.sleep(0.1)

    registry.add("slow", slow, ttl=1.0)
    reports = await asyncio.gather(*(registry.run("readyz") for _ in range(10)))
    assert all(r.status == "pass" for r in reports)
    assert len(calls) == 1
    await registry.run("readyz")
    assert len(calls) == 1
    await asyncio.sleep(1.05)
    await registry.run("readyz")
    assert len(calls) == 2


def test_sync_probes_from_threads_coalesce(registry):
    """Concurrent WSGI probes (threads) share one run of a check."""
    calls = []

    def slow() -> None:
        calls.append(1)
        time.sleep(0.2)

    registry.add("slow", slow)
    threads = [threading.Thread(target=registry.run_sync, args=("readyz",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1


def test_interval_checks_run_in_background_and_fail_until_first_result(registry):
    """An interval check serves its last result with its time; `fail` before the first run."""
    gate = threading.Event()
    calls = []

    def background() -> None:
        gate.wait(2)
        calls.append(time.time())

    registry.add("bg", background, interval=0.2, timeout=1.0)
    first = registry.run_sync("readyz").results[0]
    assert first.status == "fail"
    assert first.error_type == "NoResultYet"
    gate.set()
    deadline = time.monotonic() + 3
    while registry.run_sync("readyz").status != "pass":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    served = registry.run_sync("readyz").results[0]
    before = len(calls)
    time.sleep(0.5)
    assert len(calls) > before  # it keeps running without any probe
    assert served.time <= time.time()
    registry.stop_scheduler()


def test_shutdown_fails_readiness_keeps_liveness(registry):
    """begin_shutdown(): /readyz fails without running checks, /livez passes."""
    ran = []
    registry.add("db", lambda: ran.append(1))
    registry.begin_shutdown()
    report = registry.run_sync("readyz")
    assert report.status == "fail"
    assert report.shutting_down
    assert ran == []
    assert registry.run_sync("livez").status == "pass"
    assert json.loads(health.render(report))["output"] == "shutting down"


def test_sigterm_turns_readiness_to_fail_then_calls_the_previous_handler():
    """watch_sigterm chains the handler that was installed before it."""
    registry = HealthRegistry()
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        assert health.watch_sigterm(registry)
        assert health.watch_sigterm(registry)  # twice is harmless
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 2
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [signal.SIGTERM]
        assert registry.run_sync("readyz").status == "fail"
        assert registry.run_sync("livez").status == "pass"
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_watch_sigterm_outside_the_main_thread_does_nothing():
    """Python only sets signal handlers in the main thread: report False, raise nothing."""
    result = []
    thread = threading.Thread(target=lambda: result.append(health.watch_sigterm(HealthRegistry())))
    thread.start()
    thread.join()
    assert result == [False]


def test_telemetry_where_checks_run_and_one_log_line_per_change(registry, caplog):
    """Status gauge 1/0.5/0 and duration histogram per run; logs only on state changes."""
    state = {"up": True}

    def dependency() -> None:
        if not state["up"]:
            raise ConnectionError("down")

    # A timeout no loaded machine reaches: every run ends in its own status.
    registry.add("dep", dependency, kind="readiness", timeout=10.0)
    capture = TelemetryCapture()
    from watchkit._internal.state import STATE

    previous = STATE.set_override(capture.pipeline())
    try:
        with caplog.at_level(logging.INFO, logger="watchkit.health"):
            for up in (True, True, False, False, False, True, True):
                state["up"] = up
                registry.run_sync("readyz")
        points = capture.metric_points("watchkit.health.check.status", {"health.check.name": "dep"})
        assert [p.value for p in points] == [1.0]
        summary = capture.histogram("watchkit.health.check.duration", {"health.check.name": "dep"})
        assert summary.count == 7
        assert (
            capture.histogram(
                "watchkit.health.check.duration", {"health.check.status": "fail"}
            ).count
            == 3
        )
    finally:
        STATE.set_override(previous)
    lines = [r.getMessage() for r in caplog.records if r.name == "watchkit.health"]
    assert lines == [
        "watchkit: health check 'dep' is now fail (was pass) (ConnectionError)",
        "watchkit: health check 'dep' is now pass (was fail)",
    ]


def test_render_hides_exception_text_unless_details_are_enabled(registry):
    """Default output is the error type only; details show the message."""

    def broken() -> None:
        raise ConnectionRefusedError("db.internal.example:5432 refused")

    registry.add("db", broken, component_type="datastore")
    report = registry.run_sync("readyz")
    body = json.loads(health.render(report))
    assert body["status"] == "fail"
    entry = body["checks"]["db:responseTime"][0]
    assert entry["output"] == "ConnectionRefusedError"
    assert entry["componentType"] == "datastore"
    assert entry["observedUnit"] == "ms"
    assert entry["time"].endswith("Z")
    assert "db.internal" not in health.render(report).decode()
    detailed = json.loads(health.render(report, details=True))
    assert "db.internal.example" in detailed["checks"]["db:responseTime"][0]["output"]


def test_public_all_is_sorted_and_resolves():
    """watchkit.health publishes a sorted `__all__` of names that exist."""
    import watchkit.integrations.health as adapters

    for module in (health, adapters):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            assert getattr(module, name) is not None, name
    assert health.Check.__module__ == "watchkit.health"
