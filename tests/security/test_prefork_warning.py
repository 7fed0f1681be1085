"""The in-memory store warns once at start-up inside a pre-fork or multi-worker server."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.helpers import clean_environ, free_port, run_python

ROOT = Path(__file__).resolve().parents[2]
WARNING = "keeps its counts in memory"


def test_a_fork_after_creation_warns_once_in_the_child() -> None:
    """Created, then forked: the child warns; the parent (no server detected) does not."""
    result = run_python(
        """
        import os
        from watchkit.security import LoginMonitor
        monitor = LoginMonitor(name="login")
        pid = os.fork()
        if pid == 0:
            LoginMonitor(name="second")  # still once per process
            os._exit(0)
        os.waitpid(pid, 0)
        print("parent done")
        """
    )
    assert result.stderr.count(WARNING) == 1, result.stderr
    assert "LoginMonitor 'login'" in result.stderr
    assert "a child forked after it was created" in result.stderr
    assert "parent done" in result.stdout


def test_web_concurrency_warns_at_creation_but_not_for_redis() -> None:
    """WEB_CONCURRENCY > 1 is a multi-worker server; a Redis store never warns."""
    code = """
        from watchkit.security import LoginMonitor
        LoginMonitor(store={store!r})
        LoginMonitor(store={store!r}, name="admin")
        """
    memory = run_python(code.format(store="memory"), env={"WEB_CONCURRENCY": "4"})
    assert memory.stderr.count(WARNING) == 1
    assert "WEB_CONCURRENCY=4" in memory.stderr
    port = free_port()
    redis_store = run_python(
        code.format(store=f"redis://127.0.0.1:{port}/0"), env={"WEB_CONCURRENCY": "4"}
    )
    assert WARNING not in redis_store.stderr
    alone = run_python(code.format(store="memory"))
    assert WARNING not in alone.stderr


def _serve_and_collect(command: list[str], port: int) -> tuple[bool, str]:
    """Run a server until it answers and has printed two warnings (or 30 s): its output."""
    process = subprocess.Popen(
        command, cwd=ROOT, env=clean_environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(line.decode() for line in process.stdout))
    reader.start()
    answered = False
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not answered:
                with contextlib.suppress(httpx.HTTPError):
                    answered = httpx.get(f"http://127.0.0.1:{port}/", timeout=1).text == "ok"
            if answered and "".join(lines).count(WARNING) >= 2:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # a third warning, if there were one, would show up now
    finally:
        process.terminate()
        process.wait(30)
        reader.join(10)
        process.stdout.close()
    return answered, "".join(lines)


def test_gunicorn_workers_each_warn_once() -> None:
    """A real gunicorn with 2 workers importing the app: one warning per worker, naming gunicorn."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
        "tests.security.login_app:app",
    ]  # fmt: skip
    answered, output = _serve_and_collect(command, port)
    assert answered, output
    assert output.count(WARNING) == 2, output
    assert "runs in gunicorn" in output


def test_uvicorn_workers_each_warn_once() -> None:
    """A real uvicorn --workers 2 (spawned workers, no fork): one warning per worker."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--workers", "2", "--port", str(port),
        "tests.security.login_app:asgi_app",
    ]  # fmt: skip
    answered, output = _serve_and_collect(command, port)
    assert answered, output
    assert output.count(WARNING) == 2, output
    assert "runs in a uvicorn worker process" in output


def test_active_users_in_memory_warns_in_a_multi_worker_server() -> None:
    """Distinct counts in memory are per worker too: the same one warning."""
    result = run_python(
        """
        import watchkit
        watchkit.active_users("app")
        """,
        env={"WEB_CONCURRENCY": "2"},
    )
    assert result.stderr.count(WARNING) == 1
    assert "active_users('app')" in result.stderr


def test_a_child_forked_while_a_lock_is_held_still_records() -> None:
    """The memory stores' locks are renewed in the child (the fork registry): no deadlock."""
    result = run_python(
        """
        import os
        import signal
        import watchkit
        from watchkit.security import LoginMonitor
        monitor = LoginMonitor(max_failures=1)
        users = watchkit.active_users("app")
        monitor._store.lock.acquire()  # held at the fork, as by another thread
        users._memory.lock.acquire()
        pid = os.fork()
        if pid == 0:
            signal.alarm(10)  # a deadlocked child dies instead of lingering
            monitor.record(False, source_ip="192.0.2.1")
            alerted = monitor.record(False, source_ip="192.0.2.1")
            users.record("u1")
            os._exit(0 if alerted and users.count() == 1 else 3)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
        """,
        timeout=30,
    )
    assert "child exit 0" in result.stdout
