"""Synthetic journeys against a real app: assertions, failing step, telemetry at the collector."""

# ruff: noqa: F811 - pytest fixtures imported by name
from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import watchkit
from tests.integrations.servers import UvicornThread
from tests.support.fixtures import otlp_receiver, rotel_collector  # noqa: F401
from watchkit import synthetic
from watchkit.synthetic import Journey

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]
SEEN_AGENTS: list[str] = []


def _app() -> FastAPI:
    app = FastAPI()
    orders: dict[int, dict[str, Any]] = {}

    @app.post("/orders")
    async def place(request: Request) -> JSONResponse:
        SEEN_AGENTS.append(request.headers.get("user-agent", ""))
        order_id = len(orders) + 1
        orders[order_id] = {"id": order_id, "status": "cooking", **(await request.json())}
        return JSONResponse(orders[order_id], status_code=201)

    @app.get("/orders/{order_id}")
    async def track(order_id: int) -> JSONResponse:
        return JSONResponse(orders.get(order_id, {}))

    @app.get("/orders/{order_id}/fail")
    async def broken(order_id: int) -> JSONResponse:
        return JSONResponse({"error": "kitchen on fire"}, status_code=500)

    @app.get("/synthetic")
    async def probe() -> JSONResponse:
        return JSONResponse({"synthetic": synthetic.is_synthetic()})

    @app.get("/synthetic/sync")
    def probe_in_a_thread() -> JSONResponse:  # FastAPI runs it in its thread pool
        return JSONResponse({"synthetic": synthetic.is_synthetic()})

    @app.get("/slow")
    async def slow() -> JSONResponse:
        await asyncio.sleep(0.3)
        return JSONResponse({})

    return watchkit.instrument_fastapi(app)


@pytest.fixture(scope="module")
def server():
    with UvicornThread(_app()) as running:
        yield running


def _journey(name: str, function: Any, **options: Any) -> synthetic.JourneyDefinition:
    synthetic.journey(name, **options)(function)
    return synthetic.journeys()[name]


async def test_passing_journey_shares_state_and_asserts_json(server):
    """Steps share state; JSON fields are asserted; User-Agent names watchkit-synthetic."""

    async def order_and_track(j: Journey) -> None:
        placed = await j.post("place order", "/orders", json={"dish": "pho"}, expect_status=201)
        j.state["id"] = placed.json()["id"]
        await j.get(
            "track delivery",
            f"/orders/{j.state['id']}",
            expect_json={"status": "cooking", "dish": str.isalpha},
        )

    result = await synthetic.run(_journey("ok-journey", order_and_track), base_url=server.url)
    assert result.result == "pass", result
    assert [s.name for s in result.steps] == ["place order", "track delivery"]
    assert SEEN_AGENTS[-1] == synthetic.user_agent()
    assert synthetic.user_agent().startswith("watchkit-synthetic/")


@pytest.mark.parametrize(
    ("step", "kwargs", "error_type", "reason"),
    [
        (
            "wrong field",
            {"expect_json": {"status": "delivered"}},
            "json_mismatch",
            "'status' is 'cooking'",
        ),
        ("missing field", {"expect_json": {"courier.name": "Ann"}}, "json_mismatch", "missing"),
        ("wrong code", {"expect_status": 404}, "200", "HTTP 200, expected 404"),
    ],
)
async def test_failing_assertions_name_the_step(server, step, kwargs, error_type, reason):
    """A failing assertion fails the run and says which step and why."""

    async def journey(j: Journey) -> None:
        await j.post("place order", "/orders", json={"dish": "pho"}, expect_status=201)
        await j.get(step, "/orders/1", **kwargs)

    result = await synthetic.run(
        _journey(f"fails-{error_type}-{step}", journey), base_url=server.url
    )
    assert result.result == "fail"
    assert result.failed_step == step
    assert result.error_type == error_type
    assert reason in result.error
    assert step in str(result)


async def test_latency_budget_and_journey_timeout(server):
    """A step over its latency budget fails; a journey over its timeout fails as timeout."""

    async def slow_step(j: Journey) -> None:
        await j.get("slow page", "/slow", max_latency=0.1)

    result = await synthetic.run(_journey("slow-step", slow_step), base_url=server.url)
    assert (result.failed_step, result.error_type) == ("slow page", "latency_budget")

    async def too_long(j: Journey) -> None:
        await j.get("slow page", "/slow")

    result = await synthetic.run(_journey("too-long", too_long, timeout=0.1), base_url=server.url)
    assert (result.result, result.error_type) == ("fail", "timeout")

    async def degraded(j: Journey) -> None:
        await j.get("slow page", "/slow")

    result = await synthetic.run(
        _journey("degraded", degraded, degraded_after=0.1), base_url=server.url
    )
    assert result.result == "warn"
    assert result.ok


def test_declaration_errors():
    """Bad options and non-async functions fail at declaration."""
    with pytest.raises(ValueError, match="interval=0 is invalid"):
        synthetic.journey(interval=0)
    with pytest.raises(ValueError, match="use an async def"):
        synthetic.journey("sync")(lambda j: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="has no interval"):
        synthetic.Scheduler([_journey("no-interval", _noop)])


async def _noop(j: Journey) -> None:
    return None


async def test_run_series_start_at_zero_so_increase_sees_the_first_failure(telemetry, server):
    """A declared journey reports pass, warn and fail at 0; its first failure is a step to 1."""

    async def failing(j: Journey) -> None:
        await j.get("fail", "/orders/7/fail")

    definition = _journey("zero-first", failing)

    def runs() -> list[tuple[str, float]]:
        points = telemetry.metric_points("watchkit.synthetic.runs")
        return sorted(
            (dict(p.attributes)["result"], p.value)
            for p in points
            if dict(p.attributes)["journey"] == "zero-first"
        )

    assert runs() == [("fail", 0), ("pass", 0), ("warn", 0)]
    result = await synthetic.run(definition, base_url=server.url)
    assert result.error_type == "500"
    assert runs() == [("fail", 1), ("pass", 0), ("warn", 0)]
    points = telemetry.metric_points("watchkit.synthetic.runs")
    assert all("error.type" not in dict(p.attributes) for p in points)


@pytest.mark.collector
def test_second_step_500_fails_and_telemetry_reaches_the_collector(rotel_collector, otlp_receiver):
    """Run fails naming step 2; counters, step spans and the marked server span arrive."""
    watchkit.configure(
        service_name="synthetic-e2e", exporter="otlp", endpoint=rotel_collector.http_endpoint
    )

    async def order_then_fail(j: Journey) -> None:
        placed = await j.post("place order", "/orders", json={"dish": "pho"})
        await j.get("track delivery", f"/orders/{placed.json()['id']}/fail")

    with UvicornThread(_app()) as running:
        result = asyncio.run(
            synthetic.run(_journey("e2e-order", order_then_fail), base_url=running.url)
        )
    assert result.result == "fail"
    assert result.failed_step == "track delivery"
    assert result.error_type == "500"
    assert watchkit.force_flush()
    run_span = otlp_receiver.wait_for_span("synthetic e2e-order")
    assert run_span.status_code == "error"
    step = otlp_receiver.wait_for_span("synthetic step track delivery")
    assert step.kind == "client"
    assert step.parent_span_id == run_span.span_id
    assert step.attributes["error.type"] == "500"
    server_span = otlp_receiver.wait_for(
        lambda r: [s for s in r.spans() if s.name == "GET /orders/{order_id}/fail"]
    )[-1]
    assert server_span.trace_id == run_span.trace_id  # traceparent joined the trace
    assert server_span.parent_span_id == step.span_id
    assert server_span.attributes["user_agent.synthetic.type"] == "test"
    runs = otlp_receiver.wait_for(
        lambda r: [
            p
            for p in r.metrics("watchkit.synthetic.runs")
            if p.attributes.get("journey") == "e2e-order"
        ]
    )[-1]
    assert runs.value == 1
    assert runs.attributes["result"] == "fail"
    assert "error.type" not in runs.attributes  # on the spans: the series start at 0
    steps = otlp_receiver.wait_for(
        lambda r: [
            p
            for p in r.metrics("watchkit.synthetic.step.duration")
            if p.attributes.get("journey") == "e2e-order"
        ]
    )
    assert {(p.attributes["step"], p.attributes["result"]) for p in steps} == {
        ("place order", "pass"),
        ("track delivery", "fail"),
    }
    assert otlp_receiver.wait_for(lambda r: r.metrics("watchkit.synthetic.duration"))
    marked = otlp_receiver.wait_for(
        lambda r: [
            p
            for p in r.metrics("http.server.request.duration")
            if p.attributes.get("user_agent.synthetic.type") == "test"
        ]
    )
    assert {p.attributes["http.route"] for p in marked} == {"/orders", "/orders/{order_id}/fail"}


def test_cli_once_exits_non_zero_naming_the_failing_step():
    """`python -m watchkit synthetic run MODULE --once` prints the failure and exits 1."""
    with UvicornThread(_app()) as running:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_"))}
        env.update(PYTHONPATH=str(ROOT), WATCHKIT_EXPORTER="none")
        process = subprocess.run(
            [sys.executable, "-m", "watchkit", "synthetic", "run",
             "tests.synthetic.journeys_for_tests", "--once", "--base-url", running.url],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert process.returncode == 1, process.stderr
    assert "FAIL cli-order: fail" in process.stdout
    assert "step 'track delivery': HTTP 500, expected 2xx" in process.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "watchkit", "synthetic", "run", "no.such.module", "--once"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "cannot import no.such.module" in bad.stderr


def test_cli_interval_runs_repeatedly_until_interrupted():
    """`--interval N` runs the journeys every N seconds; SIGINT ends it with status 130."""
    import signal

    with UvicornThread(_app()) as running:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_"))}
        env.update(
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]), WATCHKIT_EXPORTER="none"
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "watchkit", "synthetic", "run",
             "tests.synthetic.journeys_for_tests", "--interval", "0.2",
             "--base-url", running.url],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        results: list[tuple[float, str]] = []  # other stdout lines are the log output
        try:
            deadline = time.monotonic() + 30
            while len(results) < 4:
                assert time.monotonic() < deadline and process.poll() is None, results
                line = process.stdout.readline()
                if line.startswith(("OK ", "FAIL ")):
                    results.append((time.monotonic(), line))
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130, err
    assert "Traceback" not in err, err
    assert results[-1][0] - results[0][0] > 0.5  # 3 intervals of 0.2 s waited, not spun
    for _, line in results:
        assert line.startswith("FAIL cli-order: fail"), results
        assert "step 'track delivery': HTTP 500" in line


@pytest.mark.collector
@pytest.mark.parametrize(("signum", "status"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_cli_interval_stops_on_a_signal_even_when_a_run_swallows_the_cancellation(
    signum, status, rotel_collector, otlp_receiver
):
    """SIGINT or SIGTERM in the middle of a run that swallows its cancellation still stops.

    It stops by flushing: with a one-minute batch delay, the interrupted run's span
    reaches the collector only through the exit's flush.
    """
    import signal

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        WATCHKIT_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_BSP_SCHEDULE_DELAY="60000",
        OTEL_SERVICE_NAME=f"synthetic-cli-{signum.lower()}",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "watchkit", "synthetic", "run",
         "tests.synthetic.journeys_swallowing", "--interval", "0.2",
         "--base-url", "http://127.0.0.1:9"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = ""
        while not line.startswith("RUNNING"):
            line = process.stdout.readline()
            assert line or process.poll() is None, process.stderr.read() if process.stderr else ""
        process.send_signal(getattr(signal, signum))
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == status, err
    assert "Traceback" not in err, err
    otlp_receiver.wait_for(
        lambda r: [
            s
            for s in r.spans("synthetic swallows-cancel")
            if s.resource_attributes.get("service.name") == f"synthetic-cli-{signum.lower()}"
        ],
        timeout=15,
    )


def test_scheduler_runs_in_one_process_only(server, tmp_path):
    """Two schedulers on one lock file: one runs the journeys, the other waits, then takes over."""
    calls: list[str] = []

    async def tick(j: Journey) -> None:
        calls.append(j.name)
        await j.get("track", "/orders/1")

    definition = _journey("scheduled", tick, interval=0.2)
    lock = tmp_path / "synthetic.lock"
    first = synthetic.Scheduler(
        [definition], base_url=server.url, lock_path=lock, takeover=0.1
    ).start()
    second = synthetic.Scheduler(
        [definition], base_url=server.url, lock_path=lock, takeover=0.1
    ).start()
    try:
        deadline = time.monotonic() + 5
        while len(calls) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert first.running != second.running
        runner, waiter = (first, second) if first.running else (second, first)
        runner.stop()
        deadline = time.monotonic() + 5
        while not waiter.running:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        count = len(calls)
        while len(calls) < count + 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        first.stop()
        second.stop()


def test_scheduler_stops_even_when_a_run_swallows_the_cancellation(tmp_path, monkeypatch):
    """stop() ends the thread even if the run in flight swallows its cancellation.

    asyncio.wait_for before Python 3.12 returns the result instead of raising
    when the cancellation lands just as its inner task ends; stopping a
    scheduler probing a real server left its thread running about once in
    eight. The run is replaced by one that always swallows it.
    """
    from watchkit.synthetic import _scheduler

    entered = threading.Event()

    async def swallowing_run(definition: Any, base_url: Any = None) -> synthetic.RunResult:
        entered.set()
        with contextlib.suppress(asyncio.CancelledError):  # as wait_for did: it is gone
            await asyncio.sleep(30)
        return synthetic.RunResult(definition.name, "pass", 0.0, ())

    monkeypatch.setattr(_scheduler, "run", swallowing_run)
    definition = _journey("swallows-cancel", _noop, interval=60)
    scheduler = synthetic.Scheduler([definition], lock_path=tmp_path / "l").start()
    assert entered.wait(10)
    scheduler.stop(timeout=5)
    assert scheduler._thread is not None
    assert not scheduler._thread.is_alive()


def test_public_all_is_sorted_and_resolves():
    """watchkit.synthetic publishes a sorted `__all__` of names that exist."""
    assert synthetic.__all__ == sorted(synthetic.__all__)
    for name in synthetic.__all__:
        assert getattr(synthetic, name) is not None, name
    assert synthetic.Journey.__module__ == "watchkit.synthetic"


def test_is_synthetic_is_true_only_inside_a_journey_request(server):
    """The handler (async, and sync in the thread pool) sees its request as synthetic only when
    a journey made it; outside any request it is False."""
    import httpx

    for path in ("/synthetic", "/synthetic/sync"):
        probe = httpx.get(server.url + path, headers={"User-Agent": synthetic.user_agent()})
        assert probe.json() == {"synthetic": True}
        assert httpx.get(server.url + path).json() == {"synthetic": False}
    assert not synthetic.is_synthetic()
