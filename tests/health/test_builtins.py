"""Built-in checks against real dependencies: Redis, SQLite/SQLAlchemy, HTTP, disk, memory."""

from __future__ import annotations

import functools
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest
import redis as redis_py
import sqlalchemy
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.integrations.servers import WsgiThread
from tests.support.fixtures import otlp_receiver, rotel_collector  # noqa: F401 - fixtures
from tests.support.redis_server import RedisServer, redis_server  # noqa: F401 - fixture
from watchkit import health
from watchkit._internal.diagnostics import export_health
from watchkit.health import HealthRegistry


@pytest.fixture
def registry() -> HealthRegistry:
    return HealthRegistry()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener accepts connections and never answers a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for sock in accepted:
        sock.close()
    listener.close()


def test_sql_check_on_sqlite_factory_and_sqlalchemy_engine(registry, tmp_path):
    """SELECT 1 through a DB-API connection factory and through an SQLAlchemy engine."""
    path = tmp_path / "app.db"
    registry.add("sqlite", health.sql(functools.partial(sqlite3.connect, path)))
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    registry.add("engine", health.sql(engine), component_type="datastore")
    report = registry.run_sync("readyz")
    assert report.status == "pass", report
    engine.dispose()
    broken = HealthRegistry()
    broken.add("missing", health.sql(functools.partial(sqlite3.connect, tmp_path / "no/such.db")))
    result = broken.run_sync("readyz").results[0]
    assert result.status == "fail"
    assert result.error_type == "sqlite3.OperationalError"
    with pytest.raises(ValueError, match="connect_or_engine"):
        health.sql("sqlite:///x")


def test_sql_probe_is_not_recorded_as_database_traffic(registry, tmp_path, telemetry):
    """health.sql on an instrumented engine and connect function: no span, no duration point."""
    import watchkit.db

    path = tmp_path / "app.db"
    engine = watchkit.db.instrument_sqlalchemy(sqlalchemy.create_engine(f"sqlite:///{path}"))
    connect = watchkit.db.wrap_connect(functools.partial(sqlite3.connect, path))
    registry.add("engine", health.sql(engine))
    registry.add("sqlite", health.sql(connect))
    assert registry.run_sync("readyz").status == "pass"
    assert telemetry.metric_points("db.client.operation.duration") == []
    assert [s.name for s in telemetry.spans() if s.kind.name == "CLIENT"] == []
    with engine.connect() as connection:  # the application's own query is still recorded
        connection.exec_driver_sql("SELECT 1").scalar()
    assert len(telemetry.metric_points("db.client.operation.duration")) == 1
    engine.dispose()


def test_redis_ping_sync(registry, redis_server):  # noqa: F811
    """PING on a real redis-server with the sync client."""
    client = redis_py.Redis(port=redis_server.port, socket_timeout=0.5)
    registry.add("redis", health.redis(client))
    assert registry.run_sync("readyz").status == "pass"
    client.close()
    with pytest.raises(ValueError, match="client="):
        health.redis(object())


async def test_redis_ping_async(registry, redis_server):  # noqa: F811
    """PING with redis.asyncio on the probe's own event loop."""
    import redis.asyncio

    client = redis.asyncio.Redis(port=redis_server.port)
    registry.add("aredis", health.redis(client))
    try:
        assert (await registry.run("readyz")).status == "pass"
    finally:
        await client.aclose()


async def test_dependency_that_never_answers_times_out_within_the_budget(registry, silent_port):
    """A port that accepts and never answers: the checks time out, the probe is on time.

    The clients' own timeouts are 5 s, so a probe held by a check would take
    5 s; the bound is the kubelet's default 1 s probe timeout, which the 0.3 s
    check timeout meets with 0.7 s to spare on a loaded machine.
    """
    client = redis_py.Redis(
        port=silent_port, socket_timeout=5, socket_connect_timeout=5, retry=Retry(NoBackoff(), 0)
    )
    registry.add("redis", health.redis(client), timeout=0.3)
    registry.add("http", health.http(f"http://127.0.0.1:{silent_port}/", timeout=5), timeout=0.3)
    try:
        started = time.monotonic()
        report = await registry.run("readyz")
        elapsed = time.monotonic() - started
    finally:
        client.close()
    assert 0.29 <= elapsed < 1.0, elapsed
    assert [(r.status, r.error_type) for r in report.results] == [
        ("fail", "TimeoutError"),
        ("fail", "TimeoutError"),
    ]


def test_http_check_expects_2xx(registry):
    """GET a real server: 200 passes, 500 fails with its status as output."""

    def app(environ, start_response):
        status = "200 OK" if environ["PATH_INFO"] == "/ok" else "500 Internal Server Error"
        start_response(status, [("Content-Type", "text/plain")])
        return [b"x"]

    with WsgiThread(app) as server:
        registry.add("ok", health.http(f"{server.url}/ok"))
        registry.add("bad", health.http(f"{server.url}/bad"))
        report = registry.run_sync("readyz")
    by_name = {r.name: r for r in report.results}
    assert by_name["ok"].status == "pass"
    assert by_name["bad"].status == "fail"
    assert by_name["bad"].detail == "HTTP 500"
    with pytest.raises(ValueError, match="url="):
        health.http("ftp://x")


def test_disk_thresholds(registry, tmp_path, monkeypatch):
    """Used percent of the file system: pass below warn, warn, then fail."""
    from watchkit._internal.filesystem import FilesystemUsage
    from watchkit.health import _builtins

    usage = {"used": 50}

    def fake_usage(path):
        return FilesystemUsage(
            used=usage["used"] * 10, available=1000 - usage["used"] * 10, reserved=500
        )

    check = health.disk(tmp_path, warn=80, fail=90)
    assert check().status == "pass"  # the real file system, whatever its use, below 90 % here
    monkeypatch.setattr(_builtins, "filesystem_usage", fake_usage)
    for used, status in ((50, "pass"), (85, "warn"), (95, "fail")):
        usage["used"] = used
        observation = check()
        assert (observation.status, observation.value, observation.unit) == (
            status,
            float(used),
            "percent",
        )
    with pytest.raises(ValueError, match="warn=95 is invalid"):
        health.disk("/", warn=95, fail=90)
    with pytest.raises(ValueError, match="fail=0"):
        health.disk("/", fail=0)


def test_memory_reads_the_real_rss(registry):
    """RSS from /proc: a limit far above passes, a limit below fails."""
    assert health.memory(2**40)().status == "pass"
    low = health.memory(1024)()
    assert low.status == "fail"
    assert low.value > 10 * 2**20
    assert low.unit == "By"
    with pytest.raises(ValueError, match="max_rss"):
        health.memory(0)


def test_export_check_warns_while_telemetry_is_dropped(registry):
    """watchkit's own export: warn while failing or dropping, pass again afterwards."""
    check = health.export()
    assert check().status == "pass"
    export_health.failed("traces", "http://127.0.0.1:4317", 5)
    assert check().status == "warn"
    export_health.succeeded("traces", "http://127.0.0.1:4317", 1)
    assert check().status == "pass"
    export_health.queue_full("traces", "http://127.0.0.1:4317", 3)
    assert check().status == "warn"
    assert check().status == "warn"  # a full queue is a failing export, until one succeeds
    export_health.succeeded("traces", "http://127.0.0.1:4317", 1)
    assert check().status == "pass"


def test_redis_down_and_back_gives_503_then_200_and_two_log_lines(caplog):
    """A real Redis stopped and restarted: readiness fails, recovers; two state-change lines."""
    import logging

    server = RedisServer().start()
    registry = HealthRegistry()
    client = redis_py.Redis(
        port=server.port,
        socket_timeout=0.3,
        socket_connect_timeout=0.3,
        retry=Retry(NoBackoff(), 0),
    )
    registry.add("redis", health.redis(client), timeout=0.5)
    endpoints = health.HealthEndpoints(registry)
    codes = []
    try:
        with caplog.at_level(logging.INFO, logger="watchkit.health"):
            codes.append(endpoints.respond_sync("readyz")[0])
            codes.append(endpoints.respond_sync("readyz")[0])
            server.stop()
            codes.append(endpoints.respond_sync("readyz")[0])
            codes.append(endpoints.respond_sync("readyz")[0])
            server.start()
            codes.append(endpoints.respond_sync("readyz")[0])
            codes.append(endpoints.respond_sync("readyz")[0])
    finally:
        server.close()
    assert codes == [200, 200, 503, 503, 200, 200]
    lines = [r.getMessage() for r in caplog.records if r.name == "watchkit.health"]
    assert len(lines) == 2, lines
    assert "now fail (was pass) (redis.exceptions.ConnectionError)" in lines[0]
    assert "now pass (was fail)" in lines[1]


@pytest.mark.collector
def test_export_check_follows_a_real_collector_going_away_and_back(rotel_collector):  # noqa: F811
    """Real OTLP export to rotel: pass; collector stopped: warn; collector back: pass again."""
    import watchkit

    watchkit.configure(
        service_name="export-check", exporter="otlp", endpoint=rotel_collector.http_endpoint
    )
    check = health.export()

    def export_one(name: str) -> None:
        with watchkit.span(name):
            pass
        watchkit.force_flush(10)

    export_one("while up")
    assert check().status == "pass"
    rotel_collector.stop()
    export_one("while down")
    down = check()
    assert (down.status, down.output) == ("warn", "collector unreachable")
    assert down.value >= 1  # the span that could not be sent
    rotel_collector.start()
    export_one("back")
    assert check().status == "pass"


@pytest.mark.server
def test_frozen_redis_readyz_answers_503_within_the_kubelet_timeout():
    """A real Redis frozen (SIGSTOP: connections accepted, nothing answered) behind /readyz.

    Under uvicorn, with a client whose own timeout is 5 s, the probe answers
    503 in well under the kubelet's default 1 s; liveness is untouched. The
    client keeps a connection from the first probe, so the frozen server is
    met on an open connection, not at connect.
    """
    import httpx

    from tests.integrations.servers import UvicornThread

    server = RedisServer().start()
    client = redis_py.Redis(
        port=server.port, socket_timeout=5, socket_connect_timeout=5, retry=Retry(NoBackoff(), 0)
    )
    registry = HealthRegistry()
    registry.add("loop", lambda: None, kind="liveness")
    registry.add("redis", health.redis(client), timeout=0.3)
    try:
        with UvicornThread(health.asgi_app(registry=registry)) as app:
            assert httpx.get(f"{app.url}/readyz").status_code == 200
            server.pause()
            started = time.monotonic()
            ready = httpx.get(f"{app.url}/readyz", timeout=10)
            elapsed = time.monotonic() - started
            assert httpx.get(f"{app.url}/livez").status_code == 200
    finally:
        server.resume()
        client.close()
        server.close()
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis:responseTime"][0]["output"] == "TimeoutError"
    assert elapsed < 1.0, elapsed
