"""The scheduler's Redis lock across processes, and what happens when Redis is down.

Real redis-server processes on loopback, real scheduler threads, real journeys
against a werkzeug server that records which process sent each request.
"""

# ruff: noqa: F811 - pytest fixtures imported by name
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.helpers import clean_environ
from tests.integrations.servers import WsgiThread
from tests.support.redis_server import RedisServer, redis_server  # noqa: F401
from watchkit import synthetic
from watchkit.synthetic import Journey

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]


class Ticks:
    """A WSGI app recording (monotonic time, pid) of every ``/tick?pid=N``."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        pid = parse_qs(environ.get("QUERY_STRING", "")).get("pid", ["0"])[0]
        with self._lock:
            self.seen.append((time.monotonic(), int(pid)))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    def pids(self, since: float = float("-inf")) -> set[int]:
        with self._lock:
            return {pid for at, pid in self.seen if at >= since}

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.seen[-5:]}"
            time.sleep(0.02)


def _client(port: int) -> redis_py.Redis:
    return redis_py.Redis(
        port=port, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )


@pytest.fixture
def ticks() -> Iterator[tuple[Ticks, str]]:
    app = Ticks()
    with WsgiThread(app) as server:
        yield app, server.url


def _worker(redis_port: int, base_url: str, takeover: float) -> subprocess.Popen[str]:
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.synthetic.lock_worker",
         str(redis_port), base_url, str(takeover)],
        cwd=ROOT, env=clean_environ({"PYTHONPATH": path, "WATCHKIT_EXPORTER": "none"}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line == "ready\n", line + process.stderr.read() if process.stderr else line
    return process


def test_redis_lock_one_process_runs_and_another_takes_over_after_expiry(redis_server, ticks):
    """Two processes, one Redis lock: one runs the journeys; SIGKILL it, the other takes over.

    The holder renews a 2 s lease every 0.67 s, so when it is killed its key
    still lives at least ~1.3 s: the survivor cannot start sooner, and must
    start within the lease plus one retry (with room for a loaded machine).
    """
    app, url = ticks
    _client(redis_server.port).delete("watchkit:synthetic:two-processes")
    takeover = 2.0
    workers = [_worker(redis_server.port, url, takeover) for _ in range(2)]
    try:
        app.wait(lambda: bool(app.pids()), 15, "the first tick")
        window = time.monotonic()
        time.sleep(3 * takeover / 3 + 1)  # several renewals and retries
        assert len(app.seen) >= 10
        runners = app.pids()
        assert len(runners) == 1, runners  # never both, not even briefly
        (holder,) = runners
        assert holder in {w.pid for w in workers}
        survivor = next(w for w in workers if w.pid != holder)
        assert app.pids(since=window) == {holder}

        os.kill(holder, signal.SIGKILL)  # no release: only the expiry frees the key
        killed = time.monotonic()
        app.wait(lambda: survivor.pid in app.pids(), takeover + 10, "the takeover")
        first = min(at for at, pid in app.seen if pid == survivor.pid)
        assert 1.0 < first - killed < takeover + takeover / 3 + 5, first - killed
        time.sleep(0.5)
        assert app.pids(since=killed + 0.5) == {survivor.pid}
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(10)
            for stream in (worker.stdout, worker.stderr):
                if stream is not None:
                    stream.close()


def test_redis_down_skips_with_one_warning_then_runs_when_it_is_back(ticks, caplog):
    """Redis unreachable: no exception, journeys skipped, one warning; back: it runs.

    Then Redis goes away under the holder: it keeps running only until its
    lease lapses, then stops and says so.
    """
    app, url = ticks
    server = RedisServer()  # not started: the port refuses connections
    calls: list[float] = []

    async def tick(j: Journey) -> None:
        calls.append(time.monotonic())
        await j.get("tick", "/tick?pid=1")

    synthetic.journey("redis-down-tick", interval=0.05)(tick)
    definition = synthetic.journeys()["redis-down-tick"]
    client = _client(server.port)
    takeover = 0.6
    scheduler = synthetic.Scheduler(
        [definition], base_url=url, lock=client, name="redis-down", takeover=takeover
    )
    try:
        with caplog.at_level(logging.INFO, logger="watchkit.synthetic"):
            scheduler.start()
            time.sleep(1.5)  # about seven attempts, 0.2 s apart
            assert calls == []
            assert not scheduler.running
            warnings = [r.getMessage() for r in caplog.records if r.name == "watchkit.synthetic"]
            assert len(warnings) == 1, warnings
            assert "cannot reach its Redis lock 'watchkit:synthetic:redis-down'" in warnings[0]
            assert "ConnectionError" in warnings[0] and "skipped" in warnings[0]

            server.start()
            app.wait(lambda: len(calls) >= 3, 10, "runs once Redis is back")
            assert scheduler.running
            assert any("reaches its Redis lock" in r.getMessage() for r in caplog.records)

            server.stop()
            lost = time.monotonic()
            app.wait(lambda: not scheduler.running, takeover + 5, "the holder to stop")
            stopped = time.monotonic()
            # It ran on while the lease it renewed last was still its own, not longer.
            assert stopped - lost < takeover + 2
            count = len(calls)
            time.sleep(0.5)
            assert len(calls) <= count + 1  # a run in flight at the stop may still land
            assert any(
                "could not be renewed before it expired" in r.getMessage() for r in caplog.records
            )
    finally:
        scheduler.stop()
        client.close()
        server.close()


def test_lock_arguments_fail_early_and_clearly(tmp_path):
    """A Redis URL, an async client, both lock= and lock_path=, a bad takeover: ValueError."""
    import redis.asyncio

    async def noop(j: Journey) -> None:
        return None

    synthetic.journey("lock-args", interval=60)(noop)
    chosen = [synthetic.journeys()["lock-args"]]
    with pytest.raises(ValueError, match=r"pass a client: lock=redis.Redis.from_url"):
        synthetic.Scheduler(chosen, lock="redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match=r"synchronous redis\.Redis client"):
        synthetic.Scheduler(chosen, lock=redis.asyncio.Redis())
    with pytest.raises(ValueError, match=r"lock=.* is invalid: use a redis\.Redis client"):
        synthetic.Scheduler(chosen, lock=object())
    with pytest.raises(ValueError, match="give one of them"):
        synthetic.Scheduler(chosen, lock=tmp_path / "a", lock_path=tmp_path / "b")
    with pytest.raises(ValueError, match="takeover=0 is invalid"):
        synthetic.Scheduler(chosen, takeover=0)
    assert synthetic.Scheduler(chosen, lock=tmp_path / "x.lock").lock.describe().endswith("x.lock")


def test_a_hung_redis_stops_the_holder_at_its_lease_and_never_blocks_stop(ticks, caplog):
    """Redis frozen (SIGSTOP) under a holder whose client waits 30 s: it stops at its lease.

    Its renewal hangs, but the lease bounds the wait: the journeys stop within
    the lease (0.6 s) plus slack, long before the client's own timeout, and
    stop() returns at once instead of waiting for a release Redis cannot answer.
    """
    app, url = ticks
    server = RedisServer().start()
    calls: list[float] = []

    async def tick(j: Journey) -> None:
        calls.append(time.monotonic())
        await j.get("tick", "/tick?pid=2")

    synthetic.journey("redis-hung-tick", interval=0.05)(tick)
    client = redis_py.Redis(port=server.port, socket_timeout=30, retry=Retry(NoBackoff(), 0))
    takeover = 0.6
    scheduler = synthetic.Scheduler(
        [synthetic.journeys()["redis-hung-tick"]],
        base_url=url,
        lock=client,
        name="redis-hung",
        takeover=takeover,
    )
    try:
        with caplog.at_level(logging.INFO, logger="watchkit.synthetic"):
            scheduler.start()
            app.wait(lambda: len(calls) >= 3, 10, "runs while Redis answers")
            server.pause()
            frozen = time.monotonic()
            app.wait(lambda: not scheduler.running, takeover + 5, "the holder to stop")
            assert time.monotonic() - frozen < takeover + 3  # not the client's 30 s
            count = len(calls)
            time.sleep(0.3)
            assert len(calls) <= count + 1
            started = time.monotonic()
            scheduler.stop(timeout=1.0)
            assert time.monotonic() - started < 2.0
        assert any("could not be renewed" in r.getMessage() for r in caplog.records)
    finally:
        server.resume()
        scheduler.stop()
        client.close()
        server.close()
